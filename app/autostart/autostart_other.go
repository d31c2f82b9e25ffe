//go:build !linux && !freebsd && !openbsd && !netbsd && !dragonfly && !darwin && !windows

package autostart

func (e Entry) where() (string, error) { return "", ErrUnsupported }

func (e Entry) enabled() (bool, error) { return false, ErrUnsupported }

func (e Entry) enable() error { return ErrUnsupported }

func (e Entry) disable() error { return ErrUnsupported }
