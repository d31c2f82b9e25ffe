package main

// Firehose benchmarks: com.atproto.sync.subscribeRepos replay from
// cursor=0 (firehose_replay) and live fan-out to many subscribers
// (firehose_fanout).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hearth-pds/hearth/pds/events"
)

type firehoseReplayResult struct {
	EventsBeforeFill        int64          `json:"events_before_fill"`
	FillEvents              int            `json:"fill_events"`
	FillWriters             int            `json:"fill_writers"`
	FillSeconds             float64        `json:"fill_seconds"`
	FillEventsPerS          float64        `json:"fill_events_per_s"`
	FillServerCPUMsPerEvent float64        `json:"fill_server_cpu_ms_per_event"`
	Events                  int            `json:"events"`
	MB                      float64        `json:"mb"`
	Seconds                 float64        `json:"seconds"`
	EventsPerS              float64        `json:"events_per_s"`
	MBPerS                  float64        `json:"mb_per_s"`
	FirstSeq                int64          `json:"first_seq"`
	LastSeq                 int64          `json:"last_seq"`
	SeqGaps                 int            `json:"seq_gaps"`
	Kinds                   map[string]int `json:"kinds"`
	ServerCPUSeconds        float64        `json:"server_cpu_seconds"`
	ClientCPUSeconds        float64        `json:"client_cpu_seconds"`
	Runs                    int            `json:"runs"`
	AllEventsPerS           []float64      `json:"all_events_per_s"`
	ServerCutLines          int            `json:"server_log_consumer_cuts"`
}

type firehoseFanoutResult struct {
	Subscribers        int     `json:"subscribers"`
	Events             int     `json:"events"`
	WriteSeconds       float64 `json:"write_seconds"`
	WritesPerS         float64 `json:"writes_per_s"`
	WriteP50Ms         float64 `json:"write_p50_ms"`
	WriteP99Ms         float64 `json:"write_p99_ms"`
	Decode             string  `json:"decode"`
	Pairs              int     `json:"pairs"`
	P50Ms              float64 `json:"p50_ms"`
	P99Ms              float64 `json:"p99_ms"`
	MaxMs              float64 `json:"max_ms"`
	NegativeClamped    int     `json:"negative_clamped"`
	MissingPairs       int     `json:"missing_pairs"`
	CompleteSubs       int     `json:"complete_subscribers"`
	SeqGaps            int     `json:"seq_gaps"`
	SeqNonIncreasing   int     `json:"seq_non_increasing"`
	ErrorFrames        int     `json:"error_frames"`
	ClosedEarly        int     `json:"closed_early"`
	AllGotAll          bool    `json:"all_got_every_event"`
	DrainMs            float64 `json:"drain_after_last_ack_ms"`
	ServerCPUSeconds   float64 `json:"server_cpu_seconds"`
	ClientCPUSeconds   float64 `json:"client_cpu_seconds"`
	ServerCutLines     int     `json:"server_log_consumer_cuts"`
	ServerRSSAfterMB   float64 `json:"server_rss_after_mb"`
	ServerThreadsAfter int64   `json:"server_threads_after"`
}

var wsDialer = &websocket.Dialer{Proxy: nil, HandshakeTimeout: 10 * time.Second, ReadBufferSize: 64 << 10}

func (s *server) subscribe(ctx context.Context, cursor string) (*websocket.Conn, error) {
	u := "ws" + strings.TrimPrefix(s.base, "http") + "/xrpc/com.atproto.sync.subscribeRepos"
	if cursor != "" {
		u += "?cursor=" + cursor
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, resp, err := wsDialer.DialContext(dctx, u, nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("subscribeRepos: %w (HTTP %d)", err, resp.StatusCode)
		}
		return nil, fmt.Errorf("subscribeRepos: %w", err)
	}
	conn.SetReadLimit(64 << 20)
	return conn, nil
}

