package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
)

// The crash loop: hearthd is SIGKILLed at random points while it writes
// records, imports a CAR of a few thousand records and takes blob uploads.
// After every kill `hearthd verify` must pass on the folder, and after the
// restart every acknowledged write and upload must be there (blobs with the
// bytes that were sent), and an import must be all or nothing: the repo is
// the one before it or the imported one, never a mix. The kill points and
// the order of the rounds come from a seed that is logged
// (HEARTH_CRASH_SEED=N replays them; goroutine timing still varies).

const (
	crashRounds   = 12
	crashBudget   = 40 * time.Second // no new round starts after this
	importRecords = 3000             // the smaller CAR; the larger has 1000 more
)

// xrpcClient is a logged-in client on one server.
type xrpcClient struct {
	url, token string
	hc         *http.Client
}

// call sends an XRPC request; body is JSON-encoded unless it is []byte
// (sent as contentType). A non-2xx answer is an error.
func (c *xrpcClient) call(method, nsid, query string, body any, contentType string, out any) error {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd, contentType = bytes.NewReader(j), "application/json"
	}
	u := c.url + "/xrpc/" + nsid
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: HTTP %d %s", nsid, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func login(t *testing.T, url, handle, password string) *xrpcClient {
	t.Helper()
	c := &xrpcClient{url: url, hc: &http.Client{Timeout: 30 * time.Second}}
	var s struct{ AccessJwt string }
	if err := c.call(http.MethodPost, "com.atproto.server.createSession", "", map[string]any{"identifier": handle, "password": password}, "", &s); err != nil {
		t.Fatal(err)
	}
	c.token = s.AccessJwt
	return c
}

// crashServer starts and kills hearthd serve on one data folder and port.
type crashServer struct {
	t      *testing.T
	url    string
	common []string
	port   int
	cmd    *exec.Cmd
}

func (s *crashServer) start() {
	s.t.Helper()
	s.cmd = child(s.t, nil, append([]string{"serve", "--listen", fmt.Sprintf("127.0.0.1:%d", s.port)}, s.common...)...)
	s.cmd.Stderr = io.Discard
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	waitReady(s.t, s.url)
}

func (s *crashServer) kill() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		s.t.Fatal(err)
	}
	_ = s.cmd.Wait() // "signal: killed", as intended
}

func (s *crashServer) stop() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	if err := s.cmd.Wait(); err != nil {
		s.t.Fatalf("graceful shutdown: %v", err)
	}
}

// verifyOffline runs `hearthd verify` on the folder (server stopped).
func (s *crashServer) verifyOffline(what string) {
	s.t.Helper()
	out, err := child(s.t, nil, append([]string{"verify"}, s.common...)...).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("everything verifies")) {
		s.t.Fatalf("%s: hearthd verify after kill -9: %v\n%s", what, err, out)
	}
}

func crashSeed(t *testing.T) uint64 {
	if v := os.Getenv("HEARTH_CRASH_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("HEARTH_CRASH_SEED=%q: %v", v, err)
		}
		return n
	}
	return uint64(time.Now().UnixNano())
}

// records is a repo's records, path → CID.
type records map[string]cid.Cid

func sameRecords(a, b records) bool {
	return maps.EqualFunc(a, b, func(x, y cid.Cid) bool { return x.Equals(y) })
}

// createMany adds n posts with applyWrites, 200 per commit.
func createMany(t *testing.T, c *xrpcClient, did string, n int, tag string) {
	t.Helper()
	for done := 0; done < n; {
		var writes []map[string]any
		for ; len(writes) < 200 && done < n; done++ {
			writes = append(writes, map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.feed.post",
				"value": map[string]any{"$type": "app.bsky.feed.post", "text": fmt.Sprintf("%s %d", tag, done), "createdAt": "2026-11-22T10:00:00Z"}})
		}
		if err := c.call(http.MethodPost, "com.atproto.repo.applyWrites", "", map[string]any{"repo": did, "writes": writes}, "", nil); err != nil {
			t.Fatal(err)
		}
	}
}

type upload struct {
	cid  string
	hash [32]byte
}

