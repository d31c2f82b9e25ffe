package pds

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Event is one entry of the event log, its frame already encoded.
type Event struct {
	Seq   int64
	DID   string
	Kind  string
	Time  string
	Frame []byte
}

// Events returns up to limit events with seq > after, oldest first. did,
// if set, filters to one account.
func (e *Engine) Events(ctx context.Context, after int64, limit int, did string) ([]Event, error) {
	return e.EventsWithin(ctx, after, limit, 0, did)
}

// EventsWithin is Events that also stops once the frames add up to
// maxBytes (0 = no byte limit; at least one event is returned).
func (e *Engine) EventsWithin(ctx context.Context, after int64, limit int, maxBytes int, did string) ([]Event, error) {
	if limit <= 0 {
		limit = 100
	}
	q := "SELECT seq, did, kind, time, frame FROM event WHERE seq > ?"
	args := []any{after}
	if did != "" {
		q += " AND did = ?"
		args = append(args, did)
	}
	q += " ORDER BY seq LIMIT ?"
	args = append(args, limit)
	rows, err := e.db.R.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	var out []Event
	size := 0
	for rows.Next() {
		var ev Event
		if err := rows.Scan(&ev.Seq, &ev.DID, &ev.Kind, &ev.Time, &ev.Frame); err != nil {
			return nil, err
		}
		out = append(out, ev)
		if size += len(ev.Frame); maxBytes > 0 && size >= maxBytes {
			break
		}
	}
	return out, rows.Err()
}

// LastSeq returns the newest event's seq (0 when the log is empty).
func (e *Engine) LastSeq(ctx context.Context) (int64, error) {
	var seq int64
	if err := e.db.R.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM event").Scan(&seq); err != nil {
		return 0, fmt.Errorf("read last seq: %w", err)
	}
	return seq, nil
}

// OldestSeq returns the oldest kept event's seq (0 when the log is empty).
func (e *Engine) OldestSeq(ctx context.Context) (int64, error) {
	var seq int64
	if err := e.db.R.QueryRowContext(ctx, "SELECT COALESCE(MIN(seq), 0) FROM event").Scan(&seq); err != nil {
		return 0, fmt.Errorf("read oldest seq: %w", err)
	}
	return seq, nil
}

// PruneEvents deletes events older than olderThan, and those beyond the
// newest keepCount (0 = no count limit), but never an event with seq >
// protect (a subscriber still needs it). It returns how many it deleted.
func (e *Engine) PruneEvents(ctx context.Context, olderThan time.Time, keepCount int64, protect int64) (int64, error) {
	last, err := e.LastSeq(ctx)
	if err != nil {
		return 0, err
	}
	limit := int64(0)
	if keepCount > 0 {
		limit = last - keepCount
	}
	byTime, err := e.lastSeqBefore(ctx, olderThan.UTC().Format("2006-01-02T15:04:05.000Z"))
	if err != nil {
		return 0, fmt.Errorf("find old events: %w", err)
	}
	limit = min(max(limit, byTime), protect)
	if limit <= 0 {
		return 0, nil
	}
	var n int64
	err = e.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM event WHERE seq <= ?", limit)
		if err != nil {
			return fmt.Errorf("prune events: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

// lastSeqBefore returns the newest seq whose time is before cutoff (0 if
// none), bisecting on seq: event times never decrease as seq grows.
func (e *Engine) lastSeqBefore(ctx context.Context, cutoff string) (int64, error) {
	lo, err := e.OldestSeq(ctx)
	if err != nil || lo == 0 {
		return 0, err
	}
	hi, err := e.LastSeq(ctx)
	if err != nil {
		return 0, err
	}
	timeAt := func(seq int64) (int64, string, error) {
		var s int64
		var t string
		err := e.db.R.QueryRowContext(ctx, "SELECT seq, time FROM event WHERE seq >= ? ORDER BY seq LIMIT 1", seq).Scan(&s, &t)
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