// readFrame reads one binary message into buf (reused).
func readFrame(conn *websocket.Conn, buf *bytes.Buffer) error {
	typ, r, err := conn.NextReader()
	if err != nil {
		return err
	}
	buf.Reset()
	if _, err := buf.ReadFrom(r); err != nil {
		return err
	}
	if typ != websocket.BinaryMessage {
		return fmt.Errorf("unexpected websocket message type %d", typ)
	}
	return nil
}

// createRecordRev is createRecord that returns the new commit's rev.
func (ss *session) createRecordRev(ctx context.Context, i int) (string, error) {
	b := make([]byte, 0, 512)
	b = append(b, `{"repo":"`...)
	b = append(b, ss.did...)
	b = append(b, `","collection":"app.bsky.feed.post","record":`...)
	b = appendPost(b, i)
	b = append(b, '}')
	var out struct {
		URI    string `json:"uri"`
		Commit struct {
			CID string `json:"cid"`
			Rev string `json:"rev"`
		} `json:"commit"`
	}
	if _, err := ss.s.do(ctx, "POST", "com.atproto.repo.createRecord", "", ss.access, "application/json", b, &out); err != nil {
		return "", err
	}
	if out.Commit.Rev == "" || !strings.HasPrefix(out.URI, "at://"+ss.did+"/") {
		return "", fmt.Errorf("createRecord: unexpected answer uri=%q commit=%+v", out.URI, out.Commit)
	}
	return out.Commit.Rev, nil
}

// countLog counts the lines of s's log holding substr.
func countLog(s *server, substr string) int {
	data, err := os.ReadFile(s.logPath)
	if err != nil {
		return -1
	}
	return bytes.Count(data, []byte(substr))
}

// cutMarker is what hearthd logs when it cuts a slow consumer.
const cutMarker = "cutting a consumer"

// ---------------------------------------------------------------- replay

// currentSeq connects a live subscriber and writes records (bounded) until
// one's #commit arrives; its seq is the newest in the log.
func currentSeq(ctx context.Context, s *server, ss *session) (int64, error) {
	conn, err := s.subscribe(ctx, "")
	if err != nil {
		return 0, err
	}
	defer func() { closeSub(conn) }()
	var buf bytes.Buffer
	for try := 0; try < 5; try++ {
		rev, err := ss.createRecordRev(ctx, 900000+try)
		if err != nil {
			return 0, err
		}
		if err := conn.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
			return 0, err
		}
		for {
			if err := readFrame(conn, &buf); err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					break // the subscription may have started after the write: write again
				}
				return 0, err
			}
			f, err := events.Decode(buf.Bytes())
			if err != nil {
				return 0, err
			}
			if f.Commit != nil && f.Commit.Rev == rev {
				return f.Commit.Seq, nil
			}
		}
		// A timed-out gorilla connection cannot be read again.
		closeSub(conn)
		if conn, err = s.subscribe(ctx, ""); err != nil {
			return 0, err
		}
	}
	return 0, errors.New("no #commit arrived on a live subscription after 5 writes")
}

// fillEvents adds single-record commits (one event each) from several
// accounts in parallel until n are written or dur has passed.
func fillEvents(ctx context.Context, sessions []*session, n int, dur time.Duration) (int, time.Duration, error) {
	var done atomic.Int64
	var next atomic.Int64
	t0 := time.Now()
	deadline := t0.Add(dur)
	errc := make(chan error, len(sessions))
	for _, ss := range sessions {
		go func() {
			for time.Now().Before(deadline) {
				i := next.Add(1)
				if i > int64(n) {
					break
				}
				if err := ss.createRecord(ctx, 1_000_000+int(i)); err != nil {
					errc <- err
					return
				}
				done.Add(1)
			}
			errc <- nil
		}()
	}
	var first error
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	last, lastT := int64(0), t0
	for left := len(sessions); left > 0; {
		select {
		case err := <-errc:
			left--
			if err != nil && first == nil {
				first = err
			}
		case now := <-tick.C:
			d := done.Load()
			logf("firehose_replay: fill: %d of %d, %.0f/s over the last %.0f s", d, n, float64(d-last)/now.Sub(lastT).Seconds(), now.Sub(lastT).Seconds())
			last, lastT = d, now
		}
	}
	return int(done.Load()), time.Since(t0), first
}

