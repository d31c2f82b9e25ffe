package relay_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	comatproto "github.com/bluesky-social/indigo/api/atproto"
	"github.com/bluesky-social/indigo/atproto/atclient"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds/reach"
)

// TestReachSupervisorKeepsRelaySubscribed runs Hearth's reachability
// supervisor (pds/reach) against a real indigo relay, with no user action:
//
//  1. Hearth is online first; the relay starts later on the port the
//     supervisor was given. The supervisor's announcements fail until the
//     relay is up, then it subscribes, and a post made afterwards reaches
//     the relay.
//  2. The relay is stopped and started again with EMPTY state (a fresh
//     database): it no longer knows Hearth. The supervisor's periodic
//     getHostStatus sees HostNotFound, announces again, and the relay picks
//     Hearth up; a new post reaches it.
//
// The relay is indigo's cmd/relay with a TEST-ONLY two-line change (built by
// scripts/ensure-relay-loopback.sh into .cache/bin/relay-loopback): the stock
// relay refuses requestCrawl for "localhost:PORT" on its public endpoint,
// and its host check refuses loopback addresses even for admin requests.
// Everything the supervisor does here — the public requestCrawl with the
// hostname "localhost:PORT", getHostStatus — is exactly what it does to a
// real relay. It runs with --allow-insecure-hosts (http on localhost).
func TestReachSupervisorKeepsRelaySubscribed(t *testing.T) {
	bin := os.Getenv("RELAY_LOOPBACK_BIN")
	if bin == "" {
		skipOrFail(t, "RELAY_LOOPBACK_BIN is not set: this test runs a test-only build of the indigo relay; use `make test-relay` (scripts/test-relay.sh) to build it and run the test")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("RELAY_LOOPBACK_BIN=%s: %v", bin, err)
	}
	p := testpds.Start(t, nil)
	alice := p.CreateAccount(t, "alice.test")
	ac := p.Login(t, alice)
	hostname := strings.TrimPrefix(p.URL, "http://")

	apiPort := freePort(t)
	relayURL := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	sup := reach.New(reach.Config{
		Relays:     []reach.Relay{{URL: relayURL, Explicit: true}},
		MinBackoff: 200 * time.Millisecond, MaxBackoff: 2 * time.Second,
		Settle: 200 * time.Millisecond, CheckEvery: time.Second,
	})
	defer sup.Close()
	if err := sup.SetHost(p.URL); err != nil {
		t.Fatal(err)
	}

	// Hearth is online, the relay is not: the supervisor keeps trying.
	if !poll(10*time.Second, func() bool { return sup.Status()[0].Announces >= 2 }) {
		t.Fatalf("supervisor did not retry while the relay was down: %+v", sup.Status())
	}
	st := sup.Status()[0]
	if st.State != reach.StateNotSubscribed || !strings.Contains(st.Reason, "unreachable") || st.NextRetry.IsZero() {
		t.Fatalf("while the relay is down: %+v", st)
	}
	t.Logf("relay down: %s (next retry %s)", st.Reason, st.NextRetry.Format(time.TimeOnly))

	// 1. the relay starts after Hearth.
	r := startRelayFresh(t, bin, p.PLC.URL, apiPort, "first")
	start := time.Now()
	waitSubscribed(t, sup, r, hostname)
	t.Logf("relay started after Hearth: subscribed %s after it came up", time.Since(start).Round(time.Millisecond))
	checkRelaySees(t, ac, p.URL, r.url, alice.DID, "after the relay started")
	waitSeq(t, sup)

	// 2. the relay restarts with empty state.
	r.stop(t)
	r2 := startRelayFresh(t, bin, p.PLC.URL, apiPort, "second")
	hc := atclient.NewAPIClient(r2.url)
	if _, err := comatproto.SyncGetHostStatus(ctx, hc, hostname); err == nil {
		t.Log("the restarted relay already knew the host (the supervisor was quick)")
	}
	start = time.Now()
	waitSubscribed(t, sup, r2, hostname)
	t.Logf("relay restarted empty: subscribed again %s after it came up", time.Since(start).Round(time.Millisecond))
	checkRelaySees(t, ac, p.URL, r2.url, alice.DID, "after the relay restarted empty")
	waitSeq(t, sup)
}

