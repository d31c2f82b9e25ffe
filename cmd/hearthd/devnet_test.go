package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atclient"
	"github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/gorilla/websocket"
)

// startDevnet runs `hearthd devnet` as a child and returns the JSON line it
// printed; the child is stopped with SIGTERM at cleanup (or by stop).
func startDevnet(t *testing.T, dir string, port int, extra ...string) (devnetInfo, func()) {
	t.Helper()
	args := append([]string{"devnet", "--data-dir", dir, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--log-level", "warn"}, extra...)
	cmd := child(t, nil, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("devnet exited with %v\n%s", err, stderr.String())
		}
	}
	t.Cleanup(stop)
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		lines <- line
	}()
	var info devnetInfo
	select {
	case line := <-lines:
		if err := json.Unmarshal([]byte(line), &info); err != nil {
			t.Fatalf("devnet's first stdout line %q: %v\n%s", line, err, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("devnet printed nothing in 60 s\n%s", stderr.String())
	}
	return info, stop
}

// hearthd devnet: one offline process with a PLC directory, the PDS (open
// sign-up for *.test) and /subscribe; it prints its URLs as one JSON line,
// seeds demo accounts, and keeps everything (PLC operations included)
// across a restart on the same folder.
func TestDevnet(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	info, stop := startDevnet(t, dir, port, "--seed", "2")
	wantPDS := fmt.Sprintf("http://127.0.0.1:%d", port)
	if info.PDS != wantPDS || info.Jetstream != strings.Replace(wantPDS, "http", "ws", 1)+"/subscribe" || info.PLC != fmt.Sprintf("http://127.0.0.1:%d", port+1) {
		t.Fatalf("devnet info = %+v", info)
	}
	if len(info.Accounts) != 2 || info.Accounts[0].Handle != "alice.test" || info.Accounts[1].Handle != "bob.test" {
		t.Fatalf("seeded %+v", info.Accounts)
	}
	alice := info.Accounts[0]

	// The PLC directory serves the seeded DID, pointing at the PDS.
	plcDir := &identity.BaseDirectory{PLCURL: info.PLC, SkipHandleVerification: true}
	id, err := plcDir.LookupDID(context.Background(), syntax.DID(alice.DID))
	if err != nil || id.PDSEndpoint() != info.PDS {
		t.Fatalf("PLC lookup of %s: %v %v", alice.DID, id, err)
	}

	// Open sign-up for *.test, an invite for anything else.
	anon := atclient.NewAPIClient(info.PDS)
	var desc struct {
		InviteCodeRequired   bool     `json:"inviteCodeRequired"`
		AvailableUserDomains []string `json:"availableUserDomains"`
	}
	if err := anon.Get(context.Background(), "com.atproto.server.describeServer", nil, &desc); err != nil || desc.InviteCodeRequired || len(desc.AvailableUserDomains) != 1 {
		t.Fatalf("describeServer = %+v, %v", desc, err)
	}
	var zoe struct {
		DID string `json:"did"`
	}
	if err := anon.Post(context.Background(), "com.atproto.server.createAccount", map[string]any{"handle": "zoe.test", "password": "zoe-password"}, &zoe); err != nil {
		t.Fatalf("open sign-up: %v", err)
	}
	err = anon.Post(context.Background(), "com.atproto.server.createAccount", map[string]any{"handle": "zoe.example.com", "password": "zoe-password"}, nil)
	if err == nil || !strings.Contains(err.Error(), "InvalidInviteCode") {
		t.Fatalf("sign-up outside *.test without an invite: %v", err)
	}

	// /subscribe replays the seeded posts (3 each) and the follows and likes.
	ws, _, err := websocket.DefaultDialer.Dial(info.Jetstream+"?cursor=0&wantedCollections=app.bsky.feed.*&wantedCollections=app.bsky.graph.follow", nil)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for counts["app.bsky.feed.post"] < 6 || counts["app.bsky.feed.like"] < 2 || counts["app.bsky.graph.follow"] < 2 {
		if err := ws.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		var e struct {
			Commit *struct {
				Collection string `json:"collection"`
			} `json:"commit"`
		}
		if err := ws.ReadJSON(&e); err != nil {
			t.Fatalf("after %v: %v", counts, err)
		}
		if e.Commit != nil {
			counts[e.Commit.Collection]++
		}
	}
	_ = ws.Close()

	// A restart keeps the accounts and the PLC directory's operations.
	stop()
	again, _ := startDevnet(t, dir, port, "--seed", "2")
	if len(again.Accounts) != 2 || again.Accounts[0].DID != alice.DID || again.Accounts[0].Password != "" {
		t.Fatalf("after restart: %+v", again.Accounts)
	}
	plcDir = &identity.BaseDirectory{PLCURL: again.PLC, SkipHandleVerification: true}
	for _, did := range []string{alice.DID, zoe.DID} {
		if id, err := plcDir.LookupDID(context.Background(), syntax.DID(did)); err != nil || id.PDSEndpoint() != again.PDS {
			t.Fatalf("PLC lookup of %s after restart: %v %v", did, id, err)
		}
	}
	if _, err := atclient.LoginWithPasswordHost(context.Background(), again.PDS, "alice.test", devnetPassword, "", nil); err != nil {
		t.Fatalf("alice logs in after restart: %v", err)
	}
	resp, err := http.Get(again.PDS + "/xrpc/com.atproto.identity.resolveHandle?handle=zoe.test")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("resolveHandle zoe.test: %v %v", resp, err)
	}
	_ = resp.Body.Close()
}
