package app

// Closing the window while publishing: the PDS never goes offline without
// the person knowing. main.go wires BeforeClose to Wails' OnBeforeClose;
// when publishing is on it keeps the app running and asks the window
// ("close-requested"), whose dialog answers with KeepServingInBackground or
// StopAndQuit. The app menu's Quit (Quit) and StopAndQuit really quit.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path/filepath"
)

var errNoWindow = errors.New("no window to hide or close")

// Window is the native window's part of the UI: hide it, show it again,
// quit the app. The Wails runtime implements it in main.go; a UI without
// it cannot keep serving with the window closed, so closing always quits.
type Window interface {
	HideWindow()
	ShowWindow()
	Quit()
}

// CloseRequestedEvent is the event the window gets when it was closed
// while publishing: it asks whether to keep serving in the background.
const CloseRequestedEvent = "close-requested"

// CloseRequest is the "close-requested" event's data.
type CloseRequest struct {
	PublicURL string `json:"publicURL"` // where the PDS is reachable now ("" while the tunnel connects)
}

func (a *App) window() Window {
	a.mu.Lock()
	defer a.mu.Unlock()
	w, _ := a.ui.(Window)
	return w
}

// BeforeClose decides what closing the window does (Wails' OnBeforeClose:
// true keeps the app running). Not publishing, or quitting on purpose
// (StopAndQuit, the menu's Quit): the app closes and the PDS stops, as
// before. Publishing: the app stays, and the window is asked to show the
// choice (keep serving in the background, or stop and quit). (A function,
// not a method, so Wails does not bind it.)
func BeforeClose(a *App) (prevent bool) {
	a.mu.Lock()
	quitting, p := a.quitting, a.pub
	a.mu.Unlock()
	if quitting || p == nil || a.window() == nil {
		return false
	}
	req := CloseRequest{}
	if st := p.mgr.Status(); st.URL != "" {
		req.PublicURL = st.URL
	}
	a.log.Info("window closed while publishing: asking whether to keep serving")
	// The close may come from outside the window (the dock's Quit on
	// macOS while the window is hidden): show it, so the question is seen.
	a.window().ShowWindow()
	a.emit(CloseRequestedEvent, req)
	return true
}

// KeepServingInBackground hides the window; the PDS, its tunnel and the
// relays' crawling keep running. Running hearth again (same data folder)
// shows the window; the app menu's Quit stops everything.
func (a *App) KeepServingInBackground() error {
	w := a.window()
	if w == nil {
		return errNoWindow
	}
	a.log.Info("window hidden: the PDS keeps serving in the background (run hearth again to show the window)")
	w.HideWindow()
	return nil
}

// StopAndQuit stops publishing and the PDS and quits the app: the answer
// "Stop and quit" to the close question.
func (a *App) StopAndQuit() error {
	w := a.window()
	if w == nil {
		return errNoWindow
	}
	Quit(a)
	return nil
}

// Quit quits on purpose (the app menu's Quit, StopAndQuit): BeforeClose
// then lets the window close, and Shutdown stops the PDS.
func Quit(a *App) {
	a.mu.Lock()
	a.quitting = true
	a.mu.Unlock()
	if w := a.window(); w != nil {
		a.log.Info("quitting: the PDS stops")
		w.Quit()
	}
}

// ShowWindow brings the window back (a second launch of hearth on the same
// data folder, the app menu).
func ShowWindow(a *App) {
	if w := a.window(); w != nil {
		w.ShowWindow()
	}
}

// InstanceID names the app's single-instance lock (Wails'
// SingleInstanceLock): one per data folder, so running hearth again on the
// folder of a window that is open, or hidden while serving, shows that
// window instead of starting a second app; another folder gets its own app.
func InstanceID(a *App) string {
	dir := a.cfg.DataDir
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	sum := sha256.Sum256([]byte(filepath.Clean(dir)))
	return "hearth_" + hex.EncodeToString(sum[:8])
}