// replayPhase runs on the main server after its other workloads.
func (b *bench) replayPhase(s *server, sess []*session, r *firehoseReplayResult) error {
	ctx := b.ctx
	writer := sess[0]
	seq, err := currentSeq(ctx, s, writer)
	if err != nil {
		return fmt.Errorf("finding the newest seq: %w", err)
	}
	r.EventsBeforeFill = seq
	if need := b.cfg.replayEvents - int(seq); need > 0 {
		logf("firehose_replay: %d events in the log; adding %d single-record commits from %d accounts", seq, need, len(sess))
		m := s.meter()
		n, d, err := fillEvents(ctx, sess, need, b.cfg.replayFillMax)
		if err != nil {
			return fmt.Errorf("fill: %w", err)
		}
		r.FillEvents, r.FillWriters, r.FillSeconds = n, len(sess), round(d.Seconds(), 2)
		r.FillEventsPerS = round(float64(n)/d.Seconds(), 1)
		r.FillServerCPUMsPerEvent = m.costs(n).ServerCPUMsPerRecord
		logf("firehose_replay: added %d events in %.1f s (%.0f/s, server CPU %.3f ms each)", n, d.Seconds(), r.FillEventsPerS, r.FillServerCPUMsPerEvent)
		if n < need {
			logf("firehose_replay: the fill hit its %s limit: replaying %d events, not %d", b.cfg.replayFillMax, int(seq)+n+1, b.cfg.replayEvents)
		}
	}
	markerRev, err := writer.createRecordRev(ctx, 999999)
	if err != nil {
		return fmt.Errorf("marker: %w", err)
	}
	cutsBefore := countLog(s, cutMarker)
	var runs []*firehoseReplayResult
	var speeds []float64
	for run := 0; run < max(1, b.cfg.replayRuns); run++ {
		logf("firehose_replay: run %d: subscribing with cursor=0, reading up to the marker commit (rev %s)", run+1, markerRev)
		x, err := replayOnce(ctx, s, writer.did, markerRev, b.cfg.replayMax)
		if err != nil {
			return fmt.Errorf("run %d: %w", run+1, err)
		}
		logf("firehose_replay: %d frames (seq %d..%d, %d gaps), %.1f MB in %.2f s: %.0f events/s, %.1f MB/s; server CPU %.2f s, client CPU %.2f s",
			x.Events, x.FirstSeq, x.LastSeq, x.SeqGaps, x.MB, x.Seconds, x.EventsPerS, x.MBPerS, x.ServerCPUSeconds, x.ClientCPUSeconds)
		if run > 0 && (x.Events != runs[0].Events || x.LastSeq != runs[0].LastSeq || x.SeqGaps != runs[0].SeqGaps) {
			return fmt.Errorf("run %d read %d frames up to seq %d (%d gaps), run 1 %d up to %d (%d gaps)",
				run+1, x.Events, x.LastSeq, x.SeqGaps, runs[0].Events, runs[0].LastSeq, runs[0].SeqGaps)
		}
		runs = append(runs, x)
		speeds = append(speeds, x.EventsPerS)
	}
	// Report the median run (nearest rank, as pct does).
	sort.Slice(runs, func(i, j int) bool { return runs[i].EventsPerS < runs[j].EventsPerS })
	med := runs[max(0, (len(runs)+1)/2-1)]
	med.EventsBeforeFill, med.FillEvents, med.FillWriters, med.FillSeconds, med.FillEventsPerS, med.FillServerCPUMsPerEvent =
		r.EventsBeforeFill, r.FillEvents, r.FillWriters, r.FillSeconds, r.FillEventsPerS, r.FillServerCPUMsPerEvent
	*r = *med
	r.Runs, r.AllEventsPerS = len(speeds), roundAll(speeds, 1)
	r.ServerCutLines = countLog(s, cutMarker) - cutsBefore
	return nil
}

