package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hearth-pds/hearth/pds/backup"
	"github.com/hearth-pds/hearth/pds/folder"
	"github.com/hearth-pds/hearth/pds/secrets"
)

// Scheduled backups. Their settings live in backup.json in the data folder
// (not in backups: they name a folder on this machine). The passphrase is
// kept in the OS keyring (service "hearth", an entry named in backup.json),
// never in a file: without a keyring, backups cannot be scheduled and
// "Back up now" asks for the passphrase each time.

const (
	backupSettingsFile = "backup.json"
	backupPrefix       = "hearth-backup-"
	backupSuffix       = ".age"
	keyringService     = "hearth"
	// minPassphrase is the shortest passphrase accepted for backups.
	minPassphrase = 8
	// retryAfter is how long a failed scheduled backup waits before the
	// next try.
	retryAfter = time.Hour
)

// Defaults of the schedule.
const (
	DefaultBackupEveryHours = 24
	DefaultBackupKeep       = 7
)

type backupSettings struct {
	Enabled         bool      `json:"enabled"`
	Folder          string    `json:"folder,omitempty"`
	EveryHours      int       `json:"everyHours,omitempty"`
	Keep            int       `json:"keep,omitempty"`
	PassphraseEntry string    `json:"passphraseEntry,omitempty"`
	LastGood        time.Time `json:"lastGood,omitzero"`
	LastGoodFile    string    `json:"lastGoodFile,omitempty"`
	LastTried       time.Time `json:"lastTried,omitzero"`
	LastError       string    `json:"lastError,omitempty"`
}

func (s *backupSettings) defaults() {
	if s.EveryHours <= 0 {
		s.EveryHours = DefaultBackupEveryHours
	}
	if s.Keep <= 0 {
		s.Keep = DefaultBackupKeep
	}
}

// backups is the app's backup state: one job at a time, the scheduler.
type backups struct {
	mu      sync.Mutex // one backup, restore or settings change at a time
	stop    chan struct{}
	stopped chan struct{}
}

func loadBackupSettings(dir string) (backupSettings, error) {
	var s backupSettings
	b, err := os.ReadFile(filepath.Join(dir, backupSettingsFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return s, fmt.Errorf("read backup settings: %w", err)
	}
	if err == nil {
		if err := json.Unmarshal(b, &s); err != nil {
			return s, fmt.Errorf("backup settings %s are not valid JSON: %w", filepath.Join(dir, backupSettingsFile), err)
		}
	}
	s.defaults()
	return s, nil
}

func saveBackupSettings(dir string, s backupSettings) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode backup settings: %w", err)
	}
	path := filepath.Join(dir, backupSettingsFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, folder.FileMode); err != nil {
		return fmt.Errorf("save backup settings: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return errors.Join(fmt.Errorf("save backup settings: %w", err), os.Remove(tmp))
	}
	return nil
}

func (a *App) keyring() secrets.Keyring {
	if a.cfg.Keyring != nil {
		return a.cfg.Keyring
	}
	return secrets.OSKeyring{}
}

// BackupInfo is the backup panel: the schedule and how the last one went.
type BackupInfo struct {
	Enabled       bool   `json:"enabled"`
	Folder        string `json:"folder"`
	EveryHours    int    `json:"everyHours"`
	Keep          int    `json:"keep"`
	HasPassphrase bool   `json:"hasPassphrase"`
	// LastGood is when the last backup that completed was taken (RFC
	// 3339, "" for never), LastGoodFile where it went.
	LastGood     string `json:"lastGood"`
	LastGoodFile string `json:"lastGoodFile"`
	// LastError is why the last attempt failed ("" if it did not).
	LastError string `json:"lastError"`
	// NextDue is when the next scheduled backup runs ("" if none).
	NextDue string `json:"nextDue"`
	Running bool   `json:"running"`
}

