package repos

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/bluesky-social/indigo/atproto/atdata"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/pds/errs"
)

// Record is a stored record.
type Record struct {
	URI   string
	CID   string
	Value map[string]any
	Bytes []byte // DAG-CBOR
}

// errUnreadable marks a stored record that is not atproto data (written
// before writes and imports were checked as they are now).
var errUnreadable = errors.New("stored record is not valid atproto data")

// decodeRecord decodes a stored record for answering reads: the value it
// returns always encodes as JSON. A record that does not decode fails with
// an ErrRecordNotFound that says so (a client sees a clear refusal, never an
// internal error).
func decodeRecord(did, col, rkey, cs string, b []byte) (*Record, error) {
	uri := "at://" + did + "/" + col + "/" + rkey
	v, err := atdata.UnmarshalCBOR(b)
	if err != nil {
		return nil, errs.Wrap(errs.ErrRecordNotFound, fmt.Errorf("%w: %s: %w", errUnreadable, uri, err),
			"Could not read record %s: its stored data is not valid atproto data", uri)
	}
	renderable(v)
	return &Record{URI: uri, CID: cs, Value: v, Bytes: b}, nil
}

// renderable fixes, in place, what atdata decodes but cannot encode as
// JSON: an empty CBOR byte string decodes to a nil atdata.Bytes, whose
// MarshalJSON fails; it is the empty (non-nil) byte string, {"$bytes":""}.
func renderable(v any) any {
	switch x := v.(type) {
	case atdata.Bytes:
		if x == nil {
			return atdata.Bytes{}
		}
	case map[string]any:
		for k, e := range x {
			x[k] = renderable(e)
		}
	case []any:
		for i, e := range x {
			x[i] = renderable(e)
		}
	}
	return v
}

// GetRecord reads one record of did. want, if defined, must be its CID.
func (r *Repos) GetRecord(ctx context.Context, did syntax.DID, collection syntax.NSID, rkey syntax.RecordKey, want cid.Cid) (*Record, error) {
	if _, err := r.accounts.Get(ctx, did); err != nil {
		return nil, err
	}
	var cs string
	var b []byte
	err := r.db.R.QueryRowContext(ctx, "SELECT cid, bytes FROM record WHERE did = ? AND collection = ? AND rkey = ?",
		did.String(), collection.String(), rkey.String()).Scan(&cs, &b)
	if err == sql.ErrNoRows || (err == nil && want.Defined() && want.String() != cs) {
		return nil, errs.New(errs.ErrRecordNotFound, "Could not locate record: at://%s/%s/%s", did, collection, rkey)
	}
	if err != nil {
		return nil, fmt.Errorf("read record: %w", err)
	}
	return decodeRecord(did.String(), collection.String(), rkey.String(), cs, b)
}

// ListRecordsQuery pages through a collection. Records come newest rkey
// first unless Reverse.
type ListRecordsQuery struct {
	Repo       syntax.DID
	Collection syntax.NSID
	Limit      int
	Cursor     string
	Reverse    bool
}

// ListRecords returns a page of records and the cursor for the next page.
func (r *Repos) ListRecords(ctx context.Context, q ListRecordsQuery) ([]*Record, string, error) {
	if _, err := r.accounts.Get(ctx, q.Repo); err != nil {
		return nil, "", err
	}
	if q.Limit <= 0 {
		q.Limit = 50
	}
	if q.Limit > 100 {
		q.Limit = 100
	}
	order, cmp := "DESC", "<"
	if q.Reverse {
		order, cmp = "ASC", ">"
	}
	query := "SELECT rkey, cid, bytes FROM record WHERE did = ? AND collection = ?"
	args := []any{q.Repo.String(), q.Collection.String()}
	if q.Cursor != "" {
		query += " AND rkey " + cmp + " ?"
		args = append(args, q.Cursor)
	}
	query += " ORDER BY rkey " + order + " LIMIT ?"
	args = append(args, q.Limit)
	rows, err := r.db.R.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list records: %w", err)
	}
	defer rows.Close()
	var out []*Record
	last, scanned := "", 0
	for rows.Next() {
		var rkey, cs string
		var b []byte
		if err := rows.Scan(&rkey, &cs, &b); err != nil {
			return nil, "", fmt.Errorf("list records: %w", err)
		}
		last = rkey
		scanned++
		rec, err := decodeRecord(q.Repo.String(), q.Collection.String(), rkey, cs, b)
		if errors.Is(err, errUnreadable) {
			// One bad record does not hide the rest of the collection.
			r.log.Warn("skipping an unreadable record in listRecords", "err", err)
			continue
		}
		if err != nil {
			return nil, "", err
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list records: %w", err)
	}
	cursor := ""
	if scanned == q.Limit { // a full page of rows, even if some were skipped
		cursor = last
	}
	return out, cursor, nil
}

