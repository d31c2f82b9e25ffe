package eventlog

import (
	"context"
	"fmt"
)

// Continuity is what checking the log's sequence numbers found.
type Continuity struct {
	First, Last, Count int64
	Gaps               []string // "after N, next is M"
}

// CheckContinuity reads every retained seq in order: they must run without
// gaps from the oldest to the newest (pruning only ever removes a prefix).
func (l *Log) CheckContinuity(ctx context.Context) (*Continuity, error) {
	rows, err := l.db.R.QueryContext(ctx, "SELECT seq FROM event ORDER BY seq")
	if err != nil {
		return nil, fmt.Errorf("read the event log: %w", err)
	}
	defer rows.Close()
	c := &Continuity{}
	var prev int64
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			return nil, fmt.Errorf("read the event log: %w", err)
		}
		if c.Count == 0 {
			c.First = seq
		} else if seq != prev+1 && len(c.Gaps) < 20 {
			c.Gaps = append(c.Gaps, fmt.Sprintf("after %d, next is %d", prev, seq))
		}
		prev, c.Last = seq, seq
		c.Count++
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the event log: %w", err)
	}
	return c, nil
}
