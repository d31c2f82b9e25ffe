package moving

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPlanCheck(t *testing.T) {
	good := Plan{Direction: MoveIn, OldURL: "https://bsky.social", NewURL: "http://localhost:2583",
		Identifier: "alice.bsky.social", Email: "a@example.com"}
	tests := []struct {
		name   string
		change func(*Plan)
		want   string // "" = accepted
	}{
		{"good", func(*Plan) {}, ""},
		{"direction", func(p *Plan) { p.Direction = "sideways" }, "unknown direction"},
		{"old URL", func(p *Plan) { p.OldURL = "ftp://x" }, "not an http(s) URL"},
		{"new URL empty", func(p *Plan) { p.NewURL = "" }, "not an http(s) URL"},
		{"credentials in URL", func(p *Plan) { p.OldURL = "https://u:p@pds.example" }, "not an http(s) URL"},
		{"same PDS", func(p *Plan) { p.NewURL = "https://BSKY.social/" }, "the same"},
		{"no identifier", func(p *Plan) { p.Identifier = " " }, "which account"},
		{"no email", func(p *Plan) { p.Email = "nope" }, "email"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := good
			tc.change(&p)
			_, err := Begin(filepath.Join(t.TempDir(), "move.json"), p, Options{HTTP: http.DefaultClient})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Begin = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Begin = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestStateFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "move.json")
	plan := Plan{Direction: MoveOut, OldURL: "http://localhost:1", NewURL: "https://pds.example",
		Identifier: "did:plc:abc", Email: "a@example.com"}
	m, err := Begin(path, plan, Options{HTTP: http.DefaultClient})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	// An unfinished move blocks a new one; a finished one does not.
	if _, err := Begin(path, plan, Options{HTTP: http.DefaultClient}); !errors.Is(err, ErrMoveExists) {
		t.Errorf("Begin over an unfinished move = %v, want ErrMoveExists", err)
	}
	m.st.Next = StepDone
	if err := m.save(); err != nil {
		t.Fatal(err)
	}
	if _, err := Begin(path, plan, Options{HTTP: http.DefaultClient}); err != nil {
		t.Errorf("Begin over a finished move = %v", err)
	}
	// No temporary files are left behind.
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		t.Errorf("folder holds %d entries, want just move.json", len(ents))
	}
	// Round trip.
	got, err := LoadState(path)
	if err != nil || got.Plan != plan || got.Next != StepSignIn {
		t.Errorf("LoadState = %+v, %v", got, err)
	}

	bad := []struct{ name, body, want string }{
		{"not JSON", "{", "not valid JSON"},
		{"other version", `{"version":99,"next":"sign_in"}`, "version 99"},
		{"unknown step", `{"version":1,"next":"teleport"}`, "unknown step"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "move.json")
			if err := os.WriteFile(p, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := Resume(p, Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Resume = %v, want %q", err, tc.want)
			}
			// A bad file is left untouched and blocks Begin.
			if _, err := Begin(p, plan, Options{}); err == nil {
				t.Error("Begin over a damaged state file succeeded")
			}
			if b, _ := os.ReadFile(p); string(b) != tc.body {
				t.Error("the damaged file was changed")
			}
		})
	}
	if _, err := Resume(filepath.Join(dir, "none.json"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Resume of no file = %v, want ErrNotExist", err)
	}
}
