package folder

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gofrs/flock"

	"github.com/hearth-pds/hearth/pds/errs"
)

// LockFile is the lock file's name in the data folder.
const LockFile = "hearth.lock"

// Lock is the exclusive hold of one data folder by this process.
type Lock struct {
	fl  *flock.Flock
	dir string
}

// Acquire takes the data folder's lock without waiting. When another
// process (or another engine in this one) holds it, the error is an
// errs.ErrFolderInUse that names the holder's pid. The lock is an OS lock
// (flock on Unix, LockFileEx on Windows): it goes away with the process,
// so a crash never leaves a stale lock behind.
func Acquire(dir string) (*Lock, error) {
	path := filepath.Join(dir, LockFile)
	fl := flock.New(path, flock.SetPermissions(0o600))
	ok, err := fl.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock data folder %s: %w", dir, err)
	}
	if !ok {
		return nil, inUse(dir, holderPID(path))
	}
	// Record who holds it. The file is rewritten in place (not renamed):
	// the lock belongs to this inode.
	if err := writePID(path); err != nil {
		return nil, errors.Join(fmt.Errorf("record pid in %s: %w", path, err), fl.Unlock())
	}
	return &Lock{fl: fl, dir: dir}, nil
}

func writePID(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(strconv.Itoa(os.Getpid()) + "\n"); err != nil {
		return errors.Join(err, f.Close())
	}
	return errors.Join(f.Sync(), f.Close())
}

// holderPID reads the pid the holder wrote (0 if unknown).
func holderPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return pid
}

func inUse(dir string, pid int) error {
	who := "another Hearth process"
	if pid > 0 {
		who = fmt.Sprintf("another Hearth process (pid %d)", pid)
	}
	return errs.New(errs.ErrFolderInUse, "data folder %s is in use by %s; stop it first", dir, who)
}

// Release gives the folder up. The file stays (removing it would let a
// third process lock a new inode while a second still holds the old one).
func (l *Lock) Release() error {
	if l == nil || l.fl == nil {
		return nil
	}
	err := l.fl.Unlock()
	l.fl = nil
	if err != nil {
		return fmt.Errorf("unlock data folder %s: %w", l.dir, err)
	}
	return nil
}