func (a *App) backupInfo(s backupSettings) *BackupInfo {
	info := &BackupInfo{Enabled: s.Enabled, Folder: s.Folder, EveryHours: s.EveryHours, Keep: s.Keep,
		HasPassphrase: s.PassphraseEntry != "", LastGoodFile: s.LastGoodFile, LastError: s.LastError}
	if !s.LastGood.IsZero() {
		info.LastGood = s.LastGood.Format(time.RFC3339)
	}
	if s.Enabled {
		info.NextDue = nextDue(s).Format(time.RFC3339)
	}
	if a.bk.mu.TryLock() {
		a.bk.mu.Unlock()
	} else {
		info.Running = true
	}
	return info
}

// nextDue is when the schedule next wants a backup: a period after the
// last good one, or an hour after a failed try.
func nextDue(s backupSettings) time.Time {
	due := s.LastGood.Add(time.Duration(s.EveryHours) * time.Hour)
	if s.LastTried.After(s.LastGood) && s.LastError != "" {
		if retry := s.LastTried.Add(retryAfter); retry.After(due) {
			due = retry
		}
	}
	return due
}

// BackupSettings returns the schedule and the last backup's outcome (the
// status screen shows the time of the last good one).
func (a *App) BackupSettings() (*BackupInfo, error) {
	dir := a.dir()
	if dir == "" {
		return nil, errNotRunning
	}
	s, err := loadBackupSettings(dir)
	if err != nil {
		return nil, err
	}
	return a.backupInfo(s), nil
}

// SetBackupPassphrase keeps the passphrase for scheduled backups in the OS
// keyring. Without a keyring it fails, and backups cannot be scheduled.
func (a *App) SetBackupPassphrase(passphrase string) (*BackupInfo, error) {
	if len([]rune(passphrase)) < minPassphrase {
		return nil, fmt.Errorf("choose a passphrase of %d characters or more", minPassphrase)
	}
	dir := a.dir()
	if dir == "" {
		return nil, errNotRunning
	}
	a.bk.mu.Lock()
	defer a.bk.mu.Unlock()
	s, err := loadBackupSettings(dir)
	if err != nil {
		return nil, err
	}
	entry := s.PassphraseEntry
	if entry == "" {
		id := make([]byte, 12)
		if _, err := rand.Read(id); err != nil {
			return nil, fmt.Errorf("name the keyring entry: %w", err)
		}
		entry = "backup-passphrase-" + hex.EncodeToString(id)
	}
	if err := a.keyring().Set(keyringService, entry, passphrase); err != nil {
		return nil, fmt.Errorf("the OS keyring cannot keep the backup passphrase (%v), so backups cannot be scheduled on this machine; \"Back up now\" still works and asks for the passphrase each time", err)
	}
	s.PassphraseEntry = entry
	if err := saveBackupSettings(dir, s); err != nil {
		return nil, err
	}
	return a.backupInfo(s), nil
}

// BackupSchedule is what the user sets for scheduled backups.
type BackupSchedule struct {
	Enabled    bool   `json:"enabled"`
	Folder     string `json:"folder"`
	EveryHours int    `json:"everyHours"`
	Keep       int    `json:"keep"`
}

