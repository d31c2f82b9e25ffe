//go:build windows

package autostart

import (
	"errors"
	"fmt"

	"golang.org/x/sys/windows/registry"
)

// The Run value: HKCU\Software\Microsoft\Windows\CurrentVersion\Run\NAME.

const runKey = `Software\Microsoft\Windows\CurrentVersion\Run`

func (e Entry) where() (string, error) {
	return `HKEY_CURRENT_USER\` + runKey + `\` + e.Name, nil
}

func (e Entry) enabled() (bool, error) {
	k, err := registry.OpenKey(registry.CURRENT_USER, runKey, registry.QUERY_VALUE)
	if errors.Is(err, registry.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open the Run key: %w", err)
	}
	defer k.Close()
	_, _, err = k.GetStringValue(e.Name)
	if errors.Is(err, registry.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read the Run value %s: %w", e.Name, err)
	}
	return true, nil
}

func (e Entry) enable() error {
	k, _, err := registry.CreateKey(registry.CURRENT_USER, runKey, registry.SET_VALUE)
	if err != nil {
		return fmt.Errorf("open the Run key: %w", err)
	}
	defer k.Close()
	if err := k.SetStringValue(e.Name, RunValue(e)); err != nil {
		return fmt.Errorf("set the Run value %s: %w", e.Name, err)
	}
	return nil
}

func (e Entry) disable() error {
	k, err := registry.OpenKey(registry.CURRENT_USER, runKey, registry.SET_VALUE)
	if errors.Is(err, registry.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open the Run key: %w", err)
	}
	defer k.Close()
	if err := k.DeleteValue(e.Name); err != nil && !errors.Is(err, registry.ErrNotExist) {
		return fmt.Errorf("remove the Run value %s: %w", e.Name, err)
	}
	return nil
}
