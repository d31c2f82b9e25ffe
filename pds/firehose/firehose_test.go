package firehose_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	comatproto "github.com/bluesky-social/indigo/api/atproto"
	"github.com/bluesky-social/indigo/atproto/atclient"
	"github.com/bluesky-social/indigo/atproto/repo"
	"github.com/gorilla/websocket"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds/events"
	"github.com/hearth-pds/hearth/pds/firehose"
	"github.com/hearth-pds/hearth/pds/xrpc"
)

var ctx = context.Background()

type sub struct {
	t    *testing.T
	conn *websocket.Conn
}

func dial(t *testing.T, p *testpds.PDS, cursor string) *sub {
	t.Helper()
	u := strings.Replace(p.URL, "http://", "ws://", 1) + "/xrpc/com.atproto.sync.subscribeRepos"
	if cursor != "" {
		u += "?cursor=" + cursor
	}
	conn, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", u, err, resp)
	}
	t.Cleanup(func() { _ = conn.Close() }) // cleanup; the test already has its result
	return &sub{t: t, conn: conn}
}

// next reads one frame (with a timeout); nil on close/timeout. After a
// timeout the connection is unusable (gorilla/websocket), so only time out
// at the end of a test.
func (s *sub) next(timeout time.Duration) *events.Frame {
	s.t.Helper()
	if err := s.conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		s.t.Fatal(err)
	}
	typ, b, err := s.conn.ReadMessage()
	if err != nil {
		return nil
	}
	if typ != websocket.BinaryMessage {
		s.t.Fatalf("frame of type %d", typ)
	}
	f, err := events.Decode(b)
	if err != nil {
		s.t.Fatalf("decode frame: %v", err)
	}
	return f
}

// collect reads frames until n have arrived.
func (s *sub) collect(n int) []*events.Frame {
	s.t.Helper()
	var out []*events.Frame
	for len(out) < n {
		f := s.next(10 * time.Second)
		if f == nil {
			s.t.Fatalf("stream ended after %d of %d frames", len(out), n)
		}
		out = append(out, f)
	}
	return out
}

// verifyFrames checks seqs increase by one and every commit/sync verifies
// the way a relay checks it.
func verifyFrames(t *testing.T, p *testpds.PDS, frames []*events.Frame, firstSeq int64) {
	t.Helper()
	for i, f := range frames {
		if f.Op != 1 {
			t.Fatalf("frame %d is an error: %s %s", i, f.Error, f.Message)
		}
		if want := firstSeq + int64(i); f.Seq() != want {
			t.Fatalf("frame %d has seq %d, want %d (gap or duplicate)", i, f.Seq(), want)
		}
		switch {
		case f.Commit != nil:
			c := f.Commit
			if c.TooBig || c.Rebase || len(c.Blobs) != 0 {
				t.Fatalf("commit %d: tooBig=%v rebase=%v blobs=%v", c.Seq, c.TooBig, c.Rebase, c.Blobs)
			}
			if c.Since != nil && c.PrevData == nil {
				t.Fatalf("commit %d has since but no prevData", c.Seq)
			}
			if _, err := repo.VerifyCommitMessage(ctx, c); err != nil {
				t.Fatalf("commit %d: %v", c.Seq, err)
			}
			if err := repo.VerifyCommitSignature(ctx, p.Dir, c); err != nil {
				t.Fatalf("commit %d signature: %v", c.Seq, err)
			}
		case f.Sync != nil:
			if _, err := repo.VerifySyncMessage(ctx, p.Dir, f.Sync); err != nil {
				t.Fatalf("sync %d: %v", f.Sync.Seq, err)
			}
		}
	}
}

func kinds(frames []*events.Frame) string {
	var k []string
	for _, f := range frames {
		k = append(k, f.Kind)
	}
	return strings.Join(k, ",")
}

func post(text string) map[string]any {
	return map[string]any{"$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-11-22T10:00:00Z"}
}

