package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atclient"
	"github.com/bluesky-social/indigo/atproto/repo"
	"github.com/bluesky-social/indigo/atproto/repo/mst"
	"github.com/ipfs/go-cid"
)

// The test binary doubles as hearthd: with HEARTHD_TEST_CHILD set it runs
// the command line in HEARTHD_TEST_ARGS and exits.
func TestMain(m *testing.M) {
	if os.Getenv("HEARTHD_TEST_CHILD") == "1" {
		args := strings.Split(os.Getenv("HEARTHD_TEST_ARGS"), "\x1f")
		if err := run(context.Background(), args, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "hearthd:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func freePort(t *testing.T) int {
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

func child(t *testing.T, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HEARTHD_TEST_CHILD=1", "HEARTHD_TEST_ARGS="+strings.Join(args, "\x1f"))
	// Tests never touch the developer's OS keyring.
	cmd.Env = append(cmd.Env, "HEARTH_KEY_STORE=file")
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

func waitReady(t *testing.T, url string) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url + "/xrpc/_health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("hearthd did not become ready")
}

func TestCLIAccountCreateWithEnv(t *testing.T) {
	dir := t.TempDir()
	cmd := child(t, []string{"HEARTH_DATA_DIR=" + dir, "HEARTH_PUBLIC_URL=http://localhost:1234", "HEARTH_PLC_URL=http://127.0.0.1:9", "HEARTH_PASSWORD=from-the-env"},
		"account", "create", "--handle", "envy.test")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("account create: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "did:plc:") {
		t.Fatalf("output %q", out)
	}
	// Missing data dir is a clear error.
	var stderr bytes.Buffer
	err = run(context.Background(), []string{"account", "create", "--handle", "x.test", "--password", "12345678"}, io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--data-dir") {
		t.Fatalf("no data dir: %v", err)
	}
	if err := run(context.Background(), []string{"frobnicate"}, io.Discard, io.Discard); err == nil {
		t.Fatal("unknown command accepted")
	}
}

// TestAcknowledgedWritesSurviveKill9 writes records as fast as it can,
// SIGKILLs the server mid-stream, restarts it and checks that every write
// that was acknowledged is there and the repo is consistent.
func TestAcknowledgedWritesSurviveKill9(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	url := fmt.Sprintf("http://localhost:%d", port)
	common := []string{"--data-dir", dir, "--public-url", url, "--plc-url", "http://127.0.0.1:9"}
	out, err := child(t, nil, append([]string{"account", "create", "--handle", "crash.test", "--password", "crash-test-pw"}, common...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("account create: %v\n%s", err, out)
	}
	did := strings.TrimSpace(string(out))

	serve := func() *exec.Cmd {
		cmd := child(t, nil, append([]string{"serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port)}, common...)...)
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitReady(t, url)
		return cmd
	}
	for round := 0; round < 3; round++ {
		srv := serve()
		c, err := atclient.LoginWithPasswordHost(context.Background(), url, "crash.test", "crash-test-pw", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		acked := map[string]string{}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 2; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					var res struct{ URI, CID string }
					err := c.Post(context.Background(), "com.atproto.repo.createRecord", map[string]any{"repo": did, "collection": "app.bsky.feed.post",
						"record": map[string]any{"text": fmt.Sprintf("r%d w%d #%d", round, w, i), "createdAt": "2026-11-22T10:00:00Z"}}, &res)
					if err != nil {
						return // the server died under us
					}
					mu.Lock()
					acked[res.URI] = res.CID
					mu.Unlock()
				}
			}(w)
		}
		time.Sleep(time.Duration(300+round*200) * time.Millisecond)
		if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = srv.Wait() // "signal: killed", as intended
		close(stop)
		wg.Wait()
		if len(acked) == 0 {
			t.Fatal("no write was acknowledged before the kill")
		}
		// Everything in the folder verifies after the kill.
		if out, err := child(t, nil, append([]string{"verify"}, common...)...).CombinedOutput(); err != nil || !strings.Contains(string(out), "everything verifies") {
			t.Fatalf("round %d: hearthd verify after kill -9: %v\n%s", round, err, out)
		}

		srv = serve()
		car := getRepo(t, url, did)
		records := verifyCAR(t, car)
		for uri, c := range acked {
			path := uri[len("at://"+did+"/"):]
			if got, ok := records[path]; !ok || got.String() != c {
				t.Fatalf("round %d: acknowledged write %s lost after kill -9 (%d acked, %d stored)", round, uri, len(acked), len(records))
			}
		}
		t.Logf("round %d: %d acknowledged writes all survived (%d records stored)", round, len(acked), len(records))
		if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := srv.Wait(); err != nil {
			t.Fatalf("graceful shutdown: %v", err)
		}
	}
}

func getRepo(t *testing.T, url, did string) []byte {
	resp, err := http.Get(url + "/xrpc/com.atproto.sync.getRepo?did=" + did)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("getRepo: %d %s", resp.StatusCode, b)
	}
	return b
}

func verifyCAR(t *testing.T, car []byte) map[string]cid.Cid {
	commit, r, err := repo.LoadRepoFromCAR(context.Background(), bytes.NewReader(car))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]cid.Cid{}
	if err := r.MST.Walk(func(k []byte, v cid.Cid) error { m[string(k)] = v; return nil }); err != nil {
		t.Fatal(err)
	}
	tree, _ := mst.LoadTreeFromMap(m)
	root, _ := tree.RootCID()
	if !root.Equals(commit.Data) {
		t.Fatal("stored repo is inconsistent after restart")
	}
	return m
}

// hearthd verify reports a damaged blob and exits non-zero; --json gives
// one object.
func TestVerifyCommand(t *testing.T) {
	dir := t.TempDir()
	common := []string{"--data-dir", dir, "--public-url", "http://localhost:1234", "--plc-url", "http://127.0.0.1:9", "--key-store", "file"}
	if out, err := child(t, nil, append([]string{"account", "create", "--handle", "v.test", "--password", "verify-pw-123"}, common...)...).CombinedOutput(); err != nil {
		t.Fatalf("account create: %v\n%s", err, out)
	}
	var stdout bytes.Buffer
	if err := run(context.Background(), append([]string{"verify", "--json"}, common...), &stdout, io.Discard); err != nil {
		t.Fatalf("verify a sound folder: %v\n%s", err, stdout.String())
	}
	var rep struct {
		OK       bool `json:"ok"`
		Accounts []struct {
			Handle string `json:"handle"`
		} `json:"accounts"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil || !rep.OK || len(rep.Accounts) != 1 || rep.Accounts[0].Handle != "v.test" {
		t.Fatalf("verify --json: %v %s", err, stdout.String())
	}
	// Damage the database file's account table behind its back: a row in
	// the record table that the signed tree does not have.
	db, err := sql.Open("sqlite", filepath.Join(dir, "hearth.db"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`INSERT INTO record(did, collection, rkey, cid, rev, bytes) SELECT did, 'app.bsky.feed.post', '3kaaaaaaaaaa2', 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm', '3kaaaaaaaaaa2', x'a0' FROM account`)
	if cerr := db.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	stdout.Reset()
	err = run(context.Background(), append([]string{"verify"}, common...), &stdout, io.Discard)
	if !errors.Is(err, errProblemsFound) || !strings.Contains(stdout.String(), "PROBLEMS") {
		t.Fatalf("verify of a damaged folder: %v\n%s", err, stdout.String())
	}
}

// recovery-key create prints a key once; the folder keeps only its public
// half, and the PLC update waits for the directory when it is offline.
func TestRecoveryKeyCreateCommand(t *testing.T) {
	dir := t.TempDir()
	common := []string{"--data-dir", dir, "--public-url", "http://localhost:1234", "--plc-url", "http://127.0.0.1:9", "--key-store", "file"}
	if out, err := child(t, nil, append([]string{"account", "create", "--handle", "r.test", "--password", "recover-pw-123"}, common...)...).CombinedOutput(); err != nil {
		t.Fatalf("account create: %v\n%s", err, out)
	}
	var stdout bytes.Buffer
	if err := run(context.Background(), append([]string{"recovery-key", "create"}, common...), &stdout, io.Discard); err != nil {
		t.Fatalf("recovery-key create: %v\n%s", err, stdout.String())
	}
	out := stdout.String()
	var hexKey string
	for _, line := range strings.Split(out, "\n") {
		if k, ok := strings.CutPrefix(line, "private key (secp256k1, hex): "); ok {
			hexKey = k
		}
	}
	if len(hexKey) != 64 || !strings.Contains(out, "only time it is shown") || !strings.Contains(out, "queued") {
		t.Fatalf("output:\n%s", out)
	}
	if err := run(context.Background(), append([]string{"recovery-key", "create", "--handle", "nobody.test"}, common...), io.Discard, io.Discard); err == nil {
		t.Fatal("an unknown handle was accepted")
	}
}
