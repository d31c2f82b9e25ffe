package xrpc_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	zstddict "github.com/klauspost/compress/dict"
	"github.com/klauspost/compress/zstd"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds/firehose"
	"github.com/hearth-pds/hearth/pds/xrpc"
)

// jsEvent is a /subscribe message as an app reads it.
type jsEvent struct {
	DID    string `json:"did"`
	TimeUS int64  `json:"time_us"`
	Kind   string `json:"kind"`
	Commit *struct {
		Rev        string         `json:"rev"`
		Operation  string         `json:"operation"`
		Collection string         `json:"collection"`
		RKey       string         `json:"rkey"`
		Record     map[string]any `json:"record"`
		CID        string         `json:"cid"`
	} `json:"commit"`
	Identity *struct {
		Handle string `json:"handle"`
	} `json:"identity"`
	Account *struct {
		Active bool `json:"active"`
	} `json:"account"`
	raw []byte
}

func jsDial(t *testing.T, p *testpds.PDS, query string) *websocket.Conn {
	t.Helper()
	u := strings.Replace(p.URL, "http://", "ws://", 1) + "/subscribe?" + query
	ws, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", u, err, resp)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return ws
}

// jsRead reads n messages (failing after 10 s).
func jsRead(t *testing.T, ws *websocket.Conn, n int) []jsEvent {
	t.Helper()
	var out []jsEvent
	for len(out) < n {
		if err := ws.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		typ, msg, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("after %d of %d messages: %v", len(out), n, err)
		}
		if typ != websocket.TextMessage {
			t.Fatalf("message type %d, want text", typ)
		}
		var e jsEvent
		if err := json.Unmarshal(msg, &e); err != nil {
			t.Fatalf("message %s: %v", msg, err)
		}
		e.raw = msg
		out = append(out, e)
	}
	return out
}

// Filters (a wildcard prefix and a DID), the op shapes and cursor replay:
// a subscriber with a cursor from before the writes gets exactly alice's
// app.bsky.feed.* ops, in order, with the records, CIDs and revs the writes
// returned; a second subscriber with the cursor of the second message gets
// the same bytes from there on.
func TestJetstreamFiltersShapesAndCursor(t *testing.T) {
	p := testpds.Start(t, nil)
	alice, bob := p.CreateAccount(t, "alice.test"), p.CreateAccount(t, "bob.test")
	ca, cb := p.Login(t, alice), p.Login(t, bob)
	start := time.Now().UnixMicro()

	create(t, cb, bob.DID, "app.bsky.feed.post", post("bob's"))
	p1 := create(t, ca, alice.DID, "app.bsky.feed.post", post("hello <world> & all"))
	like := create(t, ca, alice.DID, "app.bsky.feed.like", map[string]any{"$type": "app.bsky.feed.like",
		"subject": map[string]any{"uri": p1.URI, "cid": p1.CID}, "createdAt": "2024-01-01T00:00:00.000Z"})
	create(t, ca, alice.DID, "app.bsky.graph.follow", map[string]any{"$type": "app.bsky.graph.follow",
		"subject": bob.DID, "createdAt": "2024-01-01T00:00:00.000Z"})
	var del struct {
		Commit struct{ Rev string } `json:"commit"`
	}
	if err := ca.Post(ctx, "com.atproto.repo.deleteRecord", map[string]any{"repo": alice.DID, "collection": "app.bsky.feed.post", "rkey": rkeyOf(p1.URI)}, &del); err != nil {
		t.Fatal(err)
	}

	q := url.Values{"wantedCollections": {"app.bsky.feed.*"}, "wantedDids": {alice.DID}, "cursor": {fmt.Sprint(start)}}
	got := jsRead(t, jsDial(t, p, q.Encode()), 3)
	want := []struct{ op, col, rkey, cid, rev string }{
		{"create", "app.bsky.feed.post", rkeyOf(p1.URI), p1.CID, p1.Commit.Rev},
		{"create", "app.bsky.feed.like", rkeyOf(like.URI), like.CID, like.Commit.Rev},
		{"delete", "app.bsky.feed.post", rkeyOf(p1.URI), "", del.Commit.Rev},
	}
	for i, w := range want {
		e := got[i]
		if e.Kind != "commit" || e.DID != alice.DID || e.Commit == nil {
			t.Fatalf("message %d: %s", i, e.raw)
		}
		c := e.Commit
		if c.Operation != w.op || c.Collection != w.col || c.RKey != w.rkey || c.CID != w.cid || c.Rev != w.rev {
			t.Errorf("message %d = %s, want %+v", i, e.raw, w)
		}
		if i > 0 && e.TimeUS <= got[i-1].TimeUS {
			t.Errorf("time_us %d after %d", e.TimeUS, got[i-1].TimeUS)
		}
	}
	if got[0].Commit.Record["text"] != "hello <world> & all" || got[0].Commit.Record["$type"] != "app.bsky.feed.post" {
		t.Errorf("record: %s", got[0].raw)
	}
	if got[2].Commit.Record != nil || strings.Contains(string(got[2].raw), `"record"`) || strings.Contains(string(got[2].raw), `"cid"`) {
		t.Errorf("delete carries a record or cid: %s", got[2].raw)
	}
	if !strings.HasPrefix(string(got[0].raw), `{"did":"`+alice.DID+`","time_us":`) {
		t.Errorf("field order: %s", got[0].raw)
	}

	q.Set("cursor", fmt.Sprint(got[1].TimeUS))
	again := jsRead(t, jsDial(t, p, q.Encode()), 2)
	for i := range again {
		if string(again[i].raw) != string(got[i+1].raw) {
			t.Errorf("replay %d:\n got %s\nwant %s", i, again[i].raw, got[i+1].raw)
		}
	}

	// Identity and account messages pass a collection filter (they have
	// no collection) but not a DID filter.
	all := jsRead(t, jsDial(t, p, url.Values{"wantedCollections": {"app.bsky.graph.follow"}, "cursor": {"0"}}.Encode()), 5)
	kinds := ""
	for _, e := range all {
		kinds += e.Kind + ":" + strings.TrimPrefix(e.DID, "did:plc:")[:4] + " "
	}
	for _, e := range all[:4] {
		if e.Kind == "commit" {
			t.Fatalf("a commit before the follow: %s", kinds)
		}
	}
	if all[4].Kind != "commit" || all[4].Commit.Collection != "app.bsky.graph.follow" {
		t.Fatalf("messages: %s", kinds)
	}
}

