package errs

import (
	"errors"
	"syscall"
)

// SQLite's primary result codes for a full and a read-only database (an
// extended code keeps the primary one in its low byte).
const (
	sqliteReadOnly = 8
	sqliteFull     = 13
)

// FromDisk turns a failure to write because the disk is full or read-only
// (from the OS or from SQLite) into ErrDiskFull or ErrReadOnlyDisk with a
// message that tells the owner what to do, keeping err as the cause. Any
// other error is returned unchanged. Nothing is half-written in those
// cases: the write's transaction was rolled back, and writes work again
// once space returns.
func FromDisk(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) && (e.Kind == ErrDiskFull || e.Kind == ErrReadOnlyDisk) {
		return err
	}
	var coded interface{ Code() int }
	code := -1
	if errors.As(err, &coded) {
		code = coded.Code() & 0xff
	}
	switch {
	case code == sqliteFull || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT):
		return Wrap(ErrDiskFull, err, "the disk is full: nothing was saved; free some space on the disk that holds Hearth's data folder, then try again")
	case code == sqliteReadOnly || errors.Is(err, syscall.EROFS):
		return Wrap(ErrReadOnlyDisk, err, "Hearth's data folder is on a disk that is read-only now: nothing was saved")
	}
	return err
}
