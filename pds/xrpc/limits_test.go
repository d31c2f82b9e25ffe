package xrpc_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/gorilla/websocket"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds/edge"
	"github.com/hearth-pds/hearth/pds/xrpc"
)

// checkLimitHeaders checks the RateLimit-* headers of a limited answer.
func checkLimitHeaders(t *testing.T, h http.Header, limit, remaining int, window time.Duration) {
	t.Helper()
	if h.Get("RateLimit-Limit") != strconv.Itoa(limit) || h.Get("RateLimit-Remaining") != strconv.Itoa(remaining) ||
		h.Get("RateLimit-Policy") != fmt.Sprintf("%d;w=%d", limit, int(window.Seconds())) {
		t.Fatalf("RateLimit headers %v, want limit %d remaining %d window %s", h, limit, remaining, window)
	}
	reset, err := strconv.ParseInt(h.Get("RateLimit-Reset"), 10, 64)
	if now := time.Now().Unix(); err != nil || reset < now || reset > now+int64(window.Seconds())+1 {
		t.Fatalf("RateLimit-Reset = %q", h.Get("RateLimit-Reset"))
	}
}

// createSession through the tunnel: 30 per 5 minutes per address (the
// reference's numbers), then 429 with the headers; another address and
// direct loopback connections are not affected.
func TestRateLimitCreateSession(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	tun := tunnelURL(t, p)
	for i := 0; i < 30; i++ {
		st, h, b := login(t, tun, "203.0.113.20", a.Handle, a.Password)
		if st != http.StatusOK {
			t.Fatalf("login %d: %d %s", i, st, b)
		}
		checkLimitHeaders(t, h, 30, 29-i, 5*time.Minute)
	}
	st, h, b := login(t, tun, "203.0.113.20", a.Handle, a.Password)
	xrpcErr(t, st, b, http.StatusTooManyRequests, "RateLimitExceeded")
	checkLimitHeaders(t, h, 30, 0, 5*time.Minute)
	if h.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	if st, _, b := login(t, tun, "203.0.113.21", a.Handle, a.Password); st != http.StatusOK {
		t.Fatalf("other address: %d %s", st, b)
	}
	// Direct loopback: never limited, and no X-Forwarded-For can make it so.
	for i := 0; i < 31; i++ {
		st, h, b := login(t, p.URL, "203.0.113.20", a.Handle, a.Password)
		if st != http.StatusOK || h.Get("RateLimit-Limit") != "" {
			t.Fatalf("loopback login %d: %d %v %s", i, st, h, b)
		}
	}
}

// Writes spend the reference's repo-write points (create 3, update 2,
// delete 1; applyWrites per write) of the client address; uploadBlob and
// createAccount have their own budgets.
func TestRateLimitWritePoints(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	access, _ := tokens(p.Login(t, a))
	tun := tunnelURL(t, p)
	const from = "203.0.113.30"
	st, h, b := call(t, tun, from, access, "com.atproto.repo.createRecord", map[string]any{"repo": a.DID, "collection": "app.bsky.feed.post", "rkey": "3kaaaaaaaaaa2", "record": post("one")})
	if st != http.StatusOK {
		t.Fatalf("createRecord: %d %s", st, b)
	}
	checkLimitHeaders(t, h, 5000, 4997, time.Hour)
	st, h, b = call(t, tun, from, access, "com.atproto.repo.putRecord", map[string]any{"repo": a.DID, "collection": "app.bsky.feed.post", "rkey": "3kaaaaaaaaaa2", "record": post("two")})
	if st != http.StatusOK {
		t.Fatalf("putRecord: %d %s", st, b)
	}
	checkLimitHeaders(t, h, 5000, 4995, time.Hour)
	writes := []map[string]any{}
	for i := 0; i < 4; i++ {
		writes = append(writes, map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.feed.post", "value": post("w")})
	}
	writes = append(writes, map[string]any{"$type": "com.atproto.repo.applyWrites#delete", "collection": "app.bsky.feed.post", "rkey": "3kaaaaaaaaaa2"})
	st, h, b = call(t, tun, from, access, "com.atproto.repo.applyWrites", map[string]any{"repo": a.DID, "writes": writes})
	if st != http.StatusOK {
		t.Fatalf("applyWrites: %d %s", st, b)
	}
	checkLimitHeaders(t, h, 5000, 4982, time.Hour)

	req, err := http.NewRequest(http.MethodPost, tun+"/xrpc/com.atproto.repo.uploadBlob", strings.NewReader("\x89PNG\r\n\x1a\nxxxx"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+access)
	req.Header.Set("Content-Type", "image/png")
	req.Header.Set("X-Forwarded-For", from)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("uploadBlob: %d", resp.StatusCode)
	}
	checkLimitHeaders(t, resp.Header, 300, 299, time.Hour)

	st, h, _ = call(t, tun, from, "", "com.atproto.server.createAccount", map[string]any{"handle": "eve.test", "password": "eve-password", "inviteCode": "nope"})
	if st != http.StatusBadRequest {
		t.Fatalf("createAccount without a valid invite: %d", st)
	}
	checkLimitHeaders(t, h, 100, 99, 5*time.Minute)
}

// A client that sends headers and then dribbles (or stalls) its body is
// cut off at the body deadline with a 408.
func TestSlowBodyCutOff(t *testing.T) {
	p := testpds.StartWithOptions(t, nil, xrpc.Options{BodyTimeout: 300 * time.Millisecond})
	addr := strings.TrimPrefix(p.URL, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	if _, err := fmt.Fprintf(conn, "POST /xrpc/com.atproto.server.createSession HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"identifier\":", addr); err != nil {
		t.Fatal(err)
	}
	// The client's own bound: the server must answer well before it.
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	xrpcErr(t, resp.StatusCode, body, http.StatusRequestTimeout, "InvalidRequest")
	if bytes.Contains(body, []byte("127.0.0.1")) || bytes.Contains(body, []byte("i/o")) {
		t.Fatalf("error body carries internals: %s", body)
	}
}

// subscribeRepos (no body, hijacked) outlives every server timeout: with
// header, idle and body timeouts of 200 ms the subscriber still gets a
// commit made a second later.
func TestSubscribeReposOutlivesTimeouts(t *testing.T) {
	p := testpds.StartWithOptions(t, nil, xrpc.Options{BodyTimeout: 200 * time.Millisecond})
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := edge.NewServerWith(p.Server, edge.Limits{ReadHeaderTimeout: 200 * time.Millisecond, IdleTimeout: 200 * time.Millisecond, MaxHeaderBytes: 16 << 10})
	go func() { _ = srv.Serve(ln) }() // ends with Close below
	defer func() { _ = srv.Close() }()
	seq, err := p.Engine.Events.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := websocket.DefaultDialer.Dial(fmt.Sprintf("ws://%s/xrpc/com.atproto.sync.subscribeRepos?cursor=%d", ln.Addr(), seq), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ws.Close() }()
	time.Sleep(time.Second)
	out := create(t, c, a.DID, "app.bsky.feed.post", post("late"))
	if err := ws.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("subscriber cut off: %v", err)
		}
		if bytes.Contains(msg, []byte(syntax.ATURI(out.URI).RecordKey().String())) {
			return
		}
	}
}