// Live: a subscriber without a cursor gets writes made after it connected.
func TestJetstreamLive(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	ws := jsDial(t, p, "wantedCollections=app.bsky.feed.post")
	// The connection is registered asynchronously: write until one arrives.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			var out createOut
			if err := c.Post(ctx, "com.atproto.repo.createRecord", map[string]any{"repo": a.DID, "collection": "app.bsky.feed.post", "record": post("live")}, &out); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	got := jsRead(t, ws, 1)
	close(stop)
	<-done
	if got[0].Commit == nil || got[0].Commit.Record["text"] != "live" {
		t.Fatalf("live message: %s", got[0].raw)
	}
}

// requireHello: nothing is sent until the subscriber's options_update,
// whose filters then apply; maxMessageSizeBytes drops larger messages.
func TestJetstreamHelloAndMaxSize(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	create(t, c, a.DID, "app.bsky.feed.post", post(strings.Repeat("long ", 50)))
	short := create(t, c, a.DID, "app.bsky.feed.post", post("short"))
	follow := create(t, c, a.DID, "app.bsky.graph.follow", map[string]any{"$type": "app.bsky.graph.follow",
		"subject": a.DID, "createdAt": "2024-01-01T00:00:00.000Z"})

	ws := jsDial(t, p, "requireHello=true&cursor=0")
	// A server that did not wait would send the posts meanwhile, unfiltered.
	time.Sleep(300 * time.Millisecond)
	hello := fmt.Sprintf(`{"type":"options_update","payload":{"wantedCollections":["app.bsky.graph.follow"],"wantedDids":[%q]}}`, a.DID)
	if err := ws.WriteMessage(websocket.TextMessage, []byte(hello)); err != nil {
		t.Fatal(err)
	}
	got := jsRead(t, ws, 3) // identity, account, then the follow
	if got[2].Commit == nil || got[2].Commit.RKey != rkeyOf(follow.URI) {
		t.Fatalf("after hello: %s", got[2].raw)
	}

	// identity, account (no collection: they pass), then the two posts
	sizes := jsRead(t, jsDial(t, p, "wantedCollections=app.bsky.feed.post&cursor=0"), 4)[2:]
	limit := len(sizes[1].raw)
	if len(sizes[0].raw) <= limit {
		t.Fatalf("the long post (%d bytes) is not longer than the short one (%d)", len(sizes[0].raw), limit)
	}
	ws = jsDial(t, p, fmt.Sprintf("wantedCollections=app.bsky.feed.post&cursor=0&maxMessageSizeBytes=%d", limit))
	if got := jsRead(t, ws, 3); got[2].Commit == nil || got[2].Commit.RKey != rkeyOf(short.URI) {
		t.Fatalf("with maxMessageSizeBytes: %s", got[2].raw)
	}

	// A bad options_update ends the stream.
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"options_update","payload":{"wantedDids":["nope"]}}`)); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseNormalClosure || !strings.Contains(ce.Text, "invalid did") {
		t.Fatalf("after a bad options_update: %v", err)
	}
}

// Bad parameters get a clear 400; the firehose's per-address cap counts
// /subscribe connections too.
func TestJetstreamRefusals(t *testing.T) {
	p := testpds.StartThroughTunnel(t, xrpc.Options{Firehose: firehose.Config{MaxSubscribersPerAddr: 1}})
	ws := strings.Replace(p.URL, "http://", "ws://", 1) + "/subscribe?"
	for _, tc := range []struct{ query, header, want string }{
		{"wantedCollections=not..nsid", "", "invalid collection"},
		{"wantedDids=alice", "", "invalid subscriber options"},
		{"cursor=yesterday", "", "invalid cursor"},
		{"compress=true", "", "compression"},
		{"", "zstd", "compression"},
	} {
		h := http.Header{}
		if tc.header != "" {
			h.Set("Socket-Encoding", tc.header)
		}
		_, resp, err := websocket.DefaultDialer.Dial(ws+tc.query, h)
		if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%q: %v %v", tc.query, err, resp)
		}
		var b strings.Builder
		_, _ = fmt.Fprint(&b, readAll(t, resp))
		if !strings.Contains(b.String(), tc.want) {
			t.Errorf("%q: body %q, want %q", tc.query, b.String(), tc.want)
		}
	}
	if st, _, _ := raw(t, "GET", p.URL+"/subscribe", "", "", nil); st != http.StatusBadRequest {
		t.Errorf("plain GET: %d", st)
	}
	jsDial(t, p, "")
	_, resp, err := websocket.DefaultDialer.Dial(ws, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second connection from one address: %v %v", err, resp)
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer func() { _ = resp.Body.Close() }()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// A /subscribe client that stops reading holds at most one page of frames
// (SubscriberBytes, or one larger frame) on the server, and is dropped
// (its write times out, or it falls out of the ring) instead of growing.
func TestJetstreamStalledClientIsBounded(t *testing.T) {
	cfg := firehose.Config{RingSize: 16, SubscriberBytes: 64 << 10, SocketBytes: 8 << 10, WriteTimeout: time.Second}
	p := testpds.StartWithOptions(t, nil, xrpc.Options{Firehose: cfg})
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	d := websocket.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
		conn, err := net.Dial(network, addr)
		if err == nil {
			err = conn.(*net.TCPConn).SetReadBuffer(4 << 10)
		}
		return conn, err
	}}
	u := strings.Replace(p.URL, "http://", "ws://", 1) + "/subscribe"
	ws, _, err := d.Dial(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ws.Close() }()
	big := strings.Repeat("x", 30_000)
	for i := range 60 {
		create(t, c, a.DID, "com.example.big", map[string]any{"$type": "com.example.big", "n": i, "data": big})
	}
	hub := p.Server.Firehose()
	deadline := time.Now().Add(15 * time.Second)
	for hub.Stats().Connections > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("stalled subscriber still connected: %+v", hub.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
	st := hub.Stats()
	if st.Served != 1 || st.PeakBuffered == 0 {
		t.Fatalf("the subscriber was never served: %+v", st)
	}
	if st.PeakBuffered > int64(cfg.SubscriberBytes)+64<<10 {
		t.Fatalf("a stalled subscriber held %d bytes (limit %d + one frame)", st.PeakBuffered, cfg.SubscriberBytes)
	}
}

// With a zstd dictionary configured, compress=true (or Socket-Encoding:
// zstd) gets each message as a binary frame compressed with it, which
// decompresses to exactly the uncompressed stream's message.
func TestJetstreamZstd(t *testing.T) {
	var samples [][]byte
	for i := range 200 {
		samples = append(samples, []byte(fmt.Sprintf(`{"did":"did:plc:sample%d","time_us":%d,"kind":"commit","commit":{"rev":"3l%d","operation":"create","collection":"app.bsky.feed.post","rkey":"3k%d","record":{"$type":"app.bsky.feed.post","createdAt":"2024-01-01T00:00:00.000Z","text":"sample %d"},"cid":"bafyrei%d"}}`, i, 1700000000000000+i, i, i, i, i)))
	}
	dict, err := zstddict.BuildZstdDict(samples, zstddict.Options{MaxDictSize: 4096, HashBytes: 6, ZstdDictID: 1})
	if err != nil {
		t.Fatal(err)
	}
	p := testpds.StartWithOptions(t, nil, xrpc.Options{JetstreamZstdDictionary: dict})
	a := p.CreateAccount(t, "alice.test")
	create(t, p.Login(t, a), a.DID, "app.bsky.feed.post", post("squeeze me"))
	plain := jsRead(t, jsDial(t, p, "cursor=0&wantedCollections=app.bsky.feed.post"), 3)

	dec, err := zstd.NewReader(nil, zstd.WithDecoderDicts(dict))
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	u := strings.Replace(p.URL, "http://", "ws://", 1) + "/subscribe?cursor=0&wantedCollections=app.bsky.feed.post"
	for _, h := range []http.Header{{}, {"Socket-Encoding": {"zstd"}}} {
		q := u
		if len(h) == 0 {
			q += "&compress=true"
		}
		ws, _, err := websocket.DefaultDialer.Dial(q, h)
		if err != nil {
			t.Fatal(err)
		}
		for i := range plain {
			_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
			typ, msg, err := ws.ReadMessage()
			if err != nil || typ != websocket.BinaryMessage {
				t.Fatalf("message %d: type %d, %v", i, typ, err)
			}
			got, err := dec.DecodeAll(msg, nil)
			if err != nil || string(got) != string(plain[i].raw) {
				t.Fatalf("message %d decompressed to %q (%v), want %s", i, got, err, plain[i].raw)
			}
		}
		_ = ws.Close()
	}
}
