package folder

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hearth-pds/hearth/pds/errs"
)

// StateFile is the marker's name in the data folder.
const StateFile = "hearth.state"

// DatabaseFile is the database's name in the data folder.
const DatabaseFile = "hearth.db"

// State is what the folder knows about itself outside the database: enough
// to tell a first start from a database that went missing.
type State struct {
	// Accounts is how many accounts the database held when last counted
	// (at start-up, after an account is created or deleted).
	Accounts int `json:"accounts"`
	// Layout is the last file-mode repair that ran over the whole folder
	// (see Secure); 0 for none.
	Layout int `json:"layout"`
	// Clean is the database file as a clean stop left it (nil while a
	// process has it open, or after a crash): see DatabaseUnchanged.
	Clean *Fingerprint `json:"clean,omitempty"`
}

// Fingerprint identifies the database file's state on disk: its size and
// modification time, taken after a clean stop checkpointed the WAL.
type Fingerprint struct {
	Size    int64 `json:"size"`
	ModNano int64 `json:"modNano"`
}

// TakeFingerprint reads the database's fingerprint; ok is false when the
// file is missing or a WAL with content is beside it (a stop that did not
// checkpoint is not clean).
func TakeFingerprint(dir string) (Fingerprint, bool) {
	fi, err := os.Stat(filepath.Join(dir, DatabaseFile))
	if err != nil || fi.Size() == 0 {
		return Fingerprint{}, false
	}
	if w, err := os.Stat(filepath.Join(dir, DatabaseFile+"-wal")); err == nil && w.Size() > 0 {
		return Fingerprint{}, false
	}
	return Fingerprint{Size: fi.Size(), ModNano: fi.ModTime().UnixNano()}, true
}

// DatabaseUnchanged reports whether the database file is exactly as the
// last clean stop left it (same size and modification time, no WAL
// content): then the start may skip SQLite's full-file quick_check, which
// reads every page (seconds for a million records). Anything else — a
// crash, a file copied or edited, a restore — gets the full check.
func DatabaseUnchanged(dir string, st State) bool {
	if st.Clean == nil {
		return false
	}
	fp, ok := TakeFingerprint(dir)
	return ok && fp == *st.Clean
}

// ReadState reads the marker; a missing marker is the zero State (a new
// folder, or one from before the marker existed).
func ReadState(dir string) (State, error) {
	var st State
	path := filepath.Join(dir, StateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, errs.Wrap(errs.ErrDataDamaged, err,
			"%s is damaged (not valid JSON); it only records how many accounts the folder held: if %s is intact, delete %s and start again", path, filepath.Join(dir, DatabaseFile), path)
	}
	return st, nil
}

// WriteState replaces the marker atomically (temporary file, fsync,
// rename, fsync of the folder), mode 0600.
func WriteState(dir string, st State) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode %s: %w", StateFile, err)
	}
	return writeFileAtomic(dir, StateFile, append(b, '\n'))
}

func writeFileAtomic(dir, name string, b []byte) error {
	f, err := os.CreateTemp(dir, "."+name+"-*") // CreateTemp makes it 0600
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	tmp := f.Name()
	_, werr := f.Write(b)
	if werr == nil {
		werr = f.Sync()
	}
	if err := errors.Join(werr, f.Close()); err != nil {
		return errors.Join(fmt.Errorf("write %s: %w", name, err), os.Remove(tmp))
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return errors.Join(fmt.Errorf("write %s: %w", name, err), os.Remove(tmp))
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	serr := d.Sync()
	if err := errors.Join(serr, d.Close()); err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}

// CheckDatabase refuses a folder whose marker says it held accounts while
// its database is missing or empty: starting would silently serve an
// empty PDS (and a new first account would fork the user's identity).
func CheckDatabase(dir string, st State) error {
	if st.Accounts == 0 {
		return nil
	}
	path := filepath.Join(dir, DatabaseFile)
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return Damaged(dir, "the database %s is missing, but this folder held %d account(s)", path, st.Accounts)
	case err != nil:
		return fmt.Errorf("check database %s: %w", path, err)
	case fi.Size() == 0:
		return Damaged(dir, "the database %s is empty (0 bytes), but this folder held %d account(s)", path, st.Accounts)
	}
	return nil
}

// Damaged is the start-up refusal for data that is lost or broken: what is
// wrong, then what to do.
func Damaged(dir, format string, args ...any) error {
	return errs.New(errs.ErrDataDamaged,
		"Hearth will not start on %s: %s. Nothing was changed. Restore the folder from a backup (put the backed-up %s back at %s), or start Hearth on another data folder.",
		dir, fmt.Sprintf(format, args...), DatabaseFile, filepath.Join(dir, DatabaseFile))
}
