package eventlog

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/events"
	"github.com/hearth-pds/hearth/pds/store"
)

// The event table's statements; the event log is their only user.
const (
	sqlNextSeq      = "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'event'), 0)"
	sqlInsertEvent  = "INSERT INTO event(seq, did, kind, time, frame, time_us) VALUES(?, ?, ?, ?, ?, ?)"
	sqlLastSeq      = "SELECT COALESCE(MAX(seq), 0) FROM event"
	sqlOldestSeq    = "SELECT COALESCE(MIN(seq), 0) FROM event"
	sqlSeqAtOrAfter = "SELECT seq, time FROM event WHERE seq >= ? ORDER BY seq LIMIT 1"
	sqlPrune        = "DELETE FROM event WHERE seq <= ?"
)

// Log is the event log of one store.
type Log struct {
	db     *store.Store
	notify *notifier
	clock  *usClock
}

// Open prepares the log's hot statements on db.
func Open(ctx context.Context, db *store.Store) (*Log, error) {
	if err := db.Prepare(ctx, sqlNextSeq, sqlInsertEvent); err != nil {
		return nil, fmt.Errorf("prepare event log: %w", err)
	}
	clock, err := openClock(ctx, db)
	if err != nil {
		return nil, err
	}
	return &Log{db: db, notify: newNotifier(), clock: clock}, nil
}

// Close ends every subscription.
func (l *Log) Close() { l.notify.close() }

// Append adds an event to the log inside tx and returns it. Subscribers
// hear of it once tx commits. Writers are serialised (one write transaction
// at a time), so the next seq is the AUTOINCREMENT counter plus one: seqs are
// never reused, even after pruning.
func (l *Log) Append(tx *store.Tx, e Entry) (Event, error) {
	var last int64
	if err := tx.QueryRow(sqlNextSeq).Scan(&last); err != nil {
		return Event{}, fmt.Errorf("next %s seq: %w", e.Kind, err)
	}
	ev := Event{Seq: last + 1, DID: e.DID.String(), Kind: e.Kind, Rev: e.Rev, Time: syntax.DatetimeNow().String()}
	body, err := e.body(ev.Seq, ev.Time)
	if err != nil {
		return Event{}, fmt.Errorf("build %s event: %w", e.Kind, err)
	}
	if ev.Frame, err = events.Encode(e.Kind, body); err != nil {
		return Event{}, err
	}
	ev.TimeUS = l.clock.stamp(span(body))
	if _, err := tx.Exec(sqlInsertEvent, ev.Seq, ev.DID, ev.Kind, ev.Time, ev.Frame, ev.TimeUS); err != nil {
		return Event{}, fmt.Errorf("append %s event: %w", e.Kind, err)
	}
	tx.OnCommit(func() { l.notify.publish(ev) })
	return ev, nil
}

// Subscribe returns a channel that receives every appended event once it is
// durable, and a cancel func. A subscriber whose buffer is full misses
// events (it can re-read them with Range): writers never wait for readers.
func (l *Log) Subscribe(buf int) (<-chan Event, func()) { return l.notify.subscribe(buf) }

// Range returns up to limit events with seq > after, oldest first, stopping
// early once the frames add up to maxBytes (0 = no byte limit; at least one
// event is returned). did, if set, keeps only that account's events.
func (l *Log) Range(ctx context.Context, after int64, limit, maxBytes int, did string) ([]Event, error) {
	if limit <= 0 {
		limit = 100
	}
	q := "SELECT seq, did, kind, time, frame, time_us FROM event WHERE seq > ?"
	args := []any{after}
	if did != "" {
		q += " AND did = ?"
		args = append(args, did)
	}
	q += " ORDER BY seq LIMIT ?"
	args = append(args, limit)
	rows, err := l.db.R.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	var out []Event
	size := 0
	for rows.Next() {
		var ev Event
		if err := rows.Scan(&ev.Seq, &ev.DID, &ev.Kind, &ev.Time, &ev.Frame, &ev.TimeUS); err != nil {
			return nil, fmt.Errorf("read event: %w", err)
		}
		out = append(out, ev)
		if size += len(ev.Frame); maxBytes > 0 && size >= maxBytes {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return out, nil
}

// LastSeq returns the newest event's seq (0 when the log is empty).
func (l *Log) LastSeq(ctx context.Context) (int64, error) {
	var seq int64
	if err := l.db.R.QueryRowContext(ctx, sqlLastSeq).Scan(&seq); err != nil {
		return 0, fmt.Errorf("read last seq: %w", err)
	}
	return seq, nil
}

// OldestSeq returns the oldest kept event's seq (0 when the log is empty).
func (l *Log) OldestSeq(ctx context.Context) (int64, error) {
	var seq int64
	if err := l.db.R.QueryRowContext(ctx, sqlOldestSeq).Scan(&seq); err != nil {
		return 0, fmt.Errorf("read oldest seq: %w", err)
	}
	return seq, nil
}

// Prune deletes events older than olderThan, and those beyond the newest
// keepCount (0 = no count limit), but never an event with seq > protect (a
// subscriber still needs it). It returns how many it deleted.
func (l *Log) Prune(ctx context.Context, olderThan time.Time, keepCount int64, protect int64) (int64, error) {
	last, err := l.LastSeq(ctx)
	if err != nil {
		return 0, err
	}
	limit := int64(0)
	if keepCount > 0 {
		limit = last - keepCount
	}
	byTime, err := l.lastSeqBefore(ctx, olderThan.UTC().Format("2006-01-02T15:04:05.000Z"))
	if err != nil {
		return 0, fmt.Errorf("find old events: %w", err)
	}
	limit = min(max(limit, byTime), protect)
	if limit <= 0 {
		return 0, nil
	}
	var n int64
	err = l.db.Write(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(sqlPrune, limit)
		if err != nil {
			return fmt.Errorf("prune events: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// lastSeqBefore returns the newest seq whose time is before cutoff (0 if
// none), bisecting on seq: event times never decrease as seq grows.
func (l *Log) lastSeqBefore(ctx context.Context, cutoff string) (int64, error) {
	lo, err := l.OldestSeq(ctx)
	if err != nil || lo == 0 {
		return 0, err
	}
	hi, err := l.LastSeq(ctx)
	if err != nil {
		return 0, err
	}
	timeAt := func(seq int64) (int64, string, error) {
		var s int64
		var t string
		err := l.db.R.QueryRowContext(ctx, sqlSeqAtOrAfter, seq).Scan(&s, &t)
		if err == sql.ErrNoRows {
			return 0, "", fmt.Errorf("no event at or after seq %d", seq)
		}
		return s, t, err
	}
	if _, t, err := timeAt(lo); err != nil || t >= cutoff {
		return 0, err
	}
	// Invariant: the event at lo is before cutoff; find the last such.
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		s, t, err := timeAt(mid)
		if err != nil {
			return 0, err
		}
		if t < cutoff {
			lo = s
			if s >= hi {
				break
			}
		} else {
			hi = mid - 1
		}
	}
	return lo, nil
}
