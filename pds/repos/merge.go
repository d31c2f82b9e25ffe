package repos

import (
	"database/sql"
	"errors"
	"fmt"
	"sort"
)

// rowsQuerier runs a query on a connection or in a transaction.
type rowsQuerier func(query string, args ...any) (*sql.Rows, error)

// tableRecords reads did's record index in MST key order (collection "/"
// rkey, byte-wise): collections in the order of their name followed by
// "/" ('/' is in no NSID, so that is the key order across collections),
// each one's rkeys in order. One query is open at a time.
type tableRecords struct {
	q              rowsQuerier
	did            string
	cols           []string
	rows           *sql.Rows
	col, rkey, cid string
	path           string
	done           bool
}

func newTableRecords(q rowsQuerier, did string) (*tableRecords, error) {
	t := &tableRecords{q: q, did: did}
	rows, err := q("SELECT DISTINCT collection FROM record WHERE did = ?", did)
	if err != nil {
		return nil, fmt.Errorf("read record index: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("read record index: %w", err)
		}
		t.cols = append(t.cols, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read record index: %w", err)
	}
	sort.Slice(t.cols, func(i, j int) bool { return t.cols[i]+"/" < t.cols[j]+"/" })
	return t, t.next()
}

// next moves to the next record; t.done after the last.
func (t *tableRecords) next() error {
	for {
		if t.rows != nil && t.rows.Next() {
			if err := t.rows.Scan(&t.rkey, &t.cid); err != nil {
				return fmt.Errorf("read record index: %w", err)
			}
			t.path = t.col + "/" + t.rkey
			return nil
		}
		if t.rows != nil {
			err := t.rows.Err()
			if cerr := t.rows.Close(); err == nil {
				err = cerr
			}
			t.rows = nil
			if err != nil {
				return fmt.Errorf("read record index: %w", err)
			}
		}
		if len(t.cols) == 0 {
			t.done = true
			return nil
		}
		t.col, t.cols = t.cols[0], t.cols[1:]
		rows, err := t.q("SELECT rkey, cid FROM record WHERE did = ? AND collection = ? ORDER BY rkey", t.did, t.col)
		if err != nil {
			return fmt.Errorf("read record index: %w", err)
		}
		t.rows = rows
	}
}

func (t *tableRecords) close() {
	if t.rows != nil {
		_ = t.rows.Close()
	}
}

// mergeRecords compares did's record index (read with q) with the CAR's
// records, both in key order, calling fn for every path either holds with
// its CID in each ("" where absent), without holding either in memory.
func mergeRecords(q rowsQuerier, did string, p *ParsedCAR, fn func(col, rkey, have, inCAR string) error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.plan == nil {
		return errors.New("the CAR is closed")
	}
	t, err := newTableRecords(q, did)
	if err != nil {
		return err
	}
	defer t.close()
	err = p.plan.each(0, func(_ int64, r *planRecord) (bool, error) {
		path := r.path()
		for !t.done && t.path < path {
			if err := fn(t.col, t.rkey, t.cid, ""); err != nil {
				return true, err
			}
			if err := t.next(); err != nil {
				return true, err
			}
		}
		have := ""
		if !t.done && t.path == path {
			have = t.cid
			if err := t.next(); err != nil {
				return true, err
			}
		}
		return false, fn(r.collection, r.rkey, have, r.cid.String())
	})
	if err != nil {
		return err
	}
	for !t.done {
		if err := fn(t.col, t.rkey, t.cid, ""); err != nil {
			return err
		}
		if err := t.next(); err != nil {
			return err
		}
	}
	return nil
}
