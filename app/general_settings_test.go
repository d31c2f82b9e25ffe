package app

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLogRing(t *testing.T) {
	var out bytes.Buffer
	ring := NewLogRing(3)
	log := slog.New(ring.Handler(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelWarn})))
	log.Info("one")
	log.Debug("not kept")
	log.With("component", "tunnel").Info("two", "url", "https://x.ngrok.app")
	log.WithGroup("req").Warn("three", "authtoken", "s3cr3t", slog.Group("peer", "addr", "127.0.0.1"))
	log.Error("four", "msg with space", "a b")
	log.Info("five", "password", "hunter2", "accessJwt", "eyJ")

	got := ring.Entries()
	if len(got) != 3 || got[0].Message != "three" || got[1].Message != "four" || got[2].Message != "five" {
		t.Fatalf("kept %+v", got)
	}
	if got[0].Attrs != "req.authtoken=[redacted] req.peer.addr=127.0.0.1" || got[0].Level != "WARN" {
		t.Fatalf("attrs %q", got[0].Attrs)
	}
	if got[2].Attrs != "password=[redacted] accessJwt=[redacted]" {
		t.Fatalf("secrets: %q", got[2].Attrs)
	}
	if got[1].Attrs != `msg with space="a b"` {
		t.Fatalf("quoting: %q", got[1].Attrs)
	}
	// The next handler still gets what its level allows, secrets and all
	// (the ring redacts only its own copy).
	if s := out.String(); strings.Contains(s, "one") || !strings.Contains(s, "three") || !strings.Contains(s, "four") {
		t.Fatalf("next handler saw %q", s)
	}
	ring2 := NewLogRing(10)
	slog.New(ring2.Handler(slog.NewTextHandler(&out, nil))).With("component", "tunnel").Info("up")
	if e := ring2.Entries(); len(e) != 1 || e[0].Source != "tunnel" {
		t.Fatalf("tunnel source: %+v", e)
	}
}

func TestAppSettingsStartAtLoginAndBugReport(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	a := startAppWith(t, func(c *Config) { c.UserDomains = []string{".test"} })
	if _, err := a.CreateAccount("me.test", "password123", ""); err != nil {
		t.Fatal(err)
	}
	s, err := a.GetAppSettings()
	if err != nil {
		t.Fatal(err)
	}
	if s.DataDir == "" || !strings.HasPrefix(s.LocalURL, "http://localhost:") || len(s.Relays) == 0 || s.AppView.DID != "did:web:api.bsky.app" ||
		len(s.Developer.UserDomains) != 1 || !s.StartAtLogin.Supported || s.StartAtLogin.On {
		t.Fatalf("settings %+v", s)
	}
	if err := a.SetStartAtLogin(true); err != nil {
		t.Fatal(err)
	}
	entry, err := os.ReadFile(filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "autostart", "hearth.desktop"))
	if err != nil || !strings.Contains(string(entry), "\nExec=") || !strings.HasPrefix(string(entry), "[Desktop Entry]\n") {
		t.Fatalf("autostart entry %q %v", entry, err)
	}
	if s, _ := a.GetAppSettings(); !s.StartAtLogin.On {
		t.Fatal("start at login not reported on")
	}
	for i := 0; i < 2; i++ { // removing twice is fine
		if err := a.SetStartAtLogin(false); err != nil {
			t.Fatal(err)
		}
	}
	if s, _ := a.GetAppSettings(); s.StartAtLogin.On {
		t.Fatal("still on")
	}

	a.log.Warn("tunnel went away", "authtoken", "2abcSECRET")
	rep := a.BugReport()
	if !strings.Contains(rep, "tunnel went away") || strings.Contains(rep, "2abcSECRET") || !strings.Contains(rep, "publishing: off") || !strings.Contains(rep, "[tunnel]") {
		t.Fatalf("bug report:\n%s", rep)
	}
	if logs := a.Logs(); len(logs) == 0 || logs[len(logs)-1].Message != "tunnel went away" {
		t.Fatalf("logs %+v", logs)
	}
}

func TestDesktopQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/bin/hearth":        "/usr/bin/hearth",
		"/opt/My Apps/hearth":    `"/opt/My Apps/hearth"`,
		`/opt/a"b $c/hearth`:     `"/opt/a\\"b \\$c/hearth"`,
		"/home/x/hearth (1)/bin": `"/home/x/hearth (1)/bin"`,
	} {
		if got := desktopQuote(in); got != want {
			t.Errorf("desktopQuote(%q) = %q, want %q", in, got, want)
		}
	}
}
