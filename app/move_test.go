package app

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/app/moving"
	"github.com/hearth-pds/hearth/internal/plcdir"
)

// startPeerApp starts an app on a PLC directory shared with other apps.
// The outbound address rule stays on: the other PDS's address is one the
// owner typed, which the wizard trusts (a PDS on the LAN or loopback).
func startPeerApp(t *testing.T, plcURL string) (*App, *fakeUI) {
	t.Helper()
	a := New(Config{DataDir: filepath.Join(t.TempDir(), "data"), PLCURL: plcURL, KeyStore: "file"})
	ui := &fakeUI{}
	if err := Start(context.Background(), a, ui); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Shutdown(context.Background(), a) })
	return a, ui
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

func repoStatus(t *testing.T, base, did string) (active bool, status string) {
	t.Helper()
	resp, err := http.Get(base + "/xrpc/com.atproto.sync.getRepoStatus?did=" + did)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rs struct {
		Active bool   `json:"active"`
		Status string `json:"status"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&rs); err != nil {
		t.Fatal(err)
	}
	return rs.Active, rs.Status
}

// TestMoveOutAndIn drives the wizards' bindings as the window does: app A
// moves its account out to app B (a second Hearth, reached over HTTP; the
// PLC code comes from A's own outbox), then app C, empty, moves it in from
// B (the code typed in, read here from B's outbox as the user would from
// their mail).
func TestMoveOutAndIn(t *testing.T) {
	plc := httptest.NewServer(plcdir.New())
	t.Cleanup(plc.Close)
	plcURL := strings.Replace(plc.URL, "127.0.0.1", "localhost", 1)
	a, _ := startPeerApp(t, plcURL)
	b, _ := startPeerApp(t, plcURL)
	c, _ := startPeerApp(t, plcURL)

	acc, err := a.CreateAccount("mover.test", "password-on-a", "mover@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Post(PostInput{Text: "before moving"}); err != nil {
		t.Fatal(err)
	}
	if v, err := a.MoveStatus(); err != nil || v != nil {
		t.Fatalf("MoveStatus before any move = %+v, %v", v, err)
	}
	invite, err := b.CreateInviteCode(1)
	if err != nil {
		t.Fatal(err)
	}

	// --- Move out: A -> B ---------------------------------------------------------
	v, err := a.MoveStart(MoveStartInput{Direction: "out", RemoteURL: b.url, NewHandle: "mover-b.test",
		InviteCode: invite, OldPassword: "password-on-a", NewPassword: "password-on-b"})
	if err != nil {
		t.Fatal(err)
	}
	if v.Need != string(moving.NeedConfirm) || v.Summary == nil || v.Summary.Records != 1 || v.Summary.Handle != "mover.test" ||
		v.Steps[0].Status != "done" || v.Steps[1].Status != "waiting" || v.Email != "mover@example.com" {
		t.Fatalf("after MoveStart: %+v (summary %+v)", v, v.Summary)
	}
	if _, err := a.MoveStart(MoveStartInput{Direction: "out", RemoteURL: b.url, NewPassword: "password-on-b"}); err == nil ||
		!strings.Contains(err.Error(), "already in progress") {
		t.Errorf("a second MoveStart = %v, want 'already in progress'", err)
	}
	// The window reopened: the move is offered for resuming.
	if v, err := a.MoveStatus(); err != nil || v == nil || v.Next != string(moving.StepSummary) || !v.CanDiscard {
		t.Fatalf("MoveStatus mid-move = %+v, %v", v, err)
	}
	// The app quits here and starts again, on another port: the move
	// goes on from move.json; the new PDS's password (never written) is
	// asked for again.
	Shutdown(context.Background(), a)
	a = New(Config{DataDir: a.cfg.DataDir, PLCURL: plcURL, KeyStore: "file", Port: freeTCPPort(t)})
	uiA := &fakeUI{}
	if err := Start(context.Background(), a, uiA); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Shutdown(context.Background(), a) })
	v, err = a.MoveStatus()
	if err != nil || v == nil || v.Need != string(moving.NeedConfirm) || v.OldURL == a.url {
		t.Fatalf("MoveStatus after a restart = %+v, %v (Hearth now at %s)", v, err, a.url)
	}
	v, err = a.MoveContinue(moving.Input{Confirm: true})
	if err != nil || v.Need != string(moving.NeedNewPassword) || v.Next != string(moving.StepCreate) {
		t.Fatalf("after a restart the move waits for %q at %s (%v), want the new PDS's password at create_account", v.Need, v.Next, err)
	}
	v, err = a.MoveContinue(moving.Input{NewPassword: "password-on-b"})
	if err != nil {
		t.Fatal(err)
	}
	if v.OldURL != a.url {
		t.Errorf("the move's Hearth side is %s, want the app's new address %s", v.OldURL, a.url)
	}
	if !v.Done || v.Report == nil || !v.Report.OK || v.Report.NewHandle != "mover-b.test" || v.Report.PLCEndpoint != b.url {
		t.Fatalf("move out ended with %+v, report %+v", v, v.Report)
	}
	for _, s := range v.Steps {
		if s.Status != "done" {
			t.Errorf("step %s is %s after the move", s.ID, s.Status)
		}
	}
	if active, status := repoStatus(t, a.url, acc.DID); active || status != "deactivated" {
		t.Errorf("A after moving out: active %v status %q", active, status)
	}
	if active, _ := repoStatus(t, b.url, acc.DID); !active {
		t.Error("B does not hold the account active")
	}
	uiA.mu.Lock()
	moves := 0
	for _, ev := range uiA.events {
		if ev == "move" {
			moves++
		}
	}
	uiA.mu.Unlock()
	if moves < len(moving.Steps) {
		t.Errorf("%d move events, want one per step at least", moves)
	}
	fi, err := os.Stat(filepath.Join(a.dataDir, moveStateFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("move.json: %v %v", fi, err)
	}

	// --- Move in: B -> C ------------------------------------------------------------
	v, err = c.MoveStart(MoveStartInput{Direction: "in", RemoteURL: b.url, Identifier: "@mover-b.test",
		NewHandle: "mover-c.test", Email: "mover@example.com", OldPassword: "password-on-b", NewPassword: "password-on-c"})
	if err != nil {
		t.Fatal(err)
	}
	if v.Need != string(moving.NeedConfirm) || v.Summary == nil || v.Summary.DID != acc.DID {
		t.Fatalf("Move in after start: %+v", v)
	}
	v, err = c.MoveContinue(moving.Input{Confirm: true})
	if err != nil || v.Need != string(moving.NeedPLCToken) {
		t.Fatalf("Move in waits for %q (%v), want the PLC code; problem %q", v.Need, err, v.Problem)
	}
	// A wrong code: refused, the wizard asks again (and the old PDS sends another).
	v, err = c.MoveContinue(moving.Input{PLCToken: "WRONG-CODE"})
	if err != nil || v.Need != string(moving.NeedPLCToken) || v.Problem == "" {
		t.Fatalf("after a wrong code: need %q problem %q (%v)", v.Need, v.Problem, err)
	}
	eb, err := b.eng()
	if err != nil {
		t.Fatal(err)
	}
	code, err := livePLCToken(context.Background(), eb, syntax.DID(acc.DID))
	if err != nil || code == "" {
		t.Fatalf("B's outbox code: %q %v", code, err)
	}
	v, err = c.MoveContinue(moving.Input{PLCToken: code})
	if err != nil || !v.Done || v.Report == nil || !v.Report.OK {
		t.Fatalf("move in ended with %+v (%v), report %+v", v, err, v.Report)
	}
	got, err := c.Account()
	if err != nil || got == nil || got.DID != acc.DID || got.Handle != "mover-c.test" {
		t.Fatalf("C's account after moving in: %+v %v", got, err)
	}
	if active, status := repoStatus(t, b.url, acc.DID); active || status != "deactivated" {
		t.Errorf("B after the move in: active %v status %q", active, status)
	}
	// The post written on A is on C.
	page, err := c.Timeline("")
	if err != nil || len(page.Records) != 1 {
		t.Fatalf("C's timeline: %+v %v", page, err)
	}
	// A finished move can be cleared.
	if err := c.MoveDiscard(); err != nil {
		t.Fatal(err)
	}
	if v, err := c.MoveStatus(); err != nil || v != nil {
		t.Errorf("MoveStatus after discarding = %+v %v", v, err)
	}
}

func TestMoveStartRefuses(t *testing.T) {
	a, _ := startApp(t)
	tests := []struct {
		name string
		in   MoveStartInput
		want string
	}{
		{"no direction", MoveStartInput{RemoteURL: "pds.example", NewPassword: "long-enough", OldPassword: "x", Identifier: "a.test", Email: "a@b.c"}, "unknown direction"},
		{"no address", MoveStartInput{Direction: "in", NewPassword: "long-enough", OldPassword: "x"}, "address is needed"},
		{"address with a path", MoveStartInput{Direction: "in", RemoteURL: "https://pds.example/xrpc", OldPassword: "x"}, "not a PDS address"},
		{"not http", MoveStartInput{Direction: "in", RemoteURL: "ftp://pds.example", OldPassword: "x"}, "not a PDS address"},
		{"no old password", MoveStartInput{Direction: "in", RemoteURL: "pds.example", NewPassword: "long-enough", Identifier: "a.test", Email: "a@b.c"}, "password of the account on the old PDS"},
		{"short new password", MoveStartInput{Direction: "in", RemoteURL: "pds.example", OldPassword: "x", NewPassword: "short", Identifier: "a.test", Email: "a@b.c"}, "at least 8"},
		{"no account", MoveStartInput{Direction: "in", RemoteURL: "pds.example", OldPassword: "x", NewPassword: "long-enough", Email: "a@b.c"}, "which account"},
		{"no email", MoveStartInput{Direction: "in", RemoteURL: "pds.example", OldPassword: "x", NewPassword: "long-enough", Identifier: "a.test"}, "email"},
		{"out without an account", MoveStartInput{Direction: "out", RemoteURL: "pds.example", OldPassword: "x", NewPassword: "long-enough"}, "no account yet"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.MoveStart(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("MoveStart = %v, want %q", err, tc.want)
			}
		})
	}
	if v, err := a.MoveStatus(); err != nil || v != nil {
		t.Errorf("a refused start left a move behind: %+v %v", v, err)
	}
	if _, err := a.CreateAccount("here.test", "password123", "h@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.MoveStart(MoveStartInput{Direction: "in", RemoteURL: "pds.example", Identifier: "x.test", Email: "a@b.c",
		OldPassword: "x", NewPassword: "long-enough"}); err == nil || !strings.Contains(err.Error(), "needs an empty Hearth") {
		t.Errorf("Move in over an account = %v", err)
	}
}

func TestMoveDiscardRule(t *testing.T) {
	tests := []struct {
		st   moving.State
		want bool
	}{
		{moving.State{Next: moving.StepSignIn}, true},
		{moving.State{Next: moving.StepBlobs}, true},
		{moving.State{Next: moving.StepToken, TokenRequested: true}, true},
		{moving.State{Next: moving.StepPLC}, true},
		{moving.State{Next: moving.StepPLC, SignedOp: json.RawMessage(`{}`)}, false},
		{moving.State{Next: moving.StepActivate}, false},
		{moving.State{Next: moving.StepDeactivate}, false},
		{moving.State{Next: moving.StepDone}, true},
		{moving.State{Next: moving.StepPreferences, SignedOp: json.RawMessage(`{}`)}, false},
	}
	for _, tc := range tests {
		if got := canDiscard(tc.st); got != tc.want {
			t.Errorf("canDiscard(next %s) = %v, want %v", tc.st.Next, got, tc.want)
		}
	}
}