type out struct {
	URI string `json:"uri"`
	CID string `json:"cid"`
}

func mustPost(t *testing.T, c *atclient.APIClient, did, text string) out {
	t.Helper()
	var o out
	if err := c.Post(ctx, "com.atproto.repo.createRecord", map[string]any{"repo": did, "collection": "app.bsky.feed.post", "record": post(text)}, &o); err != nil {
		t.Fatal(err)
	}
	return o
}

func rkey(uri string) string { return uri[strings.LastIndex(uri, "/")+1:] }

// workload runs a long mixed workload and returns how many events it made.
func workload(t *testing.T, p *testpds.PDS, a testpds.Account) int {
	c := p.Login(t, a)
	n := 0
	var posts []out
	for i := 0; i < 30; i++ {
		posts = append(posts, mustPost(t, c, a.DID, fmt.Sprint("post ", i)))
		n++
	}
	for i := 0; i < 10; i++ { // updates
		if err := c.Post(ctx, "com.atproto.repo.putRecord", map[string]any{"repo": a.DID, "collection": "app.bsky.feed.post", "rkey": rkey(posts[i].URI), "record": post(fmt.Sprint("edited ", i))}, nil); err != nil {
			t.Fatal(err)
		}
		n++
	}
	for i := 10; i < 20; i++ { // deletes
		if err := c.Post(ctx, "com.atproto.repo.deleteRecord", map[string]any{"repo": a.DID, "collection": "app.bsky.feed.post", "rkey": rkey(posts[i].URI)}, nil); err != nil {
			t.Fatal(err)
		}
		n++
	}
	for b := 0; b < 3; b++ { // applyWrites batches mixing all three
		writes := []any{}
		for i := 0; i < 40; i++ {
			writes = append(writes, map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.feed.like",
				"value": map[string]any{"subject": map[string]any{"uri": posts[0].URI, "cid": posts[0].CID}, "createdAt": "2026-11-22T10:00:00Z"}})
		}
		writes = append(writes,
			map[string]any{"$type": "com.atproto.repo.applyWrites#update", "collection": "app.bsky.feed.post", "rkey": rkey(posts[20+b].URI), "value": post("batch edit")},
			map[string]any{"$type": "com.atproto.repo.applyWrites#delete", "collection": "app.bsky.feed.post", "rkey": rkey(posts[25+b].URI)})
		if err := c.Post(ctx, "com.atproto.repo.applyWrites", map[string]any{"repo": a.DID, "writes": writes}, nil); err != nil {
			t.Fatal(err)
		}
		n++
	}
	// Import (the current export) -> #sync.
	car := p.GetRepo(t, a.DID, "")
	if err := comatproto.RepoImportRepo(ctx, c, bytes.NewReader(car)); err != nil {
		t.Fatal(err)
	}
	n++
	mustPost(t, c, a.DID, "after import")
	n++
	if err := comatproto.IdentityUpdateHandle(ctx, c, &comatproto.IdentityUpdateHandle_Input{Handle: "renamed-" + a.Handle}); err != nil {
		t.Fatal(err)
	}
	n++
	if err := c.Post(ctx, "com.atproto.server.deactivateAccount", map[string]any{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Post(ctx, "com.atproto.server.activateAccount", nil, nil); err != nil {
		t.Fatal(err)
	}
	n += 1 + 3 // deactivation: #account; activation: #account, #identity, #sync
	mustPost(t, c, a.DID, "back")
	n++
	return n
}

// newAccountEvents is what createAccount emits: #identity, #account,
// #commit and #sync (as the reference PDS).
const newAccountEvents = 4

func TestMixedWorkloadEveryFrameVerifies(t *testing.T) {
	p := testpds.Start(t, nil)
	live := dial(t, p, "")
	a := p.CreateAccount(t, "alice.test")
	n := newAccountEvents + workload(t, p, a)
	frames := live.collect(n)
	verifyFrames(t, p, frames, 1)
	if got := kinds(frames[:newAccountEvents]); got != "#identity,#account,#commit,#sync" {
		t.Fatalf("new account emitted %s", got)
	}
	all := kinds(frames)
	for _, want := range []string{"#sync", "#identity", "#account"} {
		if strings.Count(all, want) < 1 {
			t.Fatalf("no %s frame in %s", want, all)
		}
	}
	if got := kinds(frames[len(frames)-5:]); got != "#account,#account,#identity,#sync,#commit" {
		t.Fatalf("deactivate, activate, post emitted %s", got)
	}
	if f := frames[len(frames)-5]; f.Account == nil || f.Account.Active || f.Account.Status == nil || *f.Account.Status != "deactivated" {
		t.Fatalf("deactivation frame = %+v", f)
	}
	if f := live.next(300 * time.Millisecond); f != nil {
		t.Fatalf("unexpected extra frame %s seq %d", f.Kind, f.Seq())
	}

	// Replay from interesting cursors gives the same frames.
	for _, cursor := range []int64{0, 1, 2, 3, int64(n / 2), int64(n) - 1} {
		s := dial(t, p, fmt.Sprint(cursor))
		start := cursor + 1
		if cursor == 0 {
			start = 1
		}
		got := s.collect(n + 3 - int(start) + 1 - 3)
		verifyFrames(t, p, got, start)
		if extra := s.next(200 * time.Millisecond); extra != nil {
			t.Fatalf("cursor %d: extra frame seq %d", cursor, extra.Seq())
		}
	}
	// Cursor at the head: nothing, then live (the first frame must be the
	// new one; a read timeout would break the connection, so no probing).
	s := dial(t, p, fmt.Sprint(n))
	time.Sleep(100 * time.Millisecond)
	c := p.Login(t, a)
	mustPost(t, c, a.DID, "live again")
	verifyFrames(t, p, s.collect(1), int64(n)+1)

	// A future cursor is an error frame, then close.
	fut := dial(t, p, fmt.Sprint(n+100))
	f := fut.next(5 * time.Second)
	if f == nil || f.Op != -1 || f.Error != "FutureCursor" {
		t.Fatalf("future cursor got %+v", f)
	}
	if fut.next(2*time.Second) != nil {
		t.Fatal("connection stayed open after FutureCursor")
	}
}

func TestReplayToLiveSeamUnderLoad(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	for i := 0; i < 50; i++ {
		mustPost(t, c, a.DID, fmt.Sprint(i))
	}
	// The writer goroutine must not call t.Fatal (mustPost): it reports its
	// error on errc and the test goroutine fails.
	started := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		defer close(started) // also on an early error, so the test never hangs
		for i := 0; i < 150; i++ {
			if err := c.Post(ctx, "com.atproto.repo.createRecord", map[string]any{"repo": a.DID, "collection": "app.bsky.feed.post", "record": post(fmt.Sprint("live ", i))}, nil); err != nil {
				errc <- fmt.Errorf("live post %d: %w", i, err)
				return
			}
			if i == 20 {
				started <- struct{}{} // connect while writes are flowing
			}
		}
		errc <- nil
	}()
	<-started
	s := dial(t, p, "10")
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	total := newAccountEvents + 50 + 150
	frames := s.collect(total - 10)
	verifyFrames(t, p, frames, 11)
}

