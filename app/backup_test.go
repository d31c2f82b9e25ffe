package app

import (
	"archive/zip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"net/http/httptest"

	"github.com/hearth-pds/hearth/internal/plcdir"
)

// memKeyring stands in for the OS keyring (tests never touch the real
// one); down makes it fail as a missing or locked keyring does.
type memKeyring struct {
	mu   sync.Mutex
	m    map[string]string
	down bool
}

func (k *memKeyring) Get(svc, user string) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.down {
		return "", errors.New("no keyring on this session bus")
	}
	s, ok := k.m[svc+"/"+user]
	if !ok {
		return "", errors.New("secret not found in keyring")
	}
	return s, nil
}

func (k *memKeyring) Set(svc, user, secret string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.down {
		return errors.New("no keyring on this session bus")
	}
	k.m[svc+"/"+user] = secret
	return nil
}

// startAppWithKeyring is startApp with a keyring of the test's own.
func startAppWithKeyring(t *testing.T, kr *memKeyring) (*App, *fakeUI) {
	t.Helper()
	plc := httptest.NewServer(plcdir.New())
	t.Cleanup(plc.Close)
	a := New(Config{DataDir: filepath.Join(t.TempDir(), "data"), PLCURL: plc.URL, KeyStore: "file", Keyring: kr})
	ui := &fakeUI{}
	if err := Start(context.Background(), a, ui); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Shutdown(context.Background(), a) })
	return a, ui
}

func backupFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// Scheduling needs a passphrase kept in the keyring and a folder; "Back
// up now" writes into the folder with progress and the status shows the
// last good backup; the schedule runs when due and keeps the newest N.
func TestBackUpNowAndSchedule(t *testing.T) {
	kr := &memKeyring{m: map[string]string{}}
	a, ui := startAppWithKeyring(t, kr)
	if _, err := a.CreateAccount("me.test", "password123", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Post(PostInput{Text: "keep me"}); err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(t.TempDir(), "backups")
	info, err := a.BackupSettings()
	if err != nil || info.Enabled || info.HasPassphrase || info.EveryHours != 24 || info.Keep != 7 || info.LastGood != "" {
		t.Fatalf("defaults: %+v %v", info, err)
	}
	for _, tc := range []struct {
		name string
		in   BackupSchedule
		want string
	}{
		{"no passphrase yet", BackupSchedule{Enabled: true, Folder: folder}, "passphrase first"},
		{"no folder", BackupSchedule{Enabled: true}, "pick a folder"},
		{"relative folder", BackupSchedule{Enabled: true, Folder: "backups"}, "full path"},
	} {
		if _, err := a.SetBackupSchedule(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := a.SetBackupPassphrase("short"); err == nil {
		t.Fatal("a short passphrase was accepted")
	}
	if _, err := a.SetBackupPassphrase("a long backup passphrase"); err != nil {
		t.Fatal(err)
	}
	info, err = a.SetBackupSchedule(BackupSchedule{Enabled: true, Folder: folder, Keep: 2})
	if err != nil || !info.Enabled || !info.HasPassphrase || info.Keep != 2 || info.EveryHours != 24 {
		t.Fatalf("schedule: %+v %v", info, err)
	}
	for _, b := range []string{"backup.json"} {
		raw, err := os.ReadFile(filepath.Join(a.dir(), b))
		if err != nil || strings.Contains(string(raw), "a long backup passphrase") {
			t.Fatalf("%s holds the passphrase in plain form (or is unreadable: %v)", b, err)
		}
	}

	res, err := a.BackUpNow("", "")
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(res.Path) != folder || res.Records != 1 || res.Bytes == 0 {
		t.Fatalf("back up now: %+v", res)
	}
	sawProgress := false
	for _, p := range ui.progress {
		sawProgress = sawProgress || p.Job == "backup"
	}
	if !sawProgress {
		t.Fatal("no progress events for the backup")
	}
	info, err = a.BackupSettings()
	if err != nil || info.LastGood == "" || info.LastGoodFile != res.Path || info.LastError != "" {
		t.Fatalf("after a backup: %+v %v", info, err)
	}
	// Not due yet: nothing happens. A day later: a backup, and the oldest
	// beyond two is removed.
	a.scheduledBackup(time.Now())
	if n := len(backupFiles(t, folder)); n != 1 {
		t.Fatalf("%d backups after a check that was not due", n)
	}
	for i := 1; i <= 2; i++ {
		a.scheduledBackup(time.Now().Add(time.Duration(i) * 25 * time.Hour))
	}
	names := backupFiles(t, folder)
	if len(names) != 2 || names[0] == filepath.Base(res.Path) {
		t.Fatalf("after two scheduled backups with keep 2: %v", names)
	}
	// A keyring that stops answering: the scheduled backup fails, says why,
	// and waits an hour before trying again.
	kr.mu.Lock()
	kr.down = true
	kr.mu.Unlock()
	later := time.Now().Add(100 * time.Hour)
	a.scheduledBackup(later)
	info, _ = a.BackupSettings()
	if !strings.Contains(info.LastError, "keyring") {
		t.Fatalf("failed scheduled backup: %+v", info)
	}
	if due, _ := time.Parse(time.RFC3339, info.NextDue); due.Before(later.Add(59 * time.Minute)) {
		t.Fatalf("retry due %s, failure at %s", info.NextDue, later)
	}
}

// Without a keyring the passphrase cannot be kept, so nothing can be
// scheduled; Back up now with a typed passphrase still works.
func TestBackupWithoutKeyring(t *testing.T) {
	a, ui := startAppWithKeyring(t, &memKeyring{m: map[string]string{}, down: true})
	if _, err := a.CreateAccount("me.test", "password123", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SetBackupPassphrase("a long backup passphrase"); err == nil || !strings.Contains(err.Error(), "cannot be scheduled") {
		t.Fatalf("passphrase without a keyring: %v", err)
	}
	if _, err := a.SetBackupSchedule(BackupSchedule{Enabled: true, Folder: t.TempDir()}); err == nil {
		t.Fatal("scheduled without a passphrase")
	}
	if _, err := a.BackUpNow("", ""); err == nil || !strings.Contains(err.Error(), "type one") {
		t.Fatalf("back up now without a passphrase: %v", err)
	}
	ui.save = filepath.Join(t.TempDir(), "mine.age")
	res, err := a.BackUpNow("typed passphrase 123", "")
	if err != nil || res.Path != ui.save {
		t.Fatalf("back up now to a picked file: %+v %v", res, err)
	}
	// Or into a folder typed in the window.
	typed := filepath.Join(t.TempDir(), "typed")
	if res, err = a.BackUpNow("typed passphrase 123", typed); err != nil || filepath.Dir(res.Path) != typed {
		t.Fatalf("back up now into a typed folder: %+v %v", res, err)
	}
	if _, err := a.BackUpNow("typed passphrase 123", "relative/folder"); err == nil {
		t.Fatal("a relative folder was accepted")
	}
	if info, _ := a.BackupSettings(); info.LastGoodFile != res.Path || info.Enabled {
		t.Fatalf("after backing up without a schedule: %+v", info)
	}
}

// "Restore from a backup" on first run: a wrong passphrase changes
// nothing; the right one brings the account back with the same head and
// the window works on it; a folder with an account refuses.
func TestRestoreBackupOnFirstRun(t *testing.T) {
	kr := &memKeyring{m: map[string]string{}}
	old, oui := startAppWithKeyring(t, kr)
	acc, err := old.CreateAccount("me.test", "password123", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Post(PostInput{Text: "before the laptop died"}); err != nil {
		t.Fatal(err)
	}
	head, err := old.CurrentCommit()
	if err != nil {
		t.Fatal(err)
	}
	oui.save = filepath.Join(t.TempDir(), "laptop.age")
	if _, err := old.BackUpNow("restore passphrase", ""); err != nil {
		t.Fatal(err)
	}

	fresh, ui := startAppWithKeyring(t, kr)
	dir := fresh.dir()
	if _, err := fresh.RestoreBackup(oui.save, "not the passphrase"); err == nil || !strings.Contains(err.Error(), "wrong passphrase") {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if a, err := fresh.Account(); err != nil || a != nil {
		t.Fatalf("after a failed restore: %+v %v", a, err)
	}
	ui.open = oui.save // picked in the dialog
	got, err := fresh.RestoreBackup("", "restore passphrase")
	if err != nil {
		t.Fatal(err)
	}
	if got.DID != acc.DID || fresh.dir() != dir {
		t.Fatalf("restored %+v into %s", got, fresh.dir())
	}
	c, err := fresh.CurrentCommit()
	if err != nil || c.CID != head.CID || c.SigningKey != head.SigningKey {
		t.Fatalf("restored head %+v, was %+v (%v)", c, head, err)
	}
	if _, err := fresh.Post(PostInput{Text: "on the new laptop"}); err != nil {
		t.Fatal(err)
	}
	left, _ := os.ReadDir(filepath.Dir(dir))
	if len(left) != 1 {
		t.Fatalf("beside the data folder: %v", left)
	}
	if _, err := fresh.RestoreBackup(oui.save, "restore passphrase"); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Fatalf("restore over an account: %v", err)
	}
}

// "Export everything for leaving Hearth" writes the portable zip.
func TestExportEverything(t *testing.T) {
	a, ui := startApp(t)
	acc, err := a.CreateAccount("me.test", "password123", "")
	if err != nil {
		t.Fatal(err)
	}
	ui.save = filepath.Join(t.TempDir(), "leaving") // .zip is added
	path, err := a.ExportEverything()
	if err != nil || path != ui.save+".zip" {
		t.Fatalf("export: %q %v", path, err)
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = zr.Close() }()
	want := map[string]bool{"README.txt": false}
	for _, n := range []string{"repo.car", "preferences.json", "plc-audit-log.json", "RECOVERY-KEY.txt"} {
		want[strings.ReplaceAll(acc.DID, ":", "_")+"/"+n] = false
	}
	for _, f := range zr.File {
		if _, ok := want[f.Name]; ok {
			want[f.Name] = true
		}
	}
	for n, ok := range want {
		if !ok {
			t.Fatalf("%s missing from the export", n)
		}
	}
}
