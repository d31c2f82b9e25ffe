// Package jetstream_test proves that Hearth's /subscribe sends what Bluesky's
// own Jetstream sends. The real classic Jetstream (cmd/jetstream, run as a
// subprocess on loopback) is pointed at a live Hearth's subscribeRepos
// (JETSTREAM_WS_URL) before any account exists; a subscriber on each side
// then receives a mixed workload live: posts (with HTML-sensitive and
// non-ASCII text), an image post (a blob ref), a record with a bytes field,
// likes, follows, putRecord updates, deletes, an applyWrites batch, a handle
// change (identity), deactivate and activate (account), account creation.
// The two streams must carry the same messages in the same order, byte for
// byte once time_us is taken out: time_us is each server's own clock
// (Jetstream stamps a message when it sequences it; Hearth when the event
// entered its log), so it cannot be equal; Hearth's is checked to be
// strictly increasing instead.
//
// Jetstream runs with one worker so that it handles events in firehose
// order (with more, events of different accounts may be reordered), with a
// long liveness TTL (it exits after 15 s without events by default) and its
// upstream cursor forced to 0 (so nothing Hearth sent before it connected
// is lost).
//
// The test skips without JETSTREAM_BIN; scripts/test-jetstream.sh builds the
// binary and sets JETSTREAM_REQUIRED=1, which turns a skip into a failure.
package jetstream_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	comatproto "github.com/bluesky-social/indigo/api/atproto"
	"github.com/bluesky-social/indigo/atproto/atclient"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/gorilla/websocket"
	"github.com/klauspost/compress/zstd"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds/xrpc"
)

var ctx = context.Background()

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String()
}