// replayOnce reads subscribeRepos?cursor=0 until the #commit of did at rev.
func replayOnce(ctx context.Context, s *server, did, rev string, limit time.Duration) (*firehoseReplayResult, error) {
	r := &firehoseReplayResult{Kinds: map[string]int{}}
	m := s.meter()
	t0 := time.Now()
	conn, err := s.subscribe(ctx, "0")
	if err != nil {
		return nil, err
	}
	defer closeSub(conn)
	var buf bytes.Buffer
	var bytesIn int64
	var prev int64
	if err := conn.SetReadDeadline(t0.Add(limit)); err != nil {
		return nil, err
	}
	for found := false; !found; {
		if err := readFrame(conn, &buf); err != nil {
			return nil, fmt.Errorf("after %d frames: %w", r.Events, err)
		}
		bytesIn += int64(buf.Len())
		f, err := events.Decode(buf.Bytes())
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", r.Events+1, err)
		}
		r.Events++
		if f.Op == -1 {
			return nil, fmt.Errorf("error frame after %d frames: %s: %s", r.Events, f.Error, f.Message)
		}
		r.Kinds[f.Kind]++
		sq := f.Seq()
		if sq != 0 {
			if r.FirstSeq == 0 {
				r.FirstSeq = sq
			} else if sq != prev+1 {
				r.SeqGaps++
			}
			prev = sq
		}
		found = f.Commit != nil && f.Commit.Rev == rev && f.Commit.Repo == did
	}
	el := time.Since(t0)
	u := m.read()
	r.LastSeq = prev
	r.Seconds = round(el.Seconds(), 3)
	r.EventsPerS = round(float64(r.Events)/el.Seconds(), 1)
	r.MB = round(float64(bytesIn)/mib, 1)
	r.MBPerS = round(float64(bytesIn)/mib/el.Seconds(), 1)
	r.ServerCPUSeconds = round((u.server - m.start.server).Seconds(), 2)
	r.ClientCPUSeconds = round((u.client - m.start.client).Seconds(), 2)
	return r, nil
}

// ---------------------------------------------------------------- fan-out

type arrival struct {
	seq int64
	rev string
	at  time.Time
}

type fanSub struct {
	conn     *websocket.Conn
	latest   atomic.Pointer[string] // newest #commit rev seen
	arrivals []arrival
	gaps     int
	nonIncr  int
	errors   int
	errMsgs  []string
	readErr  error
	mismatch string // light and full decoding disagreed on the first frame
	done     chan struct{}
}

func (fs *fanSub) run(full bool) {
	defer close(fs.done)
	var buf bytes.Buffer
	var prev int64
	first := true
	for {
		if err := readFrame(fs.conn, &buf); err != nil {
			fs.readErr = err
			return
		}
		at := time.Now()
		var op, seq int64
		var kind, rev string
		if full || first {
			f, err := events.Decode(buf.Bytes())
			if err != nil {
				fs.readErr = err
				return
			}
			op, kind, seq = f.Op, f.Kind, f.Seq()
			if f.Commit != nil {
				rev = f.Commit.Rev
			}
			if f.Op == -1 {
				fs.errMsgs = append(fs.errMsgs, f.Error+": "+f.Message)
			}
			if first && !full {
				lop, lkind, lseq, lrev, err := lightDecode(buf.Bytes())
				if err != nil || lop != op || lkind != kind || lseq != seq || lrev != rev {
					fs.mismatch = fmt.Sprintf("light decode %d %q %d %q %v, full %d %q %d %q", lop, lkind, lseq, lrev, err, op, kind, seq, rev)
				}
			}
			first = false
		} else {
			var err error
			op, kind, seq, rev, err = lightDecode(buf.Bytes())
			if err != nil {
				fs.readErr = err
				return
			}
			if op == -1 {
				if f, err := events.Decode(buf.Bytes()); err == nil {
					fs.errMsgs = append(fs.errMsgs, f.Error+": "+f.Message)
				}
			}
		}
		if op == -1 {
			fs.errors++
			continue
		}
		if seq != 0 {
			if prev != 0 {
				if seq <= prev {
					fs.nonIncr++
				} else if seq != prev+1 {
					fs.gaps++
				}
			}
			prev = seq
		}
		if kind == events.KindCommit {
			fs.arrivals = append(fs.arrivals, arrival{seq: seq, rev: rev, at: at})
			fs.latest.Store(&rev)
		}
	}
}

