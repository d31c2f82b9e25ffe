package firehose

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hearth-pds/hearth/pds/eventlog"
)

// Log is what the hub needs of the event log: follow appends, read ranges,
// prune. *eventlog.Log implements it.
type Log interface {
	Subscribe(buf int) (<-chan eventlog.Event, func())
	Range(ctx context.Context, after int64, limit, maxBytes int, did string) ([]eventlog.Event, error)
	LastSeq(ctx context.Context) (int64, error)
	OldestSeq(ctx context.Context) (int64, error)
	Prune(ctx context.Context, olderThan time.Time, keepCount int64, protect int64) (int64, error)
}

// Config tunes a Hub.
type Config struct {
	RingSize     int           // events kept in memory (at least; up to twice; default 8192)
	RingBytes    int           // and at most this many bytes of frames (default 64 MiB)
	BatchSize    int           // events per read from the log (default 500)
	BatchBytes   int           // and at most this many bytes per read (default 8 MiB)
	WriteTimeout time.Duration // per frame (default 15 s)
	PingInterval time.Duration // websocket pings (default 30 s)
	Retention    time.Duration // prune events older than this (default 72 h)
	MaxEvents    int64         // and beyond this many (default 1,000,000)
	PruneEvery   time.Duration // default 1 min

	// Caps on what strangers can hold (see caps.go).
	MaxSubscribers        int // concurrent connections in all (default 200)
	MaxSubscribersPerAddr int // and from one client address (default 10)
	SubscriberBytes       int // frames held for one subscriber at a time (default 256 KiB)
	SocketBytes           int // each connection's kernel send buffer (default 256 KiB)
}

func (c *Config) defaults() {
	if c.RingSize <= 0 {
		c.RingSize = 8192
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 500
	}
	if c.RingBytes <= 0 {
		c.RingBytes = 64 << 20
	}
	if c.BatchBytes <= 0 {
		c.BatchBytes = 8 << 20
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 15 * time.Second
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 30 * time.Second
	}
	if c.Retention <= 0 {
		c.Retention = 72 * time.Hour
	}
	if c.MaxEvents <= 0 {
		c.MaxEvents = 1_000_000
	}
	if c.PruneEvery <= 0 {
		c.PruneEvery = time.Minute
	}
	if c.MaxSubscribers <= 0 {
		c.MaxSubscribers = 200
	}
	if c.MaxSubscribersPerAddr <= 0 {
		c.MaxSubscribersPerAddr = 10
	}
	if c.SubscriberBytes <= 0 {
		c.SubscriberBytes = 256 << 10
	}
	if c.SocketBytes <= 0 {
		c.SocketBytes = 256 << 10
	}
}

// Hub follows the event log and serves subscribers.
type Hub struct {
	events Log
	cfg    Config
	log    *slog.Logger

	mu      sync.Mutex
	ring    []eventlog.Event // contiguous seqs, oldest first
	ringB   int              // bytes of frames in ring
	head    int64            // newest seq seen in the log
	wake    chan struct{}
	subs    map[*subscriber]struct{}
	served  int64
	cut     int64 // consumers cut for falling behind
	closed  bool
	recent  []eventlog.Event // newest events for the GUI (frames dropped)
	watcher map[chan eventlog.Event]struct{}

	conns   int            // admitted connections (upgrading or streaming)
	perAddr map[string]int // admitted connections per client address
	refused int64          // connections refused by a cap since start
	peakBuf int64          // most bytes one subscriber held at once since start

	upgrader *websocket.Upgrader

	cancel context.CancelFunc
	done   chan struct{}
}

type subscriber struct {
	pos    int64 // last seq sent
	remote string
	// queued is the last seq handed to the connection (pos is updated
	// only once a whole batch is written). Read without h.mu by tests
	// (export_test.go) to see whether the subscriber fell out of the ring.
	queued atomic.Int64
	// buffered is the bytes of frames fetched for this subscriber and not
	// yet handed to its connection: at most Config.SubscriberBytes, or
	// one frame when a single frame is larger.
	buffered atomic.Int64
}

// New starts a hub on an event log.
func New(events Log, logger *slog.Logger, cfg Config) (*Hub, error) {
	cfg.defaults()
	head, err := events.LastSeq(context.Background())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{events: events, cfg: cfg, log: logger, head: head, wake: make(chan struct{}), subs: map[*subscriber]struct{}{},
		watcher: map[chan eventlog.Event]struct{}{}, perAddr: map[string]int{}, cancel: cancel, done: make(chan struct{}),
		upgrader: newUpgrader()}
	go h.tail(ctx)
	return h, nil
}