// startRelayFresh starts the relay with a new, empty database on apiPort.
func startRelayFresh(t *testing.T, bin, plcURL string, apiPort int, name string) *relayProc {
	t.Helper()
	dir := t.TempDir()
	r := &relayProc{bin: bin, dir: dir, url: fmt.Sprintf("http://127.0.0.1:%d", apiPort)}
	r.args = []string{
		"--plc-host", plcURL,
		"--admin-password", adminPassword,
		"--log-level", "info",
		"serve",
		"--db-url", "sqlite://" + filepath.Join(dir, "relay.sqlite"),
		"--bind", fmt.Sprintf("127.0.0.1:%d", apiPort),
		"--metrics-listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"--persist-dir", filepath.Join(dir, "persist"),
		"--allow-insecure-hosts",
		"--default-account-limit", "1000",
	}
	t.Cleanup(func() {
		r.stop(t)
		if t.Failed() {
			printTail(t, filepath.Join(dir, "relay-"+name+".log"), 60)
		}
	})
	r.run(t, "relay-"+name+".log")
	return r
}

// waitSubscribed waits until the supervisor reports the relay subscribed
// and the relay itself says the host is active.
func waitSubscribed(t *testing.T, sup *reach.Supervisor, r *relayProc, hostname string) {
	t.Helper()
	rc := atclient.NewAPIClient(r.url)
	var last reach.Status
	var hsErr error
	var hs *comatproto.SyncGetHostStatus_Output
	ok := poll(30*time.Second, func() bool {
		last = sup.Status()[0]
		if last.State != reach.StateSubscribed {
			return false
		}
		hs, hsErr = comatproto.SyncGetHostStatus(ctx, rc, hostname)
		return hsErr == nil && deref(hs.Status) == "active"
	})
	if !ok {
		t.Fatalf("not subscribed within 30s: supervisor %+v; relay getHostStatus %+v, %v", last, hs, hsErr)
	}
	if last.Hostname != hostname {
		t.Fatalf("supervisor status %+v: want hostname %s", last, hostname)
	}
}

// checkRelaySees makes a post and waits for the relay to carry it.
func checkRelaySees(t *testing.T, ac *atclient.APIClient, hearthURL, relayURL, did, when string) {
	t.Helper()
	mustCreate(t, ac, did, "app.bsky.feed.post", post("hello relay, "+when))
	head, err := comatproto.SyncGetLatestCommit(ctx, atclient.NewAPIClient(hearthURL), did)
	if err != nil {
		t.Fatalf("Hearth getLatestCommit: %v", err)
	}
	rc := atclient.NewAPIClient(relayURL)
	var got *comatproto.SyncGetLatestCommit_Output
	if !poll(30*time.Second, func() bool {
		got, err = comatproto.SyncGetLatestCommit(ctx, rc, did)
		return err == nil && got.Cid == head.Cid
	}) {
		t.Fatalf("%s: the relay never carried the new post's commit %s: last %+v, %v", when, head.Cid, got, err)
	}
}

// waitSeq waits until the supervisor shows the last sequence number the
// relay reports having seen from Hearth (the relay stores it every few
// seconds).
func waitSeq(t *testing.T, sup *reach.Supervisor) {
	t.Helper()
	if !poll(30*time.Second, func() bool { st := sup.Status()[0]; return st.State == reach.StateSubscribed && st.HasSeq && st.Seq > 0 }) {
		t.Fatalf("the supervisor never showed the relay's last seq: %+v", sup.Status()[0])
	}
	t.Logf("relay reports last seq %d", sup.Status()[0].Seq)
}
