package repos_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds/actorrepo"
	"github.com/hearth-pds/hearth/pds/repos"
	"github.com/hearth-pds/hearth/pds/store"
)

// seedRecords writes n records of about size bytes each to did's repo in
// batches.
func seedRecords(t testing.TB, p *testpds.PDS, did syntax.DID, n, size int) {
	t.Helper()
	text := strings.Repeat("x", size)
	for done := 0; done < n; {
		var ws []repos.Write
		for ; len(ws) < 200 && done < n; done++ {
			ws = append(ws, repos.Write{Action: actorrepo.Create, Collection: "com.example.blob",
				Record: map[string]any{"data": text, "i": done}})
		}
		if _, err := p.Engine.Repos.ApplyWrites(ctx, did, ws, repos.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// stallingClient is an HTTP client whose connections have a tiny receive
// buffer, so a response body nobody reads backs the server up at once.
func stallingClient(t testing.TB) *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if err := c.(*net.TCPConn).SetReadBuffer(8 << 10); err != nil {
				_ = c.Close() // the dial fails with the SetReadBuffer error
				return nil, err
			}
			return c, nil
		},
		MaxConnsPerHost:    0,
		DisableCompression: true,
	}
	// Closing the connections ends the stalled exports before the server
	// shuts down (cleanups run last-registered first).
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// TestStalledExportsDoNotBlockWrites: many getRepo downloads whose clients
// read nothing must not keep the owner from writing. They once held the
// account's write lock while waiting for a read connection, and took every
// read connection the write path needs too.
func TestStalledExportsDoNotBlockWrites(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	did := syntax.DID(a.DID)
	const records = 3000
	seedRecords(t, p, did, records, 2000) // a ~6 MB CAR: far more than socket buffers hold
	owner := p.Login(t, a)
	before, err := p.Engine.Repos.LatestCommit(ctx, did)
	if err != nil {
		t.Fatal(err)
	}
	page, _, err := p.Engine.Repos.ListRecords(ctx, repos.ListRecordsQuery{Repo: did, Collection: "com.example.blob", Limit: 1})
	if err != nil || len(page) != 1 {
		t.Fatalf("list records: %v", err)
	}
	firstRkey := page[0].URI[strings.LastIndex(page[0].URI, "/")+1:]

	const exports = 12
	client := stallingClient(t)
	type result struct {
		resp *http.Response
		err  error
	}
	results := make(chan result, exports)
	reqCtx, cancel := context.WithCancel(ctx)
	taken := 0 // results the test took off the channel for good
	for i := 0; i < exports; i++ {
		go func() {
			req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, p.URL+"/xrpc/com.atproto.sync.getRepo?did="+a.DID, nil)
			if err != nil {
				results <- result{nil, err}
				return
			}
			resp, err := client.Do(req)
			results <- result{resp, err}
		}()
	}
	t.Cleanup(func() {
		cancel() // abandons the downloads still waiting
		for i := taken; i < exports; i++ {
			if r := <-results; r.resp != nil {
				_ = r.resp.Body.Close() // ends the stalled download
			}
		}
	})
	// Wait until several exports stream (their headers arrived, their
	// bodies are stalled), and give the others time to queue.
	var open []*http.Response
	waitStart := time.After(30 * time.Second)
	for len(open) < 3 {
		select {
		case r := <-results:
			if r.err != nil {
				t.Fatalf("getRepo: %v", r.err)
			}
			if r.resp.StatusCode == http.StatusOK {
				open = append(open, r.resp)
				taken++
			} else {
				taken++
				_ = r.resp.Body.Close() // a refusal: only streaming exports count here
			}
		case <-waitStart:
			t.Fatalf("only %d exports started streaming", len(open))
		}
	}
	defer func() {
		for _, r := range open {
			_ = r.Body.Close()
		}
	}()
	time.Sleep(200 * time.Millisecond)

	// The owner's write completes while the exports are stalled.
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		done <- owner.Post(ctx, "com.atproto.repo.createRecord", map[string]any{"repo": a.DID, "collection": "com.example.blob",
			"record": map[string]any{"data": "written during the exports"}}, nil)
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("createRecord during stalled exports: %v", err)
		}
		t.Logf("createRecord took %v with %d exports stalled", time.Since(start), exports)
	case <-time.After(2 * time.Second):
		t.Fatalf("createRecord still blocked after 2s with %d stalled exports", exports)
	}

	after, err := p.Engine.Repos.LatestCommit(ctx, did)
	if err != nil || after.CID == before.CID {
		t.Fatalf("the write did not move the head: %v", err)
	}
	// Proofs, getBlocks and listBlobs do not queue behind the stalled
	// exports either.
	for _, q := range []string{
		"com.atproto.sync.getRecord?did=" + a.DID + "&collection=com.example.blob&rkey=" + firstRkey,
		"com.atproto.sync.getBlocks?did=" + a.DID + "&cids=" + after.CID,
		"com.atproto.sync.listBlobs?did=" + a.DID,
		"com.atproto.sync.getLatestCommit?did=" + a.DID,
	} {
		start := time.Now()
		resp, err := http.Get(p.URL + "/xrpc/" + q)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || time.Since(start) > 2*time.Second {
			t.Fatalf("%s during stalled exports: %d after %v", q, resp.StatusCode, time.Since(start))
		}
	}
	// The owner's own export to a file takes no slot: it is not turned
	// away while strangers' downloads hold them all.
	lctx, lcancel := context.WithTimeout(ctx, 2*time.Second)
	defer lcancel()
	if err := p.Engine.Repos.ExportRepoLocal(lctx, did, "", io.Discard, nil); err != nil {
		t.Fatalf("local export during stalled downloads: %v", err)
	}
	// They were still open (each holding a streamed-read slot, never more
	// than the store allows)...
	if got := p.Engine.Repos.OpenExports(); got != store.MaxLongReads {
		t.Fatalf("%d streamed reads open after the write, want %d", got, store.MaxLongReads)
	}
	// ...and each is a snapshot from before the write: its root and first
	// block are the commit the write replaced.
	cr, err := actorrepo.NewCARReader(open[0].Body)
	if err != nil {
		t.Fatalf("read a stalled export: %v", err)
	}
	first, err := cr.Next()
	if err != nil {
		t.Fatalf("read a stalled export: %v", err)
	}
	if cr.Roots[0].String() != before.CID || first.CID.String() != before.CID {
		t.Fatalf("stalled export has root %s, first block %s; want the commit before the write %s", cr.Roots[0], first.CID, before.CID)
	}
}