// Close stops the hub; connected subscribers are closed.
func (h *Hub) Close() {
	h.cancel()
	<-h.done
}

// tail follows the log: woken by engine notifications, and once a second
// in case another process (the CLI) wrote.
func (h *Hub) tail(ctx context.Context) {
	defer close(h.done)
	changes, stop := h.events.Subscribe(1024)
	defer stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	prune := time.NewTicker(h.cfg.PruneEvery)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			h.mu.Lock()
			h.closed = true
			close(h.wake)
			h.mu.Unlock()
			return
		case c, ok := <-changes:
			if !ok {
				changes = nil
				continue
			}
			if h.appendDirect(c) {
				continue
			}
		case <-tick.C:
		case <-prune.C:
			h.prune(ctx)
			continue
		}
		h.catchUp(ctx)
	}
}

// appendDirect takes a just-committed event from the writer's notification
// when it is the next seq (no read back from SQLite); otherwise the caller
// catches up from the log.
func (h *Hub) appendDirect(c eventlog.Event) bool {
	if c.Frame == nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.Seq <= h.head {
		return true // already have it
	}
	if c.Seq != h.head+1 {
		return false
	}
	h.addLocked([]eventlog.Event{c})
	return true
}

// addLocked appends contiguous events to the ring and wakes subscribers.
func (h *Hub) addLocked(evs []eventlog.Event) {
	if len(h.ring) > 0 && evs[0].Seq != h.ring[len(h.ring)-1].Seq+1 {
		h.ring, h.ringB = h.ring[:0], 0 // a gap (pruned, or seqs skipped by a rollback): restart the ring
	}
	h.ring = append(h.ring, evs...)
	for _, ev := range evs {
		h.ringB += len(ev.Frame)
	}
	// Trim by count only at twice the size (copying on every event once
	// full would cost O(ring) per write): the ring holds RingSize to
	// 2*RingSize events, and never more than RingBytes of frames.
	drop := 0
	if len(h.ring) > 2*h.cfg.RingSize {
		drop = len(h.ring) - h.cfg.RingSize
	}
	for i := 0; i < drop; i++ {
		h.ringB -= len(h.ring[i].Frame)
	}
	for h.ringB > h.cfg.RingBytes && drop < len(h.ring)-1 {
		h.ringB -= len(h.ring[drop].Frame)
		drop++
	}
	if drop > 0 {
		keep := make([]eventlog.Event, len(h.ring)-drop, max(2*h.cfg.RingSize, len(h.ring)-drop)+h.cfg.BatchSize)
		copy(keep, h.ring[drop:])
		clear(h.ring) // release the dropped frames
		h.ring = keep
	}
	h.head = evs[len(evs)-1].Seq
	close(h.wake)
	h.wake = make(chan struct{})
	for _, ev := range evs {
		lite := eventlog.Event{Seq: ev.Seq, DID: ev.DID, Kind: ev.Kind, Time: ev.Time}
		h.recent = append(h.recent, lite)
		for ch := range h.watcher {
			select {
			case ch <- lite:
			default:
			}
		}
	}
	if len(h.recent) > 200 {
		h.recent = append([]eventlog.Event(nil), h.recent[len(h.recent)-100:]...)
	}
}

func (h *Hub) catchUp(ctx context.Context) {
	for {
		h.mu.Lock()
		after := h.head
		h.mu.Unlock()
		evs, err := h.events.Range(ctx, after, h.cfg.BatchSize, h.cfg.BatchBytes, "")
		if err != nil {
			if ctx.Err() == nil {
				h.log.Warn("firehose: read event log", "err", err)
			}
			return
		}
		if len(evs) == 0 {
			return
		}
		h.mu.Lock()
		i := 0
		for i < len(evs) && evs[i].Seq <= h.head { // taken directly meanwhile
			i++
		}
		if i < len(evs) {
			h.addLocked(evs[i:])
		}
		h.mu.Unlock()
		if len(evs) < h.cfg.BatchSize {
			return
		}
	}
}