// SetBackupSchedule saves the schedule. Switching it on needs a folder and
// a passphrase kept in the OS keyring (SetBackupPassphrase).
func (a *App) SetBackupSchedule(in BackupSchedule) (*BackupInfo, error) {
	dir := a.dir()
	if dir == "" {
		return nil, errNotRunning
	}
	if in.EveryHours < 0 || in.Keep < 0 {
		return nil, errors.New("the interval and the number of backups to keep cannot be negative")
	}
	folderPath := strings.TrimSpace(in.Folder)
	if folderPath != "" && !filepath.IsAbs(folderPath) {
		return nil, fmt.Errorf("give the backup folder as a full path (%q is relative)", folderPath)
	}
	a.bk.mu.Lock()
	defer a.bk.mu.Unlock()
	s, err := loadBackupSettings(dir)
	if err != nil {
		return nil, err
	}
	if in.Enabled {
		if folderPath == "" {
			return nil, errors.New("pick a folder for the backups first")
		}
		if s.PassphraseEntry == "" {
			return nil, errors.New("choose a backup passphrase first: scheduled backups need it kept in the OS keyring")
		}
		if _, err := a.keyring().Get(keyringService, s.PassphraseEntry); err != nil {
			return nil, fmt.Errorf("the backup passphrase cannot be read from the OS keyring (%v): set it again", err)
		}
		if err := os.MkdirAll(folderPath, folder.DirMode); err != nil {
			return nil, fmt.Errorf("create the backup folder: %w", err)
		}
		if filepath.Clean(folderPath) == filepath.Clean(dir) {
			return nil, errors.New("keep backups outside the data folder (a backup beside the data is lost with it)")
		}
	}
	s.Enabled, s.Folder, s.EveryHours, s.Keep = in.Enabled, folderPath, in.EveryHours, in.Keep
	s.defaults()
	if err := saveBackupSettings(dir, s); err != nil {
		return nil, err
	}
	return a.backupInfo(s), nil
}

// ChooseBackupFolder asks for a folder with a native dialog when the
// window offers one; "" when it does not or the user cancels (the window
// then takes a typed path).
func (a *App) ChooseBackupFolder() (string, error) {
	a.mu.Lock()
	ui := a.ui
	a.mu.Unlock()
	if p, ok := ui.(interface {
		OpenDirectory(title string) (string, error)
	}); ok {
		return p.OpenDirectory("Folder for Hearth's backups")
	}
	return "", nil
}

// BackupResult is one finished backup.
type BackupResult struct {
	Path     string `json:"path"`
	Bytes    int64  `json:"bytes"`
	Records  int    `json:"records"`
	Blobs    int    `json:"blobs"`
	TakenAt  string `json:"takenAt"`
	Removed  int    `json:"removed"` // older backups removed to keep N
	Duration string `json:"duration"`
}

// BackUpNow makes a backup at once: into folderPath when given (a full
// path), else the scheduled backups' folder when one is set, else to a
// file the user picks; with the given passphrase or, when it is "", the
// one kept in the OS keyring. Progress goes out as "progress" events (job
// "backup"). Returns nil when the user cancels.
func (a *App) BackUpNow(passphrase, folderPath string) (*BackupResult, error) {
	dir := a.dir()
	if dir == "" {
		return nil, errNotRunning
	}
	s, err := loadBackupSettings(dir)
	if err != nil {
		return nil, err
	}
	if passphrase == "" {
		if passphrase, err = a.storedPassphrase(s); err != nil {
			return nil, err
		}
	} else if len([]rune(passphrase)) < minPassphrase {
		return nil, fmt.Errorf("choose a passphrase of %d characters or more", minPassphrase)
	}
	folderPath = strings.TrimSpace(folderPath)
	if folderPath == "" {
		folderPath = s.Folder
	} else if !filepath.IsAbs(folderPath) {
		return nil, fmt.Errorf("give the backup folder as a full path (%q is relative)", folderPath)
	} else if err := os.MkdirAll(folderPath, folder.DirMode); err != nil {
		return nil, fmt.Errorf("create the backup folder: %w", err)
	}
	var path string
	if folderPath == "" {
		if path, err = a.savePath("Save a backup of your Hearth", backupName(time.Now())); err != nil || path == "" {
			return nil, err
		}
	}
	return a.runBackup(bg, dir, folderPath, path, passphrase, s.Keep)
}

func (a *App) storedPassphrase(s backupSettings) (string, error) {
	if s.PassphraseEntry == "" {
		return "", errors.New("no backup passphrase is kept on this machine: type one")
	}
	p, err := a.keyring().Get(keyringService, s.PassphraseEntry)
	if err != nil {
		return "", fmt.Errorf("the backup passphrase cannot be read from the OS keyring (%v): type it, or set it again", err)
	}
	return p, nil
}

