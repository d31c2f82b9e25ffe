package folder

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Layout is the current file-mode layout: a folder whose State.Layout is
// older gets one full walk (Secure) and is then only spot-checked.
const Layout = 1

// Modes of everything in a data folder: only its owner may read it (the
// database and key files hold private keys and session secrets).
const (
	DirMode  fs.FileMode = 0o700
	FileMode fs.FileMode = 0o600
)

// Secure gives the folder and what it holds owner-only modes. The top
// level (database, WAL, SHM, settings, markers, keys) is checked at every
// start; the whole tree (blobs can be many thousands of files) only when
// st.Layout is older than Layout, so the cost is paid once per folder. It
// returns st with Layout updated; the caller saves it. A new database file
// is created empty with FileMode so SQLite (which gives the WAL and SHM
// files the database's mode) never makes a world-readable one.
func Secure(dir string, st State) (State, error) {
	if err := chmodIfOff(dir, DirMode); err != nil {
		return st, err
	}
	db := filepath.Join(dir, DatabaseFile)
	f, err := os.OpenFile(db, os.O_RDWR|os.O_CREATE, FileMode)
	if err != nil {
		return st, fmt.Errorf("create database file %s: %w", db, err)
	}
	if err := f.Close(); err != nil {
		return st, fmt.Errorf("create database file %s: %w", db, err)
	}
	if st.Layout >= Layout {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return st, fmt.Errorf("read data folder %s: %w", dir, err)
		}
		for _, e := range entries {
			if e.IsDir() {
				continue // folders are walked once; new ones are made 0700
			}
			if err := fixMode(filepath.Join(dir, e.Name()), e); err != nil {
				return st, err
			}
		}
		return st, nil
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("secure data folder: %w", err)
		}
		return fixMode(path, d)
	})
	if err != nil {
		return st, err
	}
	st.Layout = Layout
	return st, nil
}

// fixMode gives a folder DirMode and a regular file FileMode when its
// mode is anything else; symlinks and other kinds are left alone.
func fixMode(path string, d fs.DirEntry) error {
	switch {
	case d.IsDir():
		return chmodIfOff(path, DirMode)
	case d.Type().IsRegular():
		return chmodIfOff(path, FileMode)
	}
	return nil
}

// chmodIfOff sets mode when the permission bits differ from it (a stat,
// and a chmod only when needed).
func chmodIfOff(path string, mode fs.FileMode) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // gone meanwhile (a temporary file)
	}
	if err != nil {
		return fmt.Errorf("check mode of %s: %w", path, err)
	}
	if fi.Mode().Perm() == mode {
		return nil
	}
	if err := os.Chmod(path, mode); err != nil {
		return fmt.Errorf("make %s private (mode %o): %w", path, mode, err)
	}
	return nil
}