// fetch returns events after pos: from the ring if it covers pos, else
// from the log, at most BatchSize events and SubscriberBytes bytes of frames
// (at least one event). wait is a channel closed when more events arrive.
func (h *Hub) fetch(ctx context.Context, pos int64) (evs []eventlog.Event, fromRing bool, head int64, wait <-chan struct{}, err error) {
	h.mu.Lock()
	head, wait = h.head, h.wake
	if h.closed {
		h.mu.Unlock()
		return nil, false, head, nil, context.Canceled
	}
	if pos >= head {
		h.mu.Unlock()
		return nil, true, head, wait, nil
	}
	if len(h.ring) > 0 && pos >= h.ring[0].Seq-1 {
		i := int(pos - (h.ring[0].Seq - 1))
		j := min(len(h.ring), i+h.cfg.BatchSize)
		evs = append([]eventlog.Event(nil), h.ring[i:j]...)
		h.mu.Unlock()
		return h.budget(evs), true, head, wait, nil
	}
	h.mu.Unlock()
	evs, err = h.events.Range(ctx, pos, h.cfg.BatchSize, min(h.cfg.BatchBytes, h.cfg.SubscriberBytes), "")
	return h.budget(evs), false, head, wait, err
}

// budget cuts a page to the first events whose frames fit in
// SubscriberBytes (always keeping the first).
func (h *Hub) budget(evs []eventlog.Event) []eventlog.Event {
	size := 0
	for i, ev := range evs {
		if size += len(ev.Frame); size > h.cfg.SubscriberBytes && i > 0 {
			clear(evs[i:]) // the frames cut off are not kept alive
			return evs[:i]
		}
	}
	return evs
}

// inRing reports whether pos can still be served from memory.
func (h *Hub) inRing(pos int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return pos >= h.head || (len(h.ring) > 0 && pos >= h.ring[0].Seq-1)
}

func (h *Hub) prune(ctx context.Context) {
	h.mu.Lock()
	protect := h.head
	for s := range h.subs {
		protect = min(protect, s.pos)
	}
	h.mu.Unlock()
	n, err := h.events.Prune(ctx, time.Now().Add(-h.cfg.Retention), h.cfg.MaxEvents, protect)
	if err != nil {
		h.log.Warn("firehose: prune event log", "err", err)
	} else if n > 0 {
		h.log.Info("firehose: pruned event log", "events", n)
	}
}

// Prune runs one pruning pass now (tests and the GUI's maintenance).
func (h *Hub) Prune(ctx context.Context) { h.prune(ctx) }

// Stats is what the GUI shows.
type Stats struct {
	Seq         int64 // newest event
	Subscribers int
	Served      int64 // connections served since start
	Cut         int64 // consumers cut (ConsumerTooSlow) since start

	Connections int   // admitted connections (upgrading or streaming), at most MaxSubscribers
	Lagging     int   // subscribers that have not been sent everything yet
	Refused     int64 // connections refused by a cap since start
	// Buffered is the bytes of frames fetched for subscribers and not yet
	// handed to their connections, MaxBuffered the most one subscriber
	// holds now and PeakBuffered the most one held at any time since
	// start (each at most SubscriberBytes, or one larger frame).
	Buffered, MaxBuffered, PeakBuffered int64
}

// Stats returns current numbers.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := Stats{Seq: h.head, Subscribers: len(h.subs), Served: h.served, Cut: h.cut,
		Connections: h.conns, Refused: h.refused, PeakBuffered: h.peakBuf}
	for s := range h.subs {
		if s.pos < h.head {
			st.Lagging++
		}
		b := s.buffered.Load()
		st.Buffered += b
		st.MaxBuffered = max(st.MaxBuffered, b)
	}
	return st
}

// Recent returns the newest events (without frames), newest last.
func (h *Hub) Recent() []eventlog.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]eventlog.Event(nil), h.recent...)
}

// Watch streams new events (without frames) until cancel is called;
// events are dropped if the reader falls behind.
func (h *Hub) Watch(buf int) (<-chan eventlog.Event, func()) {
	ch := make(chan eventlog.Event, buf)
	h.mu.Lock()
	h.watcher[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.watcher, ch)
		h.mu.Unlock()
	}
}

func (h *Hub) add(s *subscriber) {
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.served++
	h.mu.Unlock()
}

// noteCut counts a consumer cut for falling behind.
func (h *Hub) noteCut() {
	h.mu.Lock()
	h.cut++
	h.mu.Unlock()
}

func (h *Hub) remove(s *subscriber) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
}

// hold records that s now holds n bytes of frames.
func (h *Hub) hold(s *subscriber, n int64) {
	s.buffered.Store(n)
	h.mu.Lock()
	h.peakBuf = max(h.peakBuf, n)
	h.mu.Unlock()
}

func (h *Hub) setPos(s *subscriber, pos int64) {
	h.mu.Lock()
	s.pos = pos
	h.mu.Unlock()
}
