package app

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"net/http/httptest"

	"github.com/hearth-pds/hearth/internal/plcdir"
)

// fakeWindow is a UI with a native window: it counts hides, shows and
// quits and keeps the close requests the window was sent.
type fakeWindow struct {
	fakeUI
	wmu                 sync.Mutex
	hides, shows, quits int
	asked               []CloseRequest
}

func (w *fakeWindow) Emit(event string, data any) {
	w.fakeUI.Emit(event, data)
	if r, ok := data.(CloseRequest); ok && event == CloseRequestedEvent {
		w.wmu.Lock()
		w.asked = append(w.asked, r)
		w.wmu.Unlock()
	}
}
func (w *fakeWindow) HideWindow() { w.wmu.Lock(); w.hides++; w.wmu.Unlock() }
func (w *fakeWindow) ShowWindow() { w.wmu.Lock(); w.shows++; w.wmu.Unlock() }
func (w *fakeWindow) Quit()       { w.wmu.Lock(); w.quits++; w.wmu.Unlock() }

func (w *fakeWindow) counts() (hides, shows, quits, asked int) {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	return w.hides, w.shows, w.quits, len(w.asked)
}

// startWithUI starts an app with an account on ui.
func startWithUI(t *testing.T, ui UI) *App {
	t.Helper()
	plc := httptest.NewServer(plcdir.New())
	t.Cleanup(plc.Close)
	a := New(Config{DataDir: filepath.Join(t.TempDir(), "data"), PLCURL: plc.URL, KeyStore: "file"})
	if err := Start(context.Background(), a, ui); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Shutdown(context.Background(), a) })
	if _, err := a.CreateAccount("me.test", "password123", ""); err != nil {
		t.Fatal(err)
	}
	return a
}

func serves(url string) bool {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url + "/xrpc/com.atproto.server.describeServer")
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == 200
}

// TestClosingTheWindow: closing while not publishing quits as before;
// while publishing it asks (the app stays, the window gets
// "close-requested") and "keep serving" hides the window with the PDS still
// reachable at its public URL; a deliberate quit (the menu's Quit, "Stop and
// quit") really closes, and Shutdown then takes the PDS offline.
func TestClosingTheWindow(t *testing.T) {
	for _, tc := range []struct {
		name    string
		publish bool
		quit    func(a *App) error // nil: choose "keep serving", then quit with the menu
	}{
		{name: "not publishing: closing quits"},
		{name: "publishing: keep serving, then the menu's Quit", publish: true},
		{name: "publishing: stop and quit", publish: true, quit: (*App).StopAndQuit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &fakeWindow{}
			a := startWithUI(t, w)
			if !tc.publish {
				if BeforeClose(a) {
					t.Fatal("closing while not publishing was prevented")
				}
				if _, _, _, asked := w.counts(); asked != 0 {
					t.Fatal("asked although not publishing")
				}
				return
			}
			if _, err := a.StartPublishing(PublishConfig{Kind: "loopback"}); err != nil {
				t.Fatal(err)
			}
			public := waitOnline(t, a).Tunnel.URL
			if !BeforeClose(a) {
				t.Fatal("closing while publishing was not prevented")
			}
			w.wmu.Lock()
			req := w.asked[0]
			w.wmu.Unlock()
			if req.PublicURL != public {
				t.Fatalf("close request = %+v, want the public URL %s", req, public)
			}
			if _, shows, _, _ := w.counts(); shows != 1 {
				t.Fatalf("the window was shown %d times to ask, want 1", shows)
			}
			if tc.quit != nil {
				if err := tc.quit(a); err != nil {
					t.Fatal(err)
				}
			} else {
				if err := a.KeepServingInBackground(); err != nil {
					t.Fatal(err)
				}
				if hides, _, quits, _ := w.counts(); hides != 1 || quits != 0 {
					t.Fatalf("keep serving: %d hides, %d quits", hides, quits)
				}
				if !serves(public) {
					t.Fatal("the PDS is not reachable at its public URL with the window hidden")
				}
				// Closing again (the window shown again) asks again.
				if !BeforeClose(a) {
					t.Fatal("second close while publishing was not prevented")
				}
				ShowWindow(a)
				Quit(a) // the app menu's Quit
			}
			if _, _, quits, _ := w.counts(); quits != 1 {
				t.Fatalf("%d quits after a deliberate quit", quits)
			}
			if BeforeClose(a) {
				t.Fatal("a deliberate quit was prevented")
			}
			Shutdown(context.Background(), a) // what Wails runs once the window closed
			if serves(public) {
				t.Fatal("the PDS still serves after quitting")
			}
		})
	}
}

// TestClosingWithoutAWindowQuits: a UI that cannot hide the window never
// keeps the app open (there would be no way to answer).
func TestClosingWithoutAWindowQuits(t *testing.T) {
	a := startWithUI(t, &fakeUI{})
	if _, err := a.StartPublishing(PublishConfig{Kind: "loopback"}); err != nil {
		t.Fatal(err)
	}
	waitOnline(t, a)
	if BeforeClose(a) {
		t.Fatal("closing was prevented without a window to ask in")
	}
	if err := a.KeepServingInBackground(); err == nil {
		t.Fatal("keep serving without a window")
	}
}

// TestInstanceIDIsPerDataFolder: the single-instance lock is one per data
// folder (however it is spelled), and its name is usable as a D-Bus name
// element (letters, digits, underscores).
func TestInstanceIDIsPerDataFolder(t *testing.T) {
	dir := t.TempDir()
	id := func(d string) string { return InstanceID(New(Config{DataDir: d})) }
	for _, tc := range []struct {
		name string
		a, b string
		same bool
	}{
		{"same folder", filepath.Join(dir, "data"), filepath.Join(dir, "data"), true},
		{"same folder spelled differently", filepath.Join(dir, "data"), filepath.Join(dir, "x", "..", "data") + "/", true},
		{"another folder", filepath.Join(dir, "data"), filepath.Join(dir, "other"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := id(tc.a), id(tc.b)
			if (a == b) != tc.same {
				t.Fatalf("ids %q and %q: same = %v, want %v", a, b, a == b, tc.same)
			}
			if strings.Trim(a, "_abcdefghijklmnopqrstuvwxyz0123456789") != "" {
				t.Fatalf("id %q has characters a D-Bus name element cannot", a)
			}
		})
	}
}