// TestCrashLoopKeepsAcknowledgedData: a bounded kill -9 loop over record
// writes, CAR imports and blob uploads (see the top of this file).
func TestCrashLoopKeepsAcknowledgedData(t *testing.T) {
	t0 := time.Now()
	seed := crashSeed(t)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	t.Logf("crash loop seed %d (HEARTH_CRASH_SEED=%d replays the kill points and rounds)", seed, seed)

	dir := t.TempDir()
	port := freePort(t)
	srv := &crashServer{t: t, port: port, url: fmt.Sprintf("http://localhost:%d", port),
		common: []string{"--data-dir", dir, "--public-url", fmt.Sprintf("http://localhost:%d", port), "--plc-url", "http://127.0.0.1:9"}}
	const handle, password = "loop.test", "crash-loop-pw"
	out, err := child(t, nil, append([]string{"account", "create", "--handle", handle, "--password", password}, srv.common...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("account create: %v\n%s", err, out)
	}
	did := string(bytes.TrimSpace(out))

	// Two CARs of this account to import: a few thousand records each.
	srv.start()
	c := login(t, srv.url, handle, password)
	createMany(t, c, did, importRecords, "first")
	carA := getRepo(t, srv.url, did)
	createMany(t, c, did, 1000, "second")
	carB := getRepo(t, srv.url, did)
	recsA, recsB := verifyCAR(t, carA), verifyCAR(t, carB)
	// How long one import takes here (it sets the kill window of the
	// import rounds).
	start := time.Now()
	if err := c.call(http.MethodPost, "com.atproto.repo.importRepo", "", carA, "application/vnd.ipld.car", nil); err != nil {
		t.Fatal(err)
	}
	importTook := time.Since(start)
	t.Logf("set-up: CARs of %d and %d records (%d and %d bytes); one import takes %v", len(recsA), len(recsB), len(carA), len(carB), importTook.Round(time.Millisecond))

	kinds := []string{"writes", "writes", "writes", "writes", "import", "import", "import", "import", "import"}
	for len(kinds) < crashRounds {
		kinds = append(kinds, []string{"writes", "import"}[rng.IntN(2)])
	}
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })

	var uploads []upload // every acknowledged upload, all rounds
	var nWrites, nUploads, nImportsApplied, nImportsNot, rounds int
	for round, kind := range kinds {
		if round >= 4 && time.Since(t0) > crashBudget {
			t.Logf("time budget reached after %d rounds", round)
			break
		}
		rounds++
		c := login(t, srv.url, handle, password)
		before := verifyCAR(t, getRepo(t, srv.url, did))
		var mu sync.Mutex
		acked := records{}
		var roundUploads []upload
		importAcked := false
		target, targetRecs := carA, recsA
		if sameRecords(before, recsA) {
			target, targetRecs = carB, recsB
		}
		stop := make(chan struct{})
		stopped := func() bool {
			select {
			case <-stop:
				return true
			default:
				return false
			}
		}
		var wg sync.WaitGroup
		// Blob uploads run in every round; in writes rounds each is also
		// referenced by a record.
		wrng := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stopped(); i++ {
				data := make([]byte, 1024+wrng.IntN(128<<10))
				for j := range data {
					data[j] = byte(wrng.Uint32())
				}
				var res struct {
					Blob map[string]any `json:"blob"`
				}
				if err := c.call(http.MethodPost, "com.atproto.repo.uploadBlob", "", data, "application/octet-stream", &res); err != nil {
					return // the server died under us
				}
				ref, _ := res.Blob["ref"].(map[string]any)
				link, _ := ref["$link"].(string)
				mu.Lock()
				roundUploads = append(roundUploads, upload{cid: link, hash: sha256.Sum256(data)})
				mu.Unlock()
				if kind != "writes" {
					continue
				}
				var rec struct{ URI, CID string }
				if err := c.call(http.MethodPost, "com.atproto.repo.createRecord", "", map[string]any{"repo": did, "collection": "com.example.crash.file",
					"record": map[string]any{"$type": "com.example.crash.file", "file": res.Blob, "n": i}}, "", &rec); err != nil {
					return
				}
				mu.Lock()
				acked[rec.URI[len("at://"+did+"/"):]] = cid.MustParse(rec.CID)
				mu.Unlock()
			}
		}()
		var killAfter time.Duration
		switch kind {
		case "writes":
			for w := 0; w < 2; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; !stopped(); i++ {
						var res struct{ URI, CID string }
						if err := c.call(http.MethodPost, "com.atproto.repo.createRecord", "", map[string]any{"repo": did, "collection": "app.bsky.feed.post",
							"record": map[string]any{"$type": "app.bsky.feed.post", "text": fmt.Sprintf("round %d writer %d #%d", round, w, i), "createdAt": "2026-11-22T10:00:00Z"}}, "", &res); err != nil {
							return
						}
						mu.Lock()
						acked[res.URI[len("at://"+did+"/"):]] = cid.MustParse(res.CID)
						mu.Unlock()
					}
				}()
			}
			killAfter = time.Duration(50+rng.IntN(700)) * time.Millisecond
		case "import":
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.call(http.MethodPost, "com.atproto.repo.importRepo", "", target, "application/vnd.ipld.car", nil); err == nil {
					mu.Lock()
					importAcked = true
					mu.Unlock()
				}
			}()
			// Between half and twice the time one import took alone (uploads
			// run alongside): the kill falls while the import is read,
			// rebuilt or committed, or just after it was acknowledged.
			killAfter = importTook/2 + time.Duration(rng.Int64N(int64(importTook)*3/2+1))
		}
		time.Sleep(killAfter)
		srv.kill()
		close(stop)
		wg.Wait()
		srv.verifyOffline(fmt.Sprintf("round %d (%s, killed after %v)", round, kind, killAfter.Round(time.Millisecond)))

		srv.start()
		after := verifyCAR(t, getRepo(t, srv.url, did))
		switch kind {
		case "writes":
			want := maps.Clone(before)
			maps.Copy(want, acked)
			for path, wc := range want {
				if got, ok := after[path]; !ok || !got.Equals(wc) {
					t.Fatalf("round %d (writes, killed after %v): record %s (acknowledged or there before) lost: %d acknowledged, %d stored",
						round, killAfter, path, len(acked), len(after))
				}
			}
			nWrites += len(acked)
		case "import":
			switch {
			case sameRecords(after, targetRecs):
				nImportsApplied++
			case importAcked:
				t.Fatalf("round %d: the acknowledged import is not the repo after kill -9 (%d records, want %d)", round, len(after), len(targetRecs))
			case sameRecords(after, before):
				nImportsNot++
			default:
				t.Fatalf("round %d (import, killed after %v): the repo is neither the one before the import (%d records) nor the imported one (%d): %d records",
					round, killAfter, len(before), len(targetRecs), len(after))
			}
		}
		uploads = append(uploads, roundUploads...)
		nUploads += len(roundUploads)
		for _, u := range uploads {
			var got []byte
			if err := func() error {
				resp, err := http.Get(srv.url + "/xrpc/com.atproto.sync.getBlob?did=" + did + "&cid=" + u.cid)
				if err != nil {
					return err
				}
				defer func() { _ = resp.Body.Close() }()
				got, err = io.ReadAll(resp.Body)
				if err == nil && resp.StatusCode != 200 {
					err = fmt.Errorf("HTTP %d %s", resp.StatusCode, got)
				}
				return err
			}(); err != nil {
				t.Fatalf("round %d: acknowledged upload %s lost after kill -9: %v", round, u.cid, err)
			}
			if sha256.Sum256(got) != u.hash {
				t.Fatalf("round %d: blob %s does not hold the bytes uploaded", round, u.cid)
			}
		}
		t.Logf("round %d (%s): killed after %v; %d acknowledged writes, %d uploads this round, import acknowledged %v; repo %d records",
			round, kind, killAfter.Round(time.Millisecond), len(acked), len(roundUploads), importAcked, len(after))
	}
	srv.stop()
	t.Logf("%d kill -9 rounds in %v (seed %d): %d acknowledged writes and %d uploads all present, imports applied %d / not applied %d, never half",
		rounds, time.Since(t0).Round(time.Millisecond), seed, nWrites, nUploads, nImportsApplied, nImportsNot)
}