// waitAll waits (bounded) until every subscriber has seen a commit with
// rev >= want (revs of one repo are TIDs, which sort by time).
func waitAll(subs []*fanSub, want string, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		behind := 0
		for _, fs := range subs {
			if p := fs.latest.Load(); p == nil || *p < want {
				behind++
			}
		}
		if behind == 0 || time.Now().After(deadline) {
			return behind
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (b *bench) fanoutPhase(r *firehoseFanoutResult) (err error) {
	ctx := b.ctx
	s, ss, err := b.freshServer("fanout")
	if err != nil {
		return err
	}
	defer s.stopInto(&err)
	for i := 0; i < 20; i++ { // warm-up: load the repo, open connections
		if err := ss.createRecord(ctx, i); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	n := b.cfg.fanoutSubs
	full := b.cfg.fanoutDecode == "full"
	r.Subscribers, r.Decode = n, b.cfg.fanoutDecode
	logf("firehose_fanout: connecting %d live subscribers", n)
	subs := make([]*fanSub, 0, n)
	defer func() {
		for _, fs := range subs {
			closeSub(fs.conn)
		}
	}()
	for i := 0; i < n; i++ {
		conn, err := s.subscribe(ctx, "")
		if err != nil {
			return fmt.Errorf("subscriber %d: %w", i, err)
		}
		fs := &fanSub{conn: conn, done: make(chan struct{}), arrivals: make([]arrival, 0, b.cfg.fanoutEvents+16)}
		subs = append(subs, fs)
		go fs.run(full)
	}
	// Barrier: every subscriber must have seen a commit before the timed
	// writes, so none of them is still being set up when they start.
	for try := 0; ; try++ {
		rev, err := ss.createRecordRev(ctx, 500000+try)
		if err != nil {
			return fmt.Errorf("barrier write: %w", err)
		}
		behind := waitAll(subs, rev, 3*time.Second)
		if behind == 0 {
			break
		}
		if try == 4 {
			return fmt.Errorf("%d of %d subscribers never received a commit", behind, n)
		}
	}
	cutsBefore := countLog(s, cutMarker)
	logf("firehose_fanout: writer flat out (createRecord, up to %d or %s)", b.cfg.fanoutEvents, b.cfg.fanoutDur)
	type ack struct {
		rev string
		at  time.Time
	}
	acks := make([]ack, 0, b.cfg.fanoutEvents)
	var lat []float64
	m := s.meter()
	t0 := time.Now()
	for i := 0; i < max(1, b.cfg.fanoutEvents) && (i == 0 || time.Since(t0) < b.cfg.fanoutDur); i++ {
		t := time.Now()
		rev, err := ss.createRecordRev(ctx, i)
		if err != nil {
			return fmt.Errorf("write %d: %w", i, err)
		}
		now := time.Now()
		acks = append(acks, ack{rev, now})
		lat = append(lat, ms(now.Sub(t)))
	}
	el := time.Since(t0)
	last := acks[len(acks)-1]
	behind := waitAll(subs, last.rev, 15*time.Second)
	r.DrainMs = round(ms(time.Since(last.at)), 1)
	u := m.read()
	r.ServerCPUSeconds = round((u.server - m.start.server).Seconds(), 2)
	r.ClientCPUSeconds = round((u.client - m.start.client).Seconds(), 2)
	if st, err := procStatus(s.cmd.Process.Pid); err == nil {
		r.ServerRSSAfterMB = round(float64(st["VmRSS"])/1024, 1)
	}
	r.ServerThreadsAfter = threads(s.cmd.Process.Pid)
	for _, fs := range subs {
		closeSub(fs.conn)
	}
	for _, fs := range subs {
		select {
		case <-fs.done:
		case <-time.After(5 * time.Second):
			return errors.New("a subscriber's reader did not stop")
		}
	}
	r.ServerCutLines = countLog(s, cutMarker) - cutsBefore

	r.Events = len(acks)
	r.WriteSeconds = round(el.Seconds(), 3)
	r.WritesPerS = round(float64(len(acks))/el.Seconds(), 1)
	sort.Float64s(lat)
	r.WriteP50Ms, r.WriteP99Ms = round(pct(lat, 50), 3), round(pct(lat, 99), 3)

	ackAt := make(map[string]time.Time, len(acks))
	for _, a := range acks {
		ackAt[a.rev] = a.at
	}
	delays := make([]float64, 0, n*len(acks))
	var mismatches []string
	var errMsgs []string
	for _, fs := range subs {
		got := 0
		for _, a := range fs.arrivals {
			at, ok := ackAt[a.rev]
			if !ok {
				continue
			}
			got++
			d := ms(a.at.Sub(at))
			if d < 0 {
				r.NegativeClamped++
				d = 0
			}
			delays = append(delays, d)
		}
		if got == len(acks) && fs.gaps == 0 && fs.nonIncr == 0 && fs.errors == 0 {
			r.CompleteSubs++
		}
		r.MissingPairs += len(acks) - got
		r.SeqGaps += fs.gaps
		r.SeqNonIncreasing += fs.nonIncr
		r.ErrorFrames += fs.errors
		errMsgs = append(errMsgs, fs.errMsgs...)
		if fs.mismatch != "" {
			mismatches = append(mismatches, fs.mismatch)
		}
	}
	r.ClosedEarly = behind
	if len(mismatches) > 0 {
		return fmt.Errorf("the light frame decoder disagrees with events.Decode: %s", mismatches[0])
	}
	sort.Float64s(delays)
	r.Pairs = len(delays)
	if len(delays) > 0 {
		r.P50Ms, r.P99Ms, r.MaxMs = round(pct(delays, 50), 3), round(pct(delays, 99), 3), round(delays[len(delays)-1], 3)
	}
	r.AllGotAll = r.CompleteSubs == n && r.MissingPairs == 0
	logf("firehose_fanout: %d writes in %.2f s (%.0f/s, p50 %.2f ms p99 %.2f ms) to %d subscribers: delay p50 %.2f ms p99 %.2f ms max %.2f ms (%d negative clamped); %d/%d complete, %d missing, %d gaps, %d error frames, %d server cuts; server CPU %.2f s, client CPU %.2f s",
		r.Events, r.WriteSeconds, r.WritesPerS, r.WriteP50Ms, r.WriteP99Ms, n, r.P50Ms, r.P99Ms, r.MaxMs, r.NegativeClamped,
		r.CompleteSubs, n, r.MissingPairs, r.SeqGaps, r.ErrorFrames, r.ServerCutLines, r.ServerCPUSeconds, r.ClientCPUSeconds)
	if len(errMsgs) > 0 {
		logf("firehose_fanout: error frames: %q", errMsgs[:min(5, len(errMsgs))])
	}
	return s.stop()
}

func threads(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// ---------------------------------------------------------------- light decoding

// lightDecode reads a frame's header (op, t) and, for message frames, the
// body's seq and rev, skipping everything else without allocating the
// rest: what a consumer that routes by repo and rev needs.
func lightDecode(b []byte) (op int64, kind string, seq int64, rev string, err error) {
	d := cborScan{b: b}
	nh, err := d.mapLen()
	if err != nil {
		return 0, "", 0, "", fmt.Errorf("frame header: %w", err)
	}
	for i := 0; i < nh; i++ {
		k, err := d.text()
		if err != nil {
			return 0, "", 0, "", fmt.Errorf("frame header: %w", err)
		}
		switch k {
		case "op":
			if op, err = d.int(); err != nil {
				return 0, "", 0, "", err
			}
		case "t":
			if kind, err = d.text(); err != nil {
				return 0, "", 0, "", err
			}
		default:
			if err := d.skip(0); err != nil {
				return 0, "", 0, "", err
			}
		}
	}
	if op != 1 {
		return op, kind, 0, "", nil
	}
	nb, err := d.mapLen()
	if err != nil {
		return 0, "", 0, "", fmt.Errorf("%s body: %w", kind, err)
	}
	for i := 0; i < nb; i++ {
		k, err := d.text()
		if err != nil {
			return 0, "", 0, "", fmt.Errorf("%s body: %w", kind, err)
		}
		switch {
		case k == "seq":
			if seq, err = d.int(); err != nil {
				return 0, "", 0, "", err
			}
		case k == "rev" && kind == events.KindCommit:
			if rev, err = d.text(); err != nil {
				return 0, "", 0, "", err
			}
		default:
			if err := d.skip(0); err != nil {
				return 0, "", 0, "", err
			}
		}
	}
	if d.i != len(b) {
		return 0, "", 0, "", fmt.Errorf("%d trailing bytes after the frame", len(b)-d.i)
	}
	return op, kind, seq, rev, nil
}

// cborScan walks definite-length (DAG-)CBOR.
type cborScan struct {
	b []byte
	i int
}

var errCBOR = errors.New("malformed CBOR")

func (d *cborScan) head() (major byte, arg uint64, err error) {
	if d.i >= len(d.b) {
		return 0, 0, errCBOR
	}
	c := d.b[d.i]
	d.i++
	major, info := c>>5, c&31
	switch {
	case info < 24:
		return major, uint64(info), nil
	case info <= 27:
		n := 1 << (info - 24)
		if d.i+n > len(d.b) {
			return 0, 0, errCBOR
		}
		for _, x := range d.b[d.i : d.i+n] {
			arg = arg<<8 | uint64(x)
		}
		d.i += n
		return major, arg, nil
	}
	return 0, 0, errCBOR // indefinite lengths are not DAG-CBOR
}

func (d *cborScan) mapLen() (int, error) {
	m, n, err := d.head()
	if err != nil || m != 5 || n > uint64(len(d.b)) {
		return 0, errCBOR
	}
	return int(n), nil
}

func (d *cborScan) text() (string, error) {
	m, n, err := d.head()
	if err != nil || m != 3 || n > uint64(len(d.b)-d.i) {
		return "", errCBOR
	}
	s := string(d.b[d.i : d.i+int(n)])
	d.i += int(n)
	return s, nil
}

func (d *cborScan) int() (int64, error) {
	m, n, err := d.head()
	if err != nil || n > 1<<62 {
		return 0, errCBOR
	}
	switch m {
	case 0:
		return int64(n), nil
	case 1:
		return -1 - int64(n), nil
	}
	return 0, errCBOR
}

func (d *cborScan) skip(depth int) error {
	if depth > 64 {
		return errCBOR
	}
	m, n, err := d.head()
	if err != nil {
		return err
	}
	switch m {
	case 0, 1, 7:
		return nil
	case 2, 3:
		if n > uint64(len(d.b)-d.i) {
			return errCBOR
		}
		d.i += int(n)
		return nil
	case 4, 5:
		if n > uint64(len(d.b)) {
			return errCBOR
		}
		items := int(n)
		if m == 5 {
			items *= 2
		}
		for j := 0; j < items; j++ {
			if err := d.skip(depth + 1); err != nil {
				return err
			}
		}
		return nil
	case 6:
		return d.skip(depth + 1)
	}
	return errCBOR
}

// closeSub closes a subscription the bench only read from: nothing is lost
// if that fails (the server may have closed it first), so it is only logged.
func closeSub(c io.Closer) {
	if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		logf("close subscription: %v", err)
	}
}
