package firehose_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/gorilla/websocket"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds/actorrepo"
	"github.com/hearth-pds/hearth/pds/firehose"
	"github.com/hearth-pds/hearth/pds/repos"
	"github.com/hearth-pds/hearth/pds/xrpc"
)

// stalledDialer dials with a small socket receive buffer; the connections
// it makes are never read, so the server backs up after a few frames.
var stalledDialer = websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if err := c.(*net.TCPConn).SetReadBuffer(8 << 10); err != nil {
		_ = c.Close() // the dial fails with the SetReadBuffer error
		return nil, err
	}
	return c, nil
}}

// subscribeURL is the subscribeRepos URL with a cursor ("" for none).
func subscribeURL(p *testpds.PDS, cursor string) string {
	u := strings.Replace(p.URL, "http://", "ws://", 1) + "/xrpc/com.atproto.sync.subscribeRepos"
	if cursor != "" {
		u += "?cursor=" + cursor
	}
	return u
}

// dialStalled connects a subscriber that never reads.
func dialStalled(t testing.TB, p *testpds.PDS, cursor string) *websocket.Conn {
	t.Helper()
	conn, resp, err := stalledDialer.Dial(subscribeURL(p, cursor), nil)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	t.Cleanup(func() { _ = conn.Close() }) // cleanup; the test has its result
	return conn
}

// expectRefused dials and checks the handshake is answered status with an
// XRPC error body naming name.
func expectRefused(t *testing.T, p *testpds.PDS, status int, name string) {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(subscribeURL(p, ""), nil)
	if err == nil {
		_ = conn.Close()
		t.Fatalf("subscriber beyond the cap was admitted")
	}
	if resp == nil {
		t.Fatalf("no HTTP answer: %v", err)
	}
	defer resp.Body.Close()
	var body struct{ Error, Message string }
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status || json.Unmarshal(b, &body) != nil || body.Error != name || body.Message == "" {
		t.Fatalf("refusal = %d %s, want %d with error %s", resp.StatusCode, b, status, name)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("refusal without Retry-After")
	}
}

// seedEvents makes n commits of one record of about size bytes each.
func seedEvents(t testing.TB, p *testpds.PDS, did string, n, size int) {
	t.Helper()
	text := strings.Repeat("x", size)
	for i := 0; i < n; i++ {
		if _, err := p.Engine.Repos.ApplyWrites(ctx, syntax.DID(did), []repos.Write{{Action: actorrepo.Create, Collection: "com.example.blob",
			Record: map[string]any{"data": text, "i": i}}}, repos.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestStalledReplaySubscribersStayBounded: subscribers that ask for the
// whole log (cursor=0) and never read hold at most SubscriberBytes of
// frames each, whatever the log holds; the heap does not grow with the
// history; subscriber N+1 is refused before the upgrade.
func TestStalledReplaySubscribersStayBounded(t *testing.T) {
	const (
		subs     = 60
		perSub   = 64 << 10
		events   = 2000
		recBytes = 2000
	)
	p := testpds.StartWithOptions(t, nil, xrpc.Options{Firehose: firehose.Config{
		RingSize: 64, MaxSubscribers: subs, MaxSubscribersPerAddr: subs, SubscriberBytes: perSub, WriteTimeout: time.Minute}})
	hub := p.Server.Firehose()
	a := p.CreateAccount(t, "alice.test")
	seedEvents(t, p, a.DID, events, recBytes) // ~4.5 MB of frames, mostly out of the ring
	base := heapInUse()

	for i := 0; i < subs; i++ {
		dialStalled(t, p, "0")
	}
	// Every subscriber is registered, and has backed up: the server's
	// writes block and nothing moves for a while.
	deadline := time.Now().Add(30 * time.Second)
	for hub.Stats().Subscribers != subs {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d subscribers registered", hub.Stats().Subscribers, subs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)

	st := hub.Stats()
	grown := int64(heapInUse()) - int64(base)
	if st.Lagging != subs {
		t.Fatalf("only %d of %d subscribers are stalled in the history: %+v", st.Lagging, subs, st)
	}
	t.Logf("%d stalled cursor=0 subscribers on %d events: %+v; heap grew %d KiB (%d KiB each)", subs, events, st, grown>>10, grown/subs>>10)
	if st.PeakBuffered > perSub || st.MaxBuffered > perSub {
		t.Fatalf("a subscriber held %d bytes of frames (peak %d), cap %d", st.MaxBuffered, st.PeakBuffered, perSub)
	}
	if st.Buffered > subs*perSub {
		t.Fatalf("subscribers hold %d bytes in all, more than %d x %d", st.Buffered, subs, perSub)
	}
	// The frames held plus fixed buffers (write and batching buffers,
	// goroutines: under 256 KiB) per connection, with room for the GC.
	if limit := int64(subs) * (perSub + 512<<10); grown > limit {
		t.Fatalf("heap grew %d KiB with %d stalled subscribers, limit %d KiB", grown>>10, subs, limit>>10)
	}
	// Subscriber N+1 is refused before the upgrade.
	expectRefused(t, p, http.StatusServiceUnavailable, "ServiceUnavailable")
	if got := hub.Stats().Refused; got != 1 {
		t.Fatalf("Stats().Refused = %d, want 1", got)
	}
}

// TestLoopbackIsNotCappedPerAddress: direct loopback connections (the
// owner's own tools) are exempt from the per-address cap, as from the
// rate limits; the total cap still counts them.
func TestLoopbackIsNotCappedPerAddress(t *testing.T) {
	p := testpds.StartWithOptions(t, nil, xrpc.Options{Firehose: firehose.Config{MaxSubscribersPerAddr: 2, MaxSubscribers: 3}})
	for range 3 {
		dial(t, p, "")
	}
	expectRefused(t, p, http.StatusServiceUnavailable, "ServiceUnavailable")
}

// TestPerAddressCap: one client address (through the tunnel) gets
// MaxSubscribersPerAddr connections, the next is answered 429 before the
// upgrade, and a closed connection frees its place.
func TestPerAddressCap(t *testing.T) {
	p := testpds.StartThroughTunnel(t, xrpc.Options{Firehose: firehose.Config{MaxSubscribersPerAddr: 2}})
	hub := p.Server.Firehose()
	first := dial(t, p, "")
	dial(t, p, "")
	expectRefused(t, p, http.StatusTooManyRequests, "RateLimitExceeded")
	if err := first.conn.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for hub.Stats().Connections != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("closed connection still counted: %+v", hub.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	s := dial(t, p, "")
	a := p.CreateAccount(t, "alice.test")
	if f := s.next(10 * time.Second); f == nil || f.Seq() != 1 {
		t.Fatalf("re-admitted subscriber got %+v", f)
	}
	if st := hub.Stats(); st.Refused != 1 || st.Connections != 2 {
		t.Fatalf("stats %+v, want 1 refused and 2 connections (after %s was created)", st, a.Handle)
	}
}
