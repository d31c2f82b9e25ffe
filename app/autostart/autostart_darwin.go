//go:build darwin

package autostart

import (
	"fmt"
	"os"
	"path/filepath"
)

// The LaunchAgent: ~/Library/LaunchAgents/LABEL.plist, loaded by launchd at
// the next login (RunAtLoad).

func (e Entry) where() (string, error) {
	dir := e.Dir
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find your home folder: %w", err)
		}
		dir = filepath.Join(home, "Library", "LaunchAgents")
	}
	return filepath.Join(dir, e.Label+".plist"), nil
}

func (e Entry) enabled() (bool, error) { return fileEnabled(e.where()) }

func (e Entry) enable() error {
	path, err := e.where()
	if err != nil {
		return err
	}
	return writeFile(path, LaunchAgentPlist(e))
}

func (e Entry) disable() error { return removeFile(e.where()) }
