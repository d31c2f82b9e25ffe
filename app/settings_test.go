package app

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearth-pds/hearth/internal/plcdir"
)

// A corrupt desktop.json is reported (load error, log, status panel) and
// never overwritten with defaults, however the app is used.
func TestCorruptSettingsReportedAndLeftAlone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, settingsFile)
	corrupt := []byte(`{"port": 2583, "tunnel": "ngrok", "ngrokAuthtoken": "secret` /* truncated */)
	if err := os.WriteFile(path, corrupt, 0o600); err != nil {
		t.Fatal(err)
	}
	unchanged := func(when string) {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if !bytes.Equal(b, corrupt) {
			t.Fatalf("%s: desktop.json was rewritten to %q", when, b)
		}
	}

	if _, err := loadSettings(dir); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("loadSettings on a corrupt file: %v", err)
	}

	plc := httptest.NewServer(plcdir.New())
	t.Cleanup(plc.Close)
	a := New(Config{DataDir: dir, PLCURL: plc.URL})
	if err := Start(context.Background(), a, &fakeUI{}); err != nil {
		t.Fatalf("the app must still start on defaults: %v", err)
	}
	defer Shutdown(context.Background(), a)
	unchanged("after start")

	st, err := a.Status()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.SettingsError, "desktop.json") {
		t.Fatalf("status does not report the corrupt settings: %q", st.SettingsError)
	}
	if _, err := a.CreateAccount("me.test", "password123", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := a.StartPublishing(PublishConfig{Kind: "loopback"}); err == nil {
		t.Fatal("publishing started (and would save its choice) over corrupt settings")
	}
	if err := a.StopPublishing(); err == nil {
		t.Fatal("StopPublishing saved over corrupt settings")
	}
	if _, err := a.PublishingStatus(); err != nil {
		t.Fatalf("the publish panel must still show: %v", err)
	}
	Shutdown(context.Background(), a)
	unchanged("after shutdown")

	// Once the user fixes the file, the problem is gone.
	if err := os.WriteFile(path, []byte(`{"port": 0}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadSettings(dir); err != nil {
		t.Fatalf("fixed file: %v", err)
	}
}

// A missing desktop.json is a first run, not an error; settings round-trip.
func TestSettingsMissingAndRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, err := loadSettings(dir)
	if err != nil || s.Port != 0 || s.Tunnel != "" {
		t.Fatalf("missing file: %+v %v", s, err)
	}
	want := settings{Port: 4321, Tunnel: "byo", BYOURL: "https://pds.example.com", Relays: []string{"https://r.example"}}
	if err := saveSettings(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := loadSettings(dir)
	if err != nil || got.Port != want.Port || got.BYOURL != want.BYOURL || len(got.Relays) != 1 {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, settingsFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("desktop.json mode: %v %v", fi, err)
	}
	if err := saveSettings(filepath.Join(dir, "missing"), want); err == nil {
		t.Fatal("save into a missing folder succeeded")
	}
}