func TestRestartKeepsSeqAndCursor(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	for i := 0; i < 5; i++ {
		mustPost(t, c, a.DID, fmt.Sprint(i))
	}
	s := dial(t, p, "0")
	first := s.collect(newAccountEvents + 5)
	verifyFrames(t, p, first, 1)
	p = p.Restart(t)
	if s.next(2*time.Second) != nil {
		t.Fatal("frame after the server stopped")
	}
	c2, err := atclient.LoginWithPasswordHost(ctx, p.URL, a.Handle, a.Password, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	mustPost(t, c2, a.DID, "after restart")
	s2 := dial(t, p, fmt.Sprint(newAccountEvents+5))
	got := s2.collect(1)
	verifyFrames(t, p, got, newAccountEvents+6) // seq continues, never reused
}

func TestOutdatedCursorAndPruning(t *testing.T) {
	p := testpds.StartWithOptions(t, nil, xrpc.Options{Firehose: firehose.Config{MaxEvents: 10, PruneEvery: time.Hour}})
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	for i := 0; i < 30; i++ {
		mustPost(t, c, a.DID, fmt.Sprint(i))
	}
	// A subscriber parked at seq 5 protects what it has not read yet.
	slow := dial(t, p, "5")
	slow.collect(1)                    // it is connected and reading
	time.Sleep(100 * time.Millisecond) // let it get ahead a little, not to the end
	// Pruning now may only drop what the connected reader was already sent:
	// everything after frame 6 must still reach it, gap-free.
	p.Server.Firehose().Prune(ctx)
	rest := slow.collect(newAccountEvents + 30 - 6)
	verifyFrames(t, p, rest, 7)
	if err := slow.conn.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	p.Server.Firehose().Prune(ctx)
	oldest, _ := p.Engine.Events.OldestSeq(ctx)
	if want := int64(newAccountEvents + 30 - 10 + 1); oldest != want {
		t.Fatalf("after pruning to 10 events the oldest is %d, want %d", oldest, want)
	}
	s := dial(t, p, "3")
	f := s.next(5 * time.Second)
	if f == nil || f.Info == nil || f.Info.Name != "OutdatedCursor" {
		t.Fatalf("old cursor got %+v", f)
	}
	verifyFrames(t, p, s.collect(10), newAccountEvents+30-10+1)
}

// dialSmallBuffer dials like dial, with a small socket receive buffer so
// that a consumer that reads nothing backs the server up after few frames.
func dialSmallBuffer(t *testing.T, p *testpds.PDS) *sub {
	t.Helper()
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if err := c.(*net.TCPConn).SetReadBuffer(16 << 10); err != nil {
			_ = c.Close() // the dial fails with the SetReadBuffer error
			return nil, err
		}
		return c, nil
	}}
	u := strings.Replace(p.URL, "http://", "ws://", 1) + "/xrpc/com.atproto.sync.subscribeRepos"
	conn, resp, err := d.Dial(u, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", u, err, resp)
	}
	t.Cleanup(func() { _ = conn.Close() }) // cleanup; the test already has its result
	return &sub{t: t, conn: conn}
}

