package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atclient"
	"github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/repo"
	"github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/internal/plcdir"
)

var backupPNG = append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{9}, 3000)...)

// startServe runs hearthd serve as a child on port and waits until it
// answers; the test stops it (SIGTERM) or its cleanup kills it.
func startServe(t *testing.T, port int, common []string) *exec.Cmd {
	t.Helper()
	cmd := child(t, nil, append([]string{"serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port)}, common...)...)
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // the child this test started, by its own handle
		_ = cmd.Wait()
	})
	waitReady(t, fmt.Sprintf("http://localhost:%d", port))
	return cmd
}

func stopServe(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("graceful shutdown: %v", err)
	}
}

// runChild runs a hearthd command line as a child and returns its stdout
// and stderr and whether it exited 0.
func runChild(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := child(t, nil, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func writeFile(t *testing.T, path, s string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The round trip with real processes: backup create runs while
// hearthd serve runs on the folder and writes go on; every write
// acknowledged before it started is in the restored repo; restore refuses
// a wrong passphrase, a non-empty folder and a truncated file, leaving
// nothing behind; the restored PDS serves the same head, blob and
// preferences, and its new commit verifies with the DID document's key;
// and hearthd export of it holds a verifying CAR, the blobs, the PLC log
// and the recovery key.
func TestCLIBackupWhileServingThenRestore(t *testing.T) {
	plc := httptest.NewServer(plcdir.New())
	t.Cleanup(plc.Close)
	dirs := identity.BaseDirectory{PLCURL: plc.URL, SkipHandleVerification: true}
	ctx := context.Background()
	dir := t.TempDir()
	port := freePort(t)
	url := fmt.Sprintf("http://localhost:%d", port)
	common := []string{"--data-dir", dir, "--public-url", url, "--plc-url", plc.URL}
	out, stderr, err := runChild(t, append([]string{"account", "create", "--handle", "bk.test", "--password", "backup-pw-123"}, common...)...)
	if err != nil {
		t.Fatalf("account create: %v\n%s", err, stderr)
	}
	did := strings.TrimSpace(out)
	srv := startServe(t, port, common)

	c, err := atclient.LoginWithPasswordHost(ctx, url, "bk.test", "backup-pw-123", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var up struct {
		Blob json.RawMessage `json:"blob"`
	}
	if err := c.LexDo(ctx, "POST", "image/png", "com.atproto.repo.uploadBlob", nil, bytes.NewReader(backupPNG), &up); err != nil {
		t.Fatal(err)
	}
	var blobRef struct {
		Ref struct {
			Link string `json:"$link"`
		} `json:"ref"`
	}
	if err := json.Unmarshal(up.Blob, &blobRef); err != nil {
		t.Fatal(err)
	}
	if err := c.Post(ctx, "com.atproto.repo.createRecord", map[string]any{"repo": did, "collection": "app.bsky.feed.post",
		"record": map[string]any{"text": "picture", "createdAt": "2026-11-22T10:00:00Z",
			"embed": map[string]any{"$type": "app.bsky.embed.images", "images": []any{map[string]any{"alt": "", "image": up.Blob}}}}}, nil); err != nil {
		t.Fatal(err)
	}
	prefs := []any{map[string]any{"$type": "app.bsky.actor.defs#adultContentPref", "enabled": true}}
	if err := c.Post(ctx, "app.bsky.actor.putPreferences", map[string]any{"preferences": prefs}, nil); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	acked := map[string]string{} // path -> cid
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			var res struct{ URI, CID string }
			if err := c.Post(ctx, "com.atproto.repo.createRecord", map[string]any{"repo": did, "collection": "app.bsky.feed.post",
				"record": map[string]any{"text": fmt.Sprintf("during the backup #%d", i), "createdAt": "2026-11-22T10:00:00Z"}}, &res); err != nil {
				t.Errorf("write during the backup: %v", err)
				return
			}
			mu.Lock()
			acked[strings.TrimPrefix(res.URI, "at://"+did+"/")] = res.CID
			mu.Unlock()
		}
	}()
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	before := map[string]string{}
	for k, v := range acked {
		before[k] = v
	}
	mu.Unlock()

	tmp := t.TempDir()
	pass := writeFile(t, filepath.Join(tmp, "pass"), "correct horse battery staple\n")
	file := filepath.Join(tmp, "pds.backup")
	start := time.Now()
	out, stderr, err = runChild(t, "backup", "create", "--data-dir", dir, "--out", file, "--passphrase-file", pass)
	took := time.Since(start)
	time.Sleep(100 * time.Millisecond) // writes go on after it too
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("backup create while serving: %v\n%s", err, stderr)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("backup create while serving: %s, %d bytes, %d writes acknowledged before it, %d in all\n%s", took, fi.Size(), len(before), len(acked), out)
	if len(before) == 0 || !strings.Contains(out, "backup written to") {
		t.Fatalf("%d writes before the backup; output %q", len(before), out)
	}
	head := out[strings.Index(out, "head ")+len("head "):]
	head = head[:strings.IndexAny(head, "];")]

	// Refusals, each leaving nothing behind.
	wrong := writeFile(t, filepath.Join(tmp, "wrong"), "not the passphrase\n")
	full, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	truncated := writeFile(t, filepath.Join(tmp, "truncated.backup"), string(full[:len(full)*2/3]))
	occupied := t.TempDir()
	writeFile(t, filepath.Join(occupied, "mine.txt"), "keep")
	for _, tc := range []struct {
		name, in, pass, target, want string
	}{
		{"wrong passphrase", file, wrong, "", "wrong passphrase"},
		{"non-empty folder", file, pass, occupied, "is not empty"},
		{"truncated file", truncated, pass, "", "damaged or incomplete"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			target := tc.target
			if target == "" {
				target = filepath.Join(parent, "restored")
			}
			_, stderr, err := runChild(t, "backup", "restore", "--in", tc.in, "--data-dir", target, "--passphrase-file", tc.pass)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("restore: %v, stderr %q, want it to say %q", err, stderr, tc.want)
			}
			if left, _ := os.ReadDir(parent); len(left) != 0 {
				t.Fatalf("left behind: %v", left)
			}
			if tc.target != "" {
				if left, _ := os.ReadDir(tc.target); len(left) != 1 {
					t.Fatalf("the non-empty folder changed: %v", left)
				}
			}
		})
	}

	restored := filepath.Join(t.TempDir(), "restored")
	out, stderr, err = runChild(t, "backup", "restore", "--in", file, "--data-dir", restored, "--passphrase-file", pass)
	if err != nil || !strings.Contains(out, "restored into") {
		t.Fatalf("restore: %v\n%s\n%s", err, out, stderr)
	}
	stopServe(t, srv)
	rcommon := []string{"--data-dir", restored, "--public-url", url, "--plc-url", plc.URL}
	srv = startServe(t, port, rcommon)

	var latest struct{ CID, Rev string }
	if err := c.Get(ctx, "com.atproto.sync.getLatestCommit", map[string]any{"did": did}, &latest); err != nil || latest.CID != head {
		t.Fatalf("restored head %s (%v), the backup's was %s", latest.CID, err, head)
	}
	records := verifyCAR(t, getRepo(t, url, did))
	for path, want := range before {
		if got, ok := records[path]; !ok || got.String() != want {
			t.Fatalf("write %s was acknowledged before the backup started but is not in the restored repo", path)
		}
	}
	resp, err := http.Get(url + "/xrpc/com.atproto.sync.getBlob?did=" + did + "&cid=" + blobRef.Ref.Link)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, backupPNG) {
		t.Fatalf("restored blob: %d, %d bytes", resp.StatusCode, len(got))
	}
	// The same password logs in; preferences came back.
	c, err = atclient.LoginWithPasswordHost(ctx, url, "bk.test", "backup-pw-123", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var gotPrefs struct{ Preferences []map[string]any }
	if err := c.Get(ctx, "app.bsky.actor.getPreferences", nil, &gotPrefs); err != nil || len(gotPrefs.Preferences) != 1 || gotPrefs.Preferences[0]["enabled"] != true {
		t.Fatalf("restored preferences %+v %v", gotPrefs, err)
	}
	// A new commit on the restored PDS verifies with the DID document's
	// signing key (the original key).
	var res struct{ URI, CID string }
	if err := c.Post(ctx, "com.atproto.repo.createRecord", map[string]any{"repo": did, "collection": "app.bsky.feed.post",
		"record": map[string]any{"text": "after the restore", "createdAt": "2026-11-22T11:00:00Z"}}, &res); err != nil {
		t.Fatal(err)
	}
	car := getRepo(t, url, did)
	commit, err := repo.VerifyCommitSignatureFromCar(ctx, &dirs, car)
	if err != nil {
		t.Fatalf("the restored PDS's new commit does not verify with the DID document's key: %v", err)
	}
	if records := verifyCAR(t, car); records[strings.TrimPrefix(res.URI, "at://"+did+"/")].String() != res.CID || commit.Rev <= latest.Rev {
		t.Fatalf("the new write is not the head (rev %s after %s)", commit.Rev, latest.Rev)
	}

	// hearthd export needs the folder to itself; then it writes the
	// portable export.
	zipPath := filepath.Join(t.TempDir(), "leaving.zip")
	if _, stderr, err := runChild(t, append([]string{"export", "--out", zipPath}, rcommon...)...); err == nil || !strings.Contains(stderr, "in use") {
		t.Fatalf("export while serving: %v %s", err, stderr)
	}
	stopServe(t, srv)
	if out, stderr, err := runChild(t, append([]string{"export", "--out", zipPath}, rcommon...)...); err != nil || !strings.Contains(out, "exported 1 account") {
		t.Fatalf("export: %v\n%s\n%s", err, out, stderr)
	}
	checkExportZip(t, zipPath, did, &dirs)
}

