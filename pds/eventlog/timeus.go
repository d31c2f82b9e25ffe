package eventlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	comatproto "github.com/bluesky-social/indigo/api/atproto"

	"github.com/hearth-pds/hearth/pds/events"
	"github.com/hearth-pds/hearth/pds/store"
)

// MaxSpan is the most microseconds one event occupies on the time_us
// line: a #commit's ops each get their own time_us (TimeUS, TimeUS+1, …),
// as Jetstream sends one message per op. A commit has at most 200 ops;
// the margin covers a log written with a larger limit.
const MaxSpan = 1000

// Span is how many microseconds an event with this frame body occupies:
// one per op for a #commit, else one.
func span(body events.Body) int64 {
	if c, ok := body.(*comatproto.SyncSubscribeRepos_Commit); ok && len(c.Ops) > 1 {
		return int64(len(c.Ops))
	}
	return 1
}

// usClock hands out time_us stamps: the wall clock in microseconds, but
// never less than the end of the previous event's span, so stamps stay
// strictly increasing along the log even if the clock steps back or many
// events land in one microsecond. Writers are serialised; the mutex only
// makes that assumption unnecessary. A stamp taken by a transaction that
// rolls back is a harmless gap.
type usClock struct {
	mu   sync.Mutex
	next int64
	now  func() time.Time
}

func openClock(ctx context.Context, db *store.Store) (*usClock, error) {
	var last int64
	err := db.R.QueryRowContext(ctx, "SELECT time_us FROM event ORDER BY seq DESC LIMIT 1").Scan(&last)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read the newest event's time_us: %w", err)
	}
	next := int64(0)
	if last > 0 {
		next = last + MaxSpan // its span is unknown here; MaxSpan bounds it
	}
	return &usClock{next: next, now: time.Now}, nil
}

func (c *usClock) stamp(span int64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := max(c.now().UnixMicro(), c.next)
	c.next = t + span
	return t
}

// SeqAtTimeUS returns the seq to read after so that reading starts with
// the newest event whose TimeUS <= timeUS (a cursor may fall inside its span
// of ops), or with the oldest kept event when all are newer. It returns the
// newest seq's predecessor at most, and 0 for an empty log. time_us never
// decreases with seq, so it bisects on seq with point reads: no index to
// maintain on every append.
func (l *Log) SeqAtTimeUS(ctx context.Context, timeUS int64) (int64, error) {
	lo, err := l.OldestSeq(ctx)
	if err != nil || lo == 0 {
		return 0, err
	}
	hi, err := l.LastSeq(ctx)
	if err != nil {
		return 0, err
	}
	at := func(seq int64) (int64, int64, error) {
		var s, t int64
		err := l.db.R.QueryRowContext(ctx, "SELECT seq, time_us FROM event WHERE seq >= ? ORDER BY seq LIMIT 1", seq).Scan(&s, &t)
		if err != nil {
			return 0, 0, fmt.Errorf("read time_us at seq %d: %w", seq, err)
		}
		return s, t, nil
	}
	first, t, err := at(lo)
	if err != nil {
		return 0, err
	}
	if t > timeUS {
		return first - 1, nil // start at the oldest kept event
	}
	// Invariant: the event at lo has time_us <= timeUS; find the last such.
	lo = first
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		s, t, err := at(mid)
		if err != nil {
			return 0, err
		}
		if t <= timeUS {
			lo = s
			if s >= hi {
				break
			}
		} else {
			hi = mid - 1
		}
	}
	return lo - 1, nil
}