// TestSlowConsumerIsCut: a live consumer that reads nothing while large
// commits go out backs up the server's socket, falls out of the 16-event
// ring and, when it reads again, gets ConsumerTooSlow and is unregistered.
// Every step waits for an event (a frame, the hub reporting the consumer
// out of its ring, the close); the deadlines are only safety nets.
func TestSlowConsumerIsCut(t *testing.T) {
	// The server's write to the stalled consumer blocks for as long as the
	// test writes: a generous WriteTimeout keeps it from giving up first
	// (it would then close without ConsumerTooSlow).
	p := testpds.StartWithOptions(t, nil, xrpc.Options{Firehose: firehose.Config{RingSize: 16, WriteTimeout: 5 * time.Minute}})
	hub := p.Server.Firehose()
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	s := dialSmallBuffer(t, p)
	// It is live: it gets the next commit.
	mustPost(t, c, a.DID, "first")
	if f := s.next(30 * time.Second); f == nil || f.Commit == nil {
		t.Fatalf("live consumer's first frame = %+v", f)
	}
	if hub.Stats().Subscribers != 1 {
		t.Fatalf("%d subscribers registered, want 1", hub.Stats().Subscribers)
	}
	// Write large commits, reading nothing, until the hub reports that
	// the consumer fell out of the ring (socket buffers sizes vary: the
	// bound is a safety net).
	big := strings.Repeat("x", 200_000)
	const maxPosts = 1000
	posts := 0
	for ; !firehose.FellBehind(hub); posts++ {
		if posts == maxPosts {
			t.Fatalf("the consumer never fell out of the ring after %d large commits", maxPosts)
		}
		if err := c.Post(ctx, "com.atproto.repo.createRecord", map[string]any{"repo": a.DID, "collection": "com.example.big", "record": map[string]any{"data": big, "i": posts}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("out of the ring after %d large commits", posts)
	if st := hub.Stats(); st.Cut != 0 {
		t.Fatalf("cut before it read again: %+v", st)
	}
	// Reading again: the buffered frames, then the error frame, then the
	// close (a read error).
	var last *events.Frame
	frames := 0
	for {
		f := s.next(time.Minute)
		if f == nil {
			break
		}
		last = f
		frames++
	}
	if last == nil || last.Op != -1 || last.Error != "ConsumerTooSlow" {
		t.Fatalf("slow consumer's last frame (of %d) = %+v", frames, last)
	}
	if frames-1 >= posts {
		t.Fatalf("the cut consumer got %d commits, all %d written while it stalled", frames-1, posts)
	}
	// The hub counted the cut before it sent the error frame, and
	// unregisters the consumer as the connection closes.
	if st := hub.Stats(); st.Cut != 1 {
		t.Fatalf("Stats().Cut = %d, want 1", st.Cut)
	}
	deadline := time.Now().Add(30 * time.Second)
	for hub.Stats().Subscribers != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers still registered 30s after the cut", hub.Stats().Subscribers)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestManySubscribers(t *testing.T) {
	// All from one loopback address: lift the per-address cap.
	p := testpds.StartWithOptions(t, nil, xrpc.Options{Firehose: firehose.Config{MaxSubscribersPerAddr: 200}})
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	const n = 200
	subs := make([]*sub, n)
	for i := range subs {
		subs[i] = dial(t, p, "")
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.Server.Firehose().Stats().Subscribers < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := p.Server.Firehose().Stats().Subscribers; got != n {
		t.Fatalf("%d subscribers registered", got)
	}
	for i := 0; i < 20; i++ {
		mustPost(t, c, a.DID, fmt.Sprint(i))
	}
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i, s := range subs {
		wg.Add(1)
		go func(i int, s *sub) {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				if err := s.conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
					errs <- fmt.Sprintf("subscriber %d: %v", i, err)
					return
				}
				_, b, err := s.conn.ReadMessage()
				if err != nil {
					errs <- fmt.Sprintf("subscriber %d: %v", i, err)
					return
				}
				f, err := events.Decode(b)
				if err != nil || f.Seq() != int64(newAccountEvents+1+j) {
					errs <- fmt.Sprintf("subscriber %d frame %d: seq %d %v", i, j, f.Seq(), err)
					return
				}
			}
		}(i, s)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

func TestPlainGETAndBadCursor(t *testing.T) {
	p := testpds.Start(t, nil)
	for q, want := range map[string]int{"": 400, "?cursor=abc": 400, "?cursor=-1": 400} {
		resp, err := http.Get(p.URL + "/xrpc/com.atproto.sync.subscribeRepos" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("GET subscribeRepos%s: %d %s", q, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}

// Memory bounds: a ring limited by bytes and small read batches still
// replay every event, in order, from the log.
func TestByteBoundedRingAndBatches(t *testing.T) {
	p := testpds.StartWithOptions(t, nil, xrpc.Options{Firehose: firehose.Config{RingBytes: 2000, BatchBytes: 1}})
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	for i := 0; i < 25; i++ {
		mustPost(t, c, a.DID, fmt.Sprint(i))
	}
	s := dial(t, p, "0")
	verifyFrames(t, p, s.collect(28), 1)
	evs, err := p.Engine.Events.Range(ctx, 0, 100, 1, "")
	if err != nil || len(evs) != 1 {
		t.Fatalf("EventsWithin with a 1-byte budget returned %d events, %v", len(evs), err)
	}
}