// CollectionCount is a collection and how many records it has.
type CollectionCount struct {
	Collection string
	Count      int
}

// Collections lists a repo's collections with record counts.
func (r *Repos) Collections(ctx context.Context, did syntax.DID) ([]CollectionCount, error) {
	rows, err := r.db.R.QueryContext(ctx, "SELECT collection, count(*) FROM record WHERE did = ? GROUP BY collection ORDER BY collection", did.String())
	if err != nil {
		return nil, fmt.Errorf("list collections: %w", err)
	}
	defer rows.Close()
	var out []CollectionCount
	for rows.Next() {
		var c CollectionCount
		if err := rows.Scan(&c.Collection, &c.Count); err != nil {
			return nil, fmt.Errorf("list collections: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// FindRecords returns records of did whose rkey is rkey, in any collection.
func (r *Repos) FindRecords(ctx context.Context, did syntax.DID, rkey syntax.RecordKey) ([]*Record, error) {
	rows, err := r.db.R.QueryContext(ctx, "SELECT collection, cid, bytes FROM record WHERE did = ? AND rkey = ? ORDER BY collection", did.String(), rkey.String())
	if err != nil {
		return nil, fmt.Errorf("find records: %w", err)
	}
	defer rows.Close()
	var out []*Record
	for rows.Next() {
		var col, cs string
		var b []byte
		if err := rows.Scan(&col, &cs, &b); err != nil {
			return nil, fmt.Errorf("find records: %w", err)
		}
		rec, err := decodeRecord(did.String(), col, rkey.String(), cs, b)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, rows.Err()
}

// LatestCommit returns the head commit of did.
func (r *Repos) LatestCommit(ctx context.Context, did syntax.DID) (*CommitMeta, error) {
	var m CommitMeta
	err := r.db.R.QueryRowContext(ctx, "SELECT commit_cid, rev FROM repo_root WHERE did = ?", did.String()).Scan(&m.CID, &m.Rev)
	if err == sql.ErrNoRows {
		return nil, errs.RepoNotFound(did.String())
	}
	if err != nil {
		return nil, fmt.Errorf("read head: %w", err)
	}
	return &m, nil
}

// Status is the hosting status of a repo.
type Status struct {
	DID    syntax.DID
	Active bool
	Status string
	Rev    string
	Head   string
}

// Status returns one repo's status.
func (r *Repos) Status(ctx context.Context, did syntax.DID) (*Status, error) {
	acc, err := r.accounts.Get(ctx, did)
	if err != nil {
		return nil, err
	}
	st := &Status{DID: did, Active: acc.Active(), Status: acc.Status}
	if m, err := r.LatestCommit(ctx, did); err == nil {
		st.Rev, st.Head = m.Rev, m.CID
	}
	return st, nil
}

// ListRepos lists hosted repos, paged by DID.
func (r *Repos) ListRepos(ctx context.Context, cursor string, limit int) ([]Status, string, error) {
	if limit <= 0 || limit > 1000 {
		limit = 500
	}
	rows, err := r.db.R.QueryContext(ctx, "SELECT did, rev, commit_cid FROM repo_root WHERE did > ? ORDER BY did LIMIT ?", cursor, limit)
	if err != nil {
		return nil, "", fmt.Errorf("list repos: %w", err)
	}
	var out []Status
	for rows.Next() {
		var s Status
		var did string
		if err := rows.Scan(&did, &s.Rev, &s.Head); err != nil {
			rows.Close()
			return nil, "", fmt.Errorf("list repos: %w", err)
		}
		s.DID = syntax.DID(did)
		out = append(out, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list repos: %w", err)
	}
	next := ""
	if len(out) == limit {
		next = out[len(out)-1].DID.String()
	}
	kept := out[:0]
	for _, s := range out {
		acc, err := r.accounts.Get(ctx, s.DID)
		if err != nil {
			continue // deleted meanwhile
		}
		s.Status, s.Active = acc.Status, acc.Active()
		kept = append(kept, s)
	}
	return kept, next, nil
}

// SigningKey returns the did:key of the account's repo signing key.
func (r *Repos) SigningKey(ctx context.Context, did syntax.DID) (string, error) {
	keys, err := r.accounts.Keys(ctx, did)
	if err != nil {
		return "", err
	}
	pub, err := keys.SigningPublic()
	if err != nil {
		return "", fmt.Errorf("signing key of %s: %w", did, err)
	}
	return pub.DIDKey(), nil
}
