package app

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearth-pds/hearth/internal/plcdir"
)

const testNgrokToken = "2hearthTESTtokenABCDEF_0123456789wxyz"

// startAppOn opens dataDir with kr as the OS keyring.
func startAppOn(t *testing.T, dataDir string, kr *memKeyring) *App {
	t.Helper()
	plc := httptest.NewServer(plcdir.New())
	t.Cleanup(plc.Close)
	a := New(Config{DataDir: dataDir, PLCURL: plc.URL, KeyStore: "file", Keyring: kr})
	if err := Start(context.Background(), a, &fakeUI{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Shutdown(context.Background(), a) })
	return a
}

// noToken fails when the token shows up in desktop.json or the logs.
func noToken(t *testing.T, a *App, dataDir string, inFile bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, settingsFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), testNgrokToken) != inFile {
		t.Fatalf("token in desktop.json: want %v; file:\n%s", inFile, b)
	}
	for _, e := range a.Logs() {
		if strings.Contains(e.Message+e.Attrs, testNgrokToken) {
			t.Fatalf("token logged: %+v", e)
		}
	}
	if strings.Contains(a.BugReport(), testNgrokToken) {
		t.Fatal("token in the bug report")
	}
}

// A token saved in desktop.json by an older Hearth moves to the OS keyring
// when the folder opens; the Publish form still shows it masked and
// publishing finds it. Without a keyring it stays in the 0600 file.
func TestNgrokTokenMovesToKeyring(t *testing.T) {
	for _, tc := range []struct {
		name      string
		down      bool
		inFile    bool
		inKeyring bool
	}{
		{"keyring", false, false, true},
		{"no keyring", true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			if err := os.MkdirAll(dataDir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := saveSettings(dataDir, settings{NgrokAuthtoken: testNgrokToken, NgrokDomain: "me.ngrok.app"}); err != nil {
				t.Fatal(err)
			}
			kr := &memKeyring{m: map[string]string{}, down: tc.down}
			a := startAppOn(t, dataDir, kr)
			if _, err := a.CreateAccount("me.test", "password123", ""); err != nil {
				t.Fatal(err)
			}
			noToken(t, a, dataDir, tc.inFile)
			st, err := loadSettings(dataDir)
			if err != nil {
				t.Fatal(err)
			}
			kr.mu.Lock()
			stored := kr.m[keyringService+"/"+st.NgrokTokenEntry]
			kr.mu.Unlock()
			if (stored == testNgrokToken) != tc.inKeyring || (st.NgrokTokenEntry != "") != tc.inKeyring || st.NgrokDomain != "me.ngrok.app" {
				t.Fatalf("keyring holds %q under %q; settings %+v", stored, st.NgrokTokenEntry, st)
			}
			if fi, err := os.Stat(filepath.Join(dataDir, settingsFile)); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("desktop.json mode %v %v", fi.Mode(), err)
			}
			ps, err := a.PublishingStatus()
			if err != nil || ps.Config.Authtoken != "••••wxyz" {
				t.Fatalf("Publish form token %q %v", ps.Config.Authtoken, err)
			}
			got, err := a.savedNgrokToken(st)
			if err != nil || got != testNgrokToken {
				t.Fatalf("saved token %q %v", got, err)
			}
		})
	}
}

// A token taken by StartPublishing goes to the keyring, not the file; a
// keyring that later does not answer is named when publishing starts.
func TestNgrokTokenSavedInKeyring(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	kr := &memKeyring{m: map[string]string{}}
	a := startAppOn(t, dataDir, kr)
	if _, err := a.CreateAccount("me.test", "password123", ""); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	a.ngrokOK = testNgrokToken // as if ngrok had accepted it (no internet in tests)
	a.mu.Unlock()
	if _, err := a.StartPublishing(PublishConfig{Kind: "ngrok", Authtoken: testNgrokToken}); err != nil {
		t.Fatal(err)
	}
	if err := a.StopPublishing(); err != nil {
		t.Fatal(err)
	}
	noToken(t, a, dataDir, false)
	st, _ := loadSettings(dataDir)
	if tok, err := a.savedNgrokToken(st); err != nil || tok != testNgrokToken {
		t.Fatalf("keyring token %q %v", tok, err)
	}
	kr.mu.Lock()
	kr.down = true
	kr.mu.Unlock()
	_, err := a.StartPublishing(PublishConfig{Kind: "ngrok"})
	if err == nil || !strings.Contains(err.Error(), "OS keyring") || strings.Contains(err.Error(), testNgrokToken) {
		t.Fatalf("start with the keyring down: %v", err)
	}
}