// startJetstream runs the real Jetstream against upstream and returns its
// /subscribe URL once it answers.
func startJetstream(t *testing.T, bin, upstream string) string {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(bin)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.Env = append(os.Environ(),
		"JETSTREAM_WS_URL="+upstream,
		"JETSTREAM_LISTEN_ADDR="+addr,
		"JETSTREAM_METRICS_LISTEN_ADDR="+freeAddr(t),
		"JETSTREAM_DATA_DIR="+t.TempDir(),
		"JETSTREAM_WORKER_COUNT=1",
		"JETSTREAM_LIVENESS_TTL=10m",
		"JETSTREAM_OVERRIDE_RELAY_CURSOR=0",
	)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start jetstream: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("jetstream log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return "ws://" + addr + "/subscribe"
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("jetstream did not come up on %s: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// collector reads a stream's messages until one contains marker.
type collector struct {
	name string
	ws   *websocket.Conn
	msgs [][]byte
	err  error
	done chan struct{}
}

func collect(t *testing.T, name, u, marker string) *collector {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatalf("%s: dial %s: %v (%v)", name, u, err, resp)
	}
	c := &collector{name: name, ws: ws, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			if err := ws.SetReadDeadline(time.Now().Add(60 * time.Second)); err != nil {
				c.err = err
				return
			}
			_, msg, err := ws.ReadMessage()
			if err != nil {
				c.err = err
				return
			}
			c.msgs = append(c.msgs, msg)
			if bytes.Contains(msg, []byte(marker)) {
				return
			}
		}
	}()
	t.Cleanup(func() { _ = ws.Close() })
	return c
}

var timeUS = regexp.MustCompile(`^(\{"did":"[^"]+","time_us":)(\d+)(,)`)

func TestRealJetstreamMatchesSubscribe(t *testing.T) {
	bin := os.Getenv("JETSTREAM_BIN")
	if bin == "" {
		if os.Getenv("JETSTREAM_REQUIRED") != "" {
			t.Fatal("JETSTREAM_REQUIRED is set but JETSTREAM_BIN is not")
		}
		t.Skip("JETSTREAM_BIN is not set: this test runs the real Jetstream; use `make test-jetstream` (scripts/test-jetstream.sh)")
	}
	// Jetstream's zstd dictionary (scripts/test-jetstream.sh finds it in the
	// module): Hearth compresses with it as Jetstream does.
	var dict []byte
	if path := os.Getenv("JETSTREAM_ZSTD_DICT"); path != "" {
		var err error
		if dict, err = os.ReadFile(path); err != nil {
			t.Fatal(err)
		}
	} else if os.Getenv("JETSTREAM_REQUIRED") != "" {
		t.Fatal("JETSTREAM_REQUIRED is set but JETSTREAM_ZSTD_DICT is not")
	}
	p := testpds.StartWithOptions(t, nil, xrpc.Options{JetstreamZstdDictionary: dict})
	host := strings.TrimPrefix(p.URL, "http://")
	jsURL := startJetstream(t, bin, "ws://"+host+"/xrpc/com.atproto.sync.subscribeRepos")

	marker := fmt.Sprintf("the end %d", time.Now().UnixNano())
	theirs := collect(t, "jetstream", jsURL, marker)
	ours := collect(t, "hearth", "ws://"+host+"/subscribe", marker)
	time.Sleep(time.Second) // both subscribers registered before the first event

	alice := workload(t, p, marker)

	for _, c := range []*collector{theirs, ours} {
		select {
		case <-c.done:
		case <-time.After(90 * time.Second):
			t.Fatalf("%s: no marker after 90 s (%d messages)", c.name, len(c.msgs))
		}
		if c.err != nil {
			t.Fatalf("%s: stream ended after %d messages: %v", c.name, len(c.msgs), c.err)
		}
	}
	t.Logf("jetstream sent %d messages, hearth %d", len(theirs.msgs), len(ours.msgs))
	if len(ours.msgs) < 28 { // what the workload makes (see workload)
		t.Fatalf("only %d messages: the workload did not run", len(ours.msgs))
	}
	kinds := map[string]int{}
	last := int64(0)
	for i := range max(len(ours.msgs), len(theirs.msgs)) {
		if i >= len(ours.msgs) || i >= len(theirs.msgs) {
			t.Fatalf("message %d: only one side has it:\n jetstream %d messages\n hearth %d messages", i, len(theirs.msgs), len(ours.msgs))
		}
		var us int64
		o := timeUS.ReplaceAllStringFunc(string(ours.msgs[i]), func(s string) string {
			m := timeUS.FindStringSubmatch(s)
			_, _ = fmt.Sscan(m[2], &us)
			return m[1] + "0" + m[3]
		})
		th := timeUS.ReplaceAllString(string(theirs.msgs[i]), "${1}0${3}")
		if o != th {
			t.Fatalf("message %d differs:\n jetstream %s\n hearth    %s", i, th, o)
		}
		if us <= last {
			t.Fatalf("message %d: hearth's time_us %d after %d", i, us, last)
		}
		last = us
		var e struct {
			Kind   string `json:"kind"`
			Commit *struct {
				Operation string `json:"operation"`
			} `json:"commit"`
		}
		if err := json.Unmarshal(ours.msgs[i], &e); err != nil {
			t.Fatal(err)
		}
		k := e.Kind
		if e.Commit != nil {
			k += "/" + e.Commit.Operation
		}
		kinds[k]++
	}
	for _, k := range []string{"identity", "account", "commit/create", "commit/update", "commit/delete"} {
		if kinds[k] == 0 {
			t.Errorf("the workload produced no %s message: %v", k, kinds)
		}
	}
	t.Logf("identical: %v", kinds)

	// Replay with filters, from the start and from the 10th message (each
	// side's own time_us for it): the same messages again.
	usOf := func(msg []byte) string { return timeUS.FindStringSubmatch(string(msg))[2] }
	for _, q := range []string{
		"wantedCollections=app.bsky.feed.*",
		"wantedCollections=app.bsky.feed.post&wantedDids=" + alice,
		"wantedCollections=com.example.*&wantedCollections=app.bsky.feed.post&maxMessageSizeBytes=400",
	} {
		for _, k := range []int{0, 10} {
			theirQ, ourQ := q+"&cursor="+usOf(theirs.msgs[k]), q+"&cursor="+usOf(ours.msgs[k])
			if k == 0 {
				theirQ, ourQ = q+"&cursor=0", q+"&cursor=0"
			}
			th := collect(t, "jetstream replay", jsURL+"?"+theirQ, marker)
			o := collect(t, "hearth replay", "ws://"+host+"/subscribe?"+ourQ, marker)
			for _, c := range []*collector{th, o} {
				select {
				case <-c.done:
				case <-time.After(30 * time.Second):
					t.Fatalf("%s %s: no marker after 30 s (%d messages)", c.name, q, len(c.msgs))
				}
			}
			if len(th.msgs) != len(o.msgs) {
				t.Fatalf("%s from message %d: jetstream replayed %d messages, hearth %d", q, k, len(th.msgs), len(o.msgs))
			}
			for i := range th.msgs {
				a, b := timeUS.ReplaceAllString(string(th.msgs[i]), "${1}0${3}"), timeUS.ReplaceAllString(string(o.msgs[i]), "${1}0${3}")
				if a != b {
					t.Fatalf("%s from message %d, message %d differs:\n jetstream %s\n hearth    %s", q, k, i, a, b)
				}
			}
			t.Logf("replay %s from message %d: %d identical messages", q, k, len(o.msgs))
		}
	}
	if dict == nil {
		return
	}

	// Compressed (compress=true): binary frames that Jetstream's dictionary
	// decompresses to the same messages on both sides.
	dec, err := zstd.NewReader(nil, zstd.WithDecoderDicts(dict))
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	th := collectZstd(t, dec, jsURL+"?compress=true&cursor=0", len(theirs.msgs))
	o := collectZstd(t, dec, "ws://"+host+"/subscribe?compress=true&cursor=0", len(ours.msgs))
	for i := range th {
		a, b := timeUS.ReplaceAllString(th[i], "${1}0${3}"), timeUS.ReplaceAllString(o[i], "${1}0${3}")
		if a != b {
			t.Fatalf("compressed message %d differs:\n jetstream %s\n hearth    %s", i, a, b)
		}
	}
	t.Logf("compressed with Jetstream's dictionary: %d identical messages", len(o))
}

// collectZstd reads n binary messages from u and decompresses them.
func collectZstd(t *testing.T, dec *zstd.Decoder, u string, n int) []string {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", u, err, resp)
	}
	defer func() { _ = ws.Close() }()
	var out []string
	for len(out) < n {
		if err := ws.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
			t.Fatal(err)
		}
		typ, msg, err := ws.ReadMessage()
		if err != nil || typ != websocket.BinaryMessage {
			t.Fatalf("%s: message %d: type %d, %v", u, len(out), typ, err)
		}
		b, err := dec.DecodeAll(msg, nil)
		if err != nil {
			t.Fatalf("%s: message %d does not decompress: %v", u, len(out), err)
		}
		out = append(out, string(b))
	}
	return out
}

