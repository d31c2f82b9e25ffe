package firehose

import (
	"context"
	"errors"
	"net/http"

	"github.com/gorilla/websocket"

	"github.com/hearth-pds/hearth/pds/eventlog"
)

// This file lets another stream over the same event log (the
// Jetstream-compatible /subscribe, pds/jetstream) share the hub's caps,
// ring and pruning protection instead of keeping a history of its own.

// ErrTooSlow is returned by Follower.Next when a live follower has fallen
// out of the ring: reading on from SQLite would let one slow consumer cost
// the server a database scan per page, so it is cut, like a
// subscribeRepos consumer is with ConsumerTooSlow.
var ErrTooSlow = errors.New("consumer fell too far behind the live stream")

// Admit counts the connection r against the hub's caps (in all and per
// client address). If it is refused, Admit has answered w (503 or 429 with
// an XRPC error body and Retry-After) and returns ok=false; otherwise call
// release when the connection ends.
func (h *Hub) Admit(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	release, no := h.admit(clientAddr(r))
	if no != nil {
		w.Header().Set("Retry-After", "30")
		httpError(w, no.status, no.name, no.msg)
		return nil, false
	}
	return release, true
}

// Upgrade turns an admitted request into a websocket with the hub's
// bounds: a fixed kernel send buffer and a pooled write buffer.
func (h *Hub) Upgrade(w http.ResponseWriter, r *http.Request) (*websocket.Conn, error) {
	hw := &batchingHijacker{ResponseWriter: w, sockBytes: h.cfg.SocketBytes}
	return h.upgrader.Upgrade(hw, r, nil)
}

// Settings returns the hub's configuration (with defaults filled in).
func (h *Hub) Settings() Config { return h.cfg }

// Follower walks the log after a seq, page by page, for one connection. It
// counts as a subscriber: pruning keeps every event it has not passed.
type Follower struct {
	h    *Hub
	sub  *subscriber
	pos  int64
	live bool
}

// Follow starts a follower that will read the events after seq after (nil:
// from the live head, so only new events).
func (h *Hub) Follow(remote string, after *int64) *Follower {
	sub := &subscriber{remote: remote}
	h.add(sub) // pos 0 protects the whole log until the position is set
	f := &Follower{h: h, sub: sub}
	if after == nil {
		f.pos = h.Stats().Seq
		f.live = true
	} else {
		f.pos = *after
	}
	h.setPos(sub, f.pos)
	sub.queued.Store(f.pos)
	return f
}

// Next returns the next page of events (at most SubscriberBytes of frames,
// at least one event), or none and a channel closed when more arrive. The
// page counts as held by this subscriber (Stats) until Passed.
func (f *Follower) Next(ctx context.Context) ([]eventlog.Event, <-chan struct{}, error) {
	evs, fromRing, _, wait, err := f.h.fetch(ctx, f.pos)
	if err != nil {
		return nil, nil, err
	}
	if len(evs) == 0 {
		f.live = true
		return nil, wait, nil
	}
	if f.live && !fromRing {
		f.h.noteCut()
		return nil, nil, ErrTooSlow
	}
	held := int64(0)
	for _, ev := range evs {
		held += int64(len(ev.Frame))
	}
	f.h.hold(f.sub, held)
	f.sub.queued.Store(evs[len(evs)-1].Seq)
	return evs, nil, nil
}

// Passed records that the events up to seq have been handled (sent or
// filtered out), releasing what the page held.
func (f *Follower) Passed(seq int64) {
	f.pos = seq
	f.sub.buffered.Store(0)
	f.h.setPos(f.sub, seq)
}

// Close ends the follower (the caller still releases its admission).
func (f *Follower) Close() { f.h.remove(f.sub) }
