//go:build linux || freebsd || openbsd || netbsd || dragonfly

package autostart

import (
	"fmt"
	"os"
	"path/filepath"
)

// The XDG autostart entry: $XDG_CONFIG_HOME/autostart/NAME.desktop.

func (e Entry) where() (string, error) {
	dir := e.Dir
	if dir == "" {
		base := os.Getenv("XDG_CONFIG_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("find your home folder: %w", err)
			}
			base = filepath.Join(home, ".config")
		}
		dir = filepath.Join(base, "autostart")
	}
	return filepath.Join(dir, e.Name+".desktop"), nil
}

func (e Entry) enabled() (bool, error) { return fileEnabled(e.where()) }

func (e Entry) enable() error {
	path, err := e.where()
	if err != nil {
		return err
	}
	return writeFile(path, []byte(DesktopEntry(e)))
}

func (e Entry) disable() error { return removeFile(e.where()) }