func mustPost(t *testing.T, c *atclient.APIClient, method string, in, out any) {
	t.Helper()
	if err := c.Post(ctx, syntax.NSID(method), in, out); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
}

type created struct {
	URI string `json:"uri"`
	CID string `json:"cid"`
}

// workload runs the mixed workload, ending with alice's post of marker,
// and returns alice's DID.
func workload(t *testing.T, p *testpds.PDS, marker string) string {
	t.Helper()
	alice := p.CreateAccount(t, "alice.test")
	bob := p.CreateAccount(t, "bob.test")
	ac, bc := p.Login(t, alice), p.Login(t, bob)
	now := "2024-05-01T12:00:00.000Z"
	mk := func(c *atclient.APIClient, did, col string, rec map[string]any) created {
		var out created
		rec["$type"] = col
		mustPost(t, c, "com.atproto.repo.createRecord", map[string]any{"repo": did, "collection": col, "record": rec}, &out)
		return out
	}
	p1 := mk(ac, alice.DID, "app.bsky.feed.post", map[string]any{"text": "<b>hi</b> & \"quotes\" — ünïcødé 🔥 \u2028", "createdAt": now, "langs": []any{"en"}})
	p2 := mk(bc, bob.DID, "app.bsky.feed.post", map[string]any{"text": "bob's first", "createdAt": now})
	mk(ac, alice.DID, "app.bsky.feed.like", map[string]any{"subject": map[string]any{"uri": p2.URI, "cid": p2.CID}, "createdAt": now})
	mk(bc, bob.DID, "app.bsky.feed.repost", map[string]any{"subject": map[string]any{"uri": p1.URI, "cid": p1.CID}, "createdAt": now})
	mk(ac, alice.DID, "app.bsky.graph.follow", map[string]any{"subject": bob.DID, "createdAt": now})
	mk(bc, bob.DID, "app.bsky.graph.follow", map[string]any{"subject": alice.DID, "createdAt": now})
	mk(ac, alice.DID, "com.example.thing", map[string]any{"bytes": map[string]any{"$bytes": "aGVsbG8gd29ybGQ"}, "n": 42, "nested": map[string]any{"z": true, "a": nil, "list": []any{1, "two"}}})

	// An image post: the record holds a blob ref.
	up, err := comatproto.RepoUploadBlob(ctx, ac, bytes.NewReader(pngBytes))
	if err != nil {
		t.Fatalf("uploadBlob: %v", err)
	}
	mk(ac, alice.DID, "app.bsky.feed.post", map[string]any{"text": "with an image", "createdAt": now,
		"embed": map[string]any{"$type": "app.bsky.embed.images", "images": []any{map[string]any{"alt": "dot", "image": up.Blob}}}})

	mustPost(t, ac, "com.atproto.repo.putRecord", map[string]any{"repo": alice.DID, "collection": "app.bsky.actor.profile", "rkey": "self",
		"record": map[string]any{"$type": "app.bsky.actor.profile", "displayName": "Alice"}}, nil)
	mustPost(t, ac, "com.atproto.repo.putRecord", map[string]any{"repo": alice.DID, "collection": "app.bsky.actor.profile", "rkey": "self",
		"record": map[string]any{"$type": "app.bsky.actor.profile", "displayName": "Alice A.", "description": "updated"}}, nil)
	mustPost(t, bc, "com.atproto.repo.deleteRecord", map[string]any{"repo": bob.DID, "collection": "app.bsky.feed.post", "rkey": p2.URI[strings.LastIndex(p2.URI, "/")+1:]}, nil)

	var writes []any
	for i := range 5 {
		writes = append(writes, map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": "com.example.batch", "rkey": fmt.Sprintf("batch%d", i),
			"value": map[string]any{"$type": "com.example.batch", "text": fmt.Sprint("batch ", i), "createdAt": now}})
	}
	mustPost(t, ac, "com.atproto.repo.applyWrites", map[string]any{"repo": alice.DID, "writes": writes}, nil)
	mustPost(t, ac, "com.atproto.repo.applyWrites", map[string]any{"repo": alice.DID, "writes": []any{
		map[string]any{"$type": "com.atproto.repo.applyWrites#update", "collection": "com.example.batch", "rkey": "batch0",
			"value": map[string]any{"$type": "com.example.batch", "text": "batch 0 edited", "createdAt": now}},
		map[string]any{"$type": "com.atproto.repo.applyWrites#delete", "collection": "com.example.batch", "rkey": "batch1"},
	}}, nil)

	mustPost(t, ac, "com.atproto.identity.updateHandle", map[string]any{"handle": "alice2.test"}, nil)
	mustPost(t, bc, "com.atproto.server.deactivateAccount", map[string]any{}, nil)
	mustPost(t, bc, "com.atproto.server.activateAccount", nil, nil)
	mk(bc, bob.DID, "app.bsky.feed.post", map[string]any{"text": "back", "createdAt": now})
	mk(ac, alice.DID, "app.bsky.feed.post", map[string]any{"text": marker, "createdAt": now})
	return alice.DID
}

// pngBytes starts like a PNG (the upload sniffs the type).
var pngBytes = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), bytes.Repeat([]byte{7}, 200)...)
