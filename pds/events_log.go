package pds

import (
	"context"
	"fmt"
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
	for rows.Next() {
		var ev Event
		if err := rows.Scan(&ev.Seq, &ev.DID, &ev.Kind, &ev.Time, &ev.Frame); err != nil {
			return nil, err
		}
		out = append(out, ev)
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