func backupName(t time.Time) string {
	return backupPrefix + t.UTC().Format("2006-01-02T15-04-05.000Z") + backupSuffix
}

// runBackup writes one backup (to path, or a new file in folder), records
// the outcome in backup.json and, in a folder, keeps the newest keep.
func (a *App) runBackup(ctx context.Context, dir, folderPath, path, passphrase string, keep int) (*BackupResult, error) {
	if !a.bk.mu.TryLock() {
		return nil, errors.New("a backup is already running")
	}
	defer a.bk.mu.Unlock()
	start := time.Now()
	if path == "" {
		path = filepath.Join(folderPath, backupName(start))
	}
	m, size, err := backup.CreateFile(ctx, backup.Options{DataDir: dir, Passphrase: passphrase, Progress: func(p backup.Progress) {
		a.emit("progress", Progress{Job: "backup", Phase: p.Phase, Done: p.Done, Total: p.Total})
	}}, path)
	s, lerr := loadBackupSettings(dir)
	if lerr != nil {
		return nil, errors.Join(err, lerr)
	}
	s.LastTried = start
	if err != nil {
		s.LastError = err.Error()
		a.log.Error("backup failed", "err", err)
		return nil, errors.Join(err, saveBackupSettings(dir, s))
	}
	s.LastGood, s.LastGoodFile, s.LastError = m.CreatedAt, path, ""
	res := &BackupResult{Path: path, Bytes: size, Blobs: m.Blobs, TakenAt: m.CreatedAt.Format(time.RFC3339), Duration: time.Since(start).Round(time.Millisecond).String()}
	for _, acc := range m.Accounts {
		res.Records += acc.Records
	}
	if folderPath != "" {
		if res.Removed, err = pruneBackups(folderPath, keep); err != nil {
			a.log.Warn("removing old backups", "err", err)
		}
	}
	a.log.Info("backup written", "path", path, "bytes", size, "took", res.Duration)
	return res, saveBackupSettings(dir, s)
}

// pruneBackups removes the oldest of Hearth's backups in folder beyond
// the newest keep (only files named as Hearth names them).
func pruneBackups(folderPath string, keep int) (int, error) {
	entries, err := os.ReadDir(folderPath)
	if err != nil {
		return 0, fmt.Errorf("list backups: %w", err)
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); e.Type().IsRegular() && strings.HasPrefix(n, backupPrefix) && strings.HasSuffix(n, backupSuffix) {
			names = append(names, n)
		}
	}
	sort.Strings(names) // the names sort by time
	removed := 0
	var errs []error
	for len(names)-removed > keep {
		if err := os.Remove(filepath.Join(folderPath, names[removed])); err != nil {
			errs = append(errs, err)
		}
		removed++
	}
	return removed, errors.Join(errs...)
}

// scheduledBackup runs a backup if the schedule says one is due at now.
func (a *App) scheduledBackup(now time.Time) {
	dir := a.dir()
	if dir == "" {
		return
	}
	s, err := loadBackupSettings(dir)
	if err != nil || !s.Enabled || now.Before(nextDue(s)) {
		return
	}
	pass, err := a.storedPassphrase(s)
	if err != nil {
		s.LastTried, s.LastError = now, err.Error()
		if err := saveBackupSettings(dir, s); err != nil {
			a.log.Warn("save backup settings", "err", err)
		}
		return
	}
	if _, err := a.runBackup(bg, dir, s.Folder, "", pass, s.Keep); err != nil {
		a.emit("backupFailed", err.Error())
		return
	}
	a.emit("backupDone", nil)
}

// startBackups starts the scheduler (checks once a minute).
func (a *App) startBackups() {
	stop, stopped := make(chan struct{}), make(chan struct{})
	a.mu.Lock()
	a.bk.stop, a.bk.stopped = stop, stopped
	a.mu.Unlock()
	go func() {
		defer close(stopped)
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-t.C:
				a.scheduledBackup(now)
			}
		}
	}()
}