// checkExportZip: the CAR verifies against the DID document, blobs hash
// to their CIDs, the PLC log parses, the recovery key is labelled.
func checkExportZip(t *testing.T, path, did string, dirs identity.Directory) {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = zr.Close() }()
	prefix := strings.ReplaceAll(did, ":", "_") + "/"
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name] = b
	}
	if _, err := repo.VerifyCommitSignatureFromCar(context.Background(), dirs, files[prefix+"repo.car"]); err != nil {
		t.Fatalf("exported CAR: %v", err)
	}
	verifyCAR(t, files[prefix+"repo.car"])
	blobs := 0
	for name, b := range files {
		if rest, ok := strings.CutPrefix(name, prefix+"blobs/"); ok {
			c, err := cid.Decode(rest)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := c.Prefix().Sum(b); err != nil || !got.Equals(c) {
				t.Fatalf("exported blob %s hashes to %s", c, got)
			}
			blobs++
		}
	}
	var ops []map[string]any
	if err := json.Unmarshal(files[prefix+"plc-audit-log.json"], &ops); err != nil || len(ops) == 0 || ops[0]["did"] != did {
		t.Fatalf("PLC log: %v %v", ops, err)
	}
	key := string(files[prefix+"RECOVERY-KEY.txt"])
	if blobs != 1 || !strings.Contains(key, "PRIVATE rotation key (secp256k1, hex): ") || !strings.Contains(key, "did:key:z") {
		t.Fatalf("%d blobs; recovery key file:\n%s", blobs, key)
	}
	if !json.Valid(files[prefix+"preferences.json"]) {
		t.Fatal("preferences.json is not JSON")
	}
}