// stopBackups stops the scheduler and waits for a running backup.
func (a *App) stopBackups() {
	a.mu.Lock()
	stop, stopped := a.bk.stop, a.bk.stopped
	a.bk.stop, a.bk.stopped = nil, nil
	a.mu.Unlock()
	if stop != nil {
		close(stop)
		<-stopped
	}
}

// RestoreBackup restores a backup (the file at path, or one picked with a
// dialog when path is "") into this window's data folder, which must hold
// no account yet (first run). The backup is unpacked and verified beside
// the folder first; only then is the empty folder replaced and the engine
// reopened on the restored data. Returns nil when the user cancels.
func (a *App) RestoreBackup(path, passphrase string) (*AccountInfo, error) {
	if path == "" {
		p, err := a.openPath("Restore from a Hearth backup", "*"+backupSuffix)
		if err != nil || p == "" {
			return nil, err
		}
		path = p
	}
	e, err := a.eng()
	if err != nil {
		return nil, err
	}
	accs, err := e.Accounts.List(bg)
	if err != nil {
		return nil, err
	}
	dir := a.dir()
	if len(accs) > 0 {
		return nil, fmt.Errorf("%s already holds the account %s: a backup is restored only into a folder without one (open a new data folder first)", dir, accs[0].Handle)
	}
	a.bk.mu.Lock()
	defer a.bk.mu.Unlock()
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open the backup: %w", err)
	}
	defer a.closeRead("backup file", f)
	stamp := time.Now().UTC().Format("20060102T150405")
	restored := dir + ".restored-" + stamp
	_, err = backup.Restore(bg, f, backup.RestoreOptions{DataDir: restored, Passphrase: passphrase, KeyStore: a.cfg.KeyStore, Logger: a.log,
		Progress: func(p backup.Progress) {
			a.emit("progress", Progress{Job: "restore", Phase: p.Phase, Done: p.Done, Total: p.Total})
		}})
	if err != nil {
		return nil, err
	}
	// Swap the empty folder for the restored one and reopen.
	a.stop(bg)
	aside := dir + ".replaced-" + stamp
	if err := os.Rename(dir, aside); err != nil {
		return nil, a.reopenAfter(dir, fmt.Errorf("move the empty data folder aside: %w (the restored data is at %s)", err, restored))
	}
	if err := os.Rename(restored, dir); err != nil {
		return nil, a.reopenAfter(dir, errors.Join(fmt.Errorf("move the restored data into place: %w (it is at %s)", err, restored), os.Rename(aside, dir)))
	}
	if err := a.reopenAfter(dir, nil); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(aside); err != nil { // it held no account
		a.log.Warn("remove the replaced empty data folder", "path", aside, "err", err)
	}
	return a.Account()
}

// reopenAfter opens the engine on dir again after cause (nil: a success)
// and returns cause joined with any failure to reopen.
func (a *App) reopenAfter(dir string, cause error) error {
	err := a.open(bg, dir)
	a.mu.Lock()
	a.openErr = err
	a.mu.Unlock()
	return errors.Join(cause, err)
}

// ExportEverything writes the portable export for leaving Hearth (a zip
// the user picks: repo CAR, blobs, preferences, PLC log, recovery key).
// Returns the path ("" if cancelled).
func (a *App) ExportEverything() (string, error) {
	e, err := a.eng()
	if err != nil {
		return "", err
	}
	path, err := a.savePath("Export everything for leaving Hearth", "hearth-export-"+time.Now().Format("2006-01-02")+".zip")
	if err != nil || path == "" {
		return "", err
	}
	if !strings.EqualFold(filepath.Ext(path), ".zip") {
		path += ".zip"
	}
	if _, err := backup.Export(bg, e, path, func(p backup.Progress) {
		a.emit("progress", Progress{Job: "exportAll", Phase: p.Phase, Done: p.Done, Total: p.Total})
	}); err != nil {
		return "", err
	}
	return path, nil
}
