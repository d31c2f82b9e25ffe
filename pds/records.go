package pds

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	comatproto "github.com/bluesky-social/indigo/api/atproto"
	"github.com/bluesky-social/indigo/atproto/atdata"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/pds/actorrepo"
	"github.com/hearth-pds/hearth/pds/apierr"
	"github.com/hearth-pds/hearth/pds/events"
	"github.com/hearth-pds/hearth/pds/lexval"
)

type identityBody = comatproto.SyncSubscribeRepos_Identity
type accountBody = comatproto.SyncSubscribeRepos_Account

// Write is one requested record operation.
type Write struct {
	Action     string // "create", "update" or "delete"
	Collection string
	Rkey       string         // optional for create (a TID is chosen)
	Record     map[string]any // decoded atproto data (atdata.UnmarshalJSON)
	// RecordJSON is the record as JSON, used when Record is nil. It is
	// decoded while the batch is prepared, so big batches decode on every
	// core.
	RecordJSON []byte
	// SwapRecord: nil = no check; pointer to "" = must not exist; else the
	// expected current CID.
	SwapRecord *string

	rkeyIsNewTID bool // Rkey was just taken from the repo's clock
}

// WriteOptions apply to a whole batch.
type WriteOptions struct {
	Validate   *bool  // nil: validate known lexicons; true: require; false: skip
	SwapCommit string // expected current commit CID, "" = no check
}

// WriteResult describes one applied op.
type WriteResult struct {
	Action           string
	URI              string
	CID              string
	ValidationStatus string
}

// CommitMeta is a commit's CID and rev.
type CommitMeta struct {
	CID string
	Rev string
}

// BatchResult is the outcome of ApplyWrites.
type BatchResult struct {
	Commit  CommitMeta
	Results []WriteResult
}

type preparedOp struct {
	op     actorrepo.Op
	status lexval.Status
	blobs  []atdata.Blob
}

// ApplyWrites validates and applies a batch of writes to did's repo as one
// signed commit, durably, and emits its #commit event.
func (e *Engine) ApplyWrites(ctx context.Context, did string, writes []Write, opts WriteOptions) (*BatchResult, error) {
	if len(writes) == 0 {
		return nil, apierr.Invalid("no writes given")
	}
	if len(writes) > actorrepo.MaxOpsPerCommit {
		return nil, apierr.Invalid("too many writes: %d, the limit is %d per commit", len(writes), actorrepo.MaxOpsPerCommit)
	}
	acc, err := e.lookup(ctx, e.db.R, "did = ?", did)
	if err == errNoAccount {
		return nil, apierr.New(http.StatusBadRequest, "RepoNotFound", "could not find repo for %s", did)
	}
	if err != nil {
		return nil, err
	}
	if acc.Status != StatusActive {
		return nil, apierr.New(http.StatusBadRequest, "AccountDeactivated", "account %s is %s", did, acc.Status)
	}
	key, err := e.signingKey(acc)
	if err != nil {
		return nil, err
	}
	var swapCommit *cid.Cid
	if opts.SwapCommit != "" {
		c, err := cid.Decode(opts.SwapCommit)
		if err != nil {
			return nil, apierr.Invalid("invalid swapCommit CID %q", opts.SwapCommit)
		}
		swapCommit = &c
	}
	mode := lexval.ModeFor(opts.Validate)

	a := e.acct(did)
	a.mu.Lock()
	defer a.mu.Unlock()
	r, err := e.loadRepo(ctx, a, did)
	if err != nil {
		return nil, err
	}
	// Record keys are handed out in order first; validating and encoding
	// the records is independent per write, so big batches use every core.
	for i := range writes {
		if writes[i].Action == string(actorrepo.Create) && writes[i].Rkey == "" {
			writes[i].Rkey = r.NextRev().String()
			writes[i].rkeyIsNewTID = true
		}
	}
	prepared := make([]preparedOp, len(writes))
	errs := make([]error, len(writes))
	workers := 1
	if len(writes) >= parallelWrites {
		workers = min(runtime.GOMAXPROCS(0), 4)
	}
	// Workers take the next write as they finish one, and this goroutine is
	// one of them.
	var next atomic.Int64
	work := func() {
		for i := int(next.Add(1) - 1); i < len(writes); i = int(next.Add(1) - 1) {
			prepared[i], errs[i] = e.prepare(writes[i], mode)
		}
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work()
		}()
	}
	work() // small batches: no goroutine, no thread handoff
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			var ae *apierr.Error
			if errors.As(err, &ae) && len(writes) > 1 {
				ae.Message = fmt.Sprintf("write %d: %s", i, ae.Message)
			}
			return nil, err
		}
	}
	if err := e.checkBlobs(ctx, did, prepared); err != nil {
		return nil, err
	}
	ops := make([]actorrepo.Op, len(prepared))
	for i, p := range prepared {
		ops[i] = p.op
	}
	plan, err := r.Plan(ops, swapCommit)
	if err != nil {
		return nil, repoError(err)
	}
	// The record rows depend only on the plan, so for big batches they are
	// stored while another goroutine changes the tree and signs the commit.
	// (For a few writes, waking a second thread costs more than it saves.)
	var (
		res       *actorrepo.CommitResult
		commitErr error
		change    Change
	)
	err = e.db.Write(ctx, func(tx *sql.Tx) error {
		var rowsErr error
		if len(plan.Ops) >= parallelWrites {
			done := make(chan struct{})
			go func() {
				defer close(done)
				defer func() {
					// Out here no HTTP server catches a panic: make it an
					// error (the tree may be half changed, so reload it).
					if p := recover(); p != nil {
						res, commitErr = nil, &actorrepo.BrokenTreeError{Err: fmt.Errorf("commit panicked: %v", p)}
					}
				}()
				res, commitErr = r.Commit(plan, key)
			}()
			rowsErr = e.writeRecordRows(ctx, tx, did, plan, prepared)
			<-done
		} else if res, commitErr = r.Commit(plan, key); commitErr == nil {
			rowsErr = e.writeRecordRows(ctx, tx, did, plan, prepared)
		}
		if commitErr != nil {
			return commitErr
		}
		if rowsErr != nil {
			return rowsErr
		}
		c, err := e.persistCommit(ctx, tx, did, res)
		change = c
		return err
	})
	if err != nil {
		// The in-memory tree may be ahead of storage: reload it next time.
		a.repo = nil
		if commitErr != nil {
			return nil, repoError(commitErr)
		}
		return nil, fmt.Errorf("store commit: %w", err)
	}
	e.notify.publish(change)

	out := &BatchResult{Commit: CommitMeta{CID: res.Head.CID.String(), Rev: res.Head.Rev()}}
	for _, p := range prepared {
		wr := WriteResult{Action: string(p.op.Action), URI: "at://" + did + "/" + p.op.Path()}
		if p.op.Record != nil {
			wr.CID = p.op.Record.CID.String()
			wr.ValidationStatus = string(p.status)
		}
		out.Results = append(out.Results, wr)
	}
	return out, nil
}

// parallelWrites is the batch size from which ApplyWrites spreads its work
// over several goroutines.
const parallelWrites = 32

func repoError(err error) error {
	switch {
	case errors.Is(err, actorrepo.ErrSwapCommit), errors.Is(err, actorrepo.ErrSwapRecord):
		return apierr.Wrap(err, http.StatusBadRequest, "InvalidSwap", "%v", err)
	case errors.Is(err, actorrepo.ErrRecordExists):
		return apierr.Wrap(err, http.StatusBadRequest, "InvalidRequest", "%v", err)
	case errors.Is(err, actorrepo.ErrRecordNotFound):
		return apierr.Wrap(err, http.StatusBadRequest, "InvalidRequest", "%v", err)
	case errors.Is(err, actorrepo.ErrTooManyOps), errors.Is(err, actorrepo.ErrTooLarge):
		return apierr.Wrap(err, http.StatusBadRequest, "InvalidRequest", "%v", err)
	}
	return err
}

// prepare checks and encodes one write. It does not touch the repo (a
// create's rkey was assigned before), so writes are prepared in parallel.
func (e *Engine) prepare(w Write, mode lexval.Mode) (preparedOp, error) {
	var p preparedOp
	col, err := e.collections.parse(w.Collection)
	if err != nil {
		return p, apierr.Invalid("invalid collection %q: %v", w.Collection, err)
	}
	act := actorrepo.Action(w.Action)
	rkey := w.Rkey
	switch act {
	case actorrepo.Create:
	case actorrepo.Update, actorrepo.Delete:
		if rkey == "" {
			return p, apierr.Invalid("%s needs an rkey", w.Action)
		}
	default:
		return p, apierr.Invalid("unknown write action %q", w.Action)
	}
	if !w.rkeyIsNewTID { // a TID from the repo's clock needs no parse
		if _, err := syntax.ParseRecordKey(rkey); err != nil {
			return p, apierr.Invalid("invalid record key %q: %v", rkey, err)
		}
	}
	p.op = actorrepo.Op{Action: act, Collection: col.String(), Rkey: rkey}
	if w.SwapRecord != nil {
		if *w.SwapRecord == "" {
			u := cid.Undef
			p.op.SwapRecord = &u
		} else {
			c, err := cid.Decode(*w.SwapRecord)
			if err != nil {
				return p, apierr.Invalid("invalid swapRecord CID %q", *w.SwapRecord)
			}
			p.op.SwapRecord = &c
		}
	}
	if act == actorrepo.Delete {
		return p, nil
	}
	rec := w.Record
	if rec == nil && w.RecordJSON != nil {
		if rec, err = atdata.UnmarshalJSON(w.RecordJSON); err != nil {
			return p, apierr.New(http.StatusBadRequest, "InvalidRecord", "record is not valid atproto data: %v", err)
		}
	}
	if rec == nil {
		return p, apierr.New(http.StatusBadRequest, "InvalidRecord", "%s needs a record", w.Action)
	}
	if t, ok := rec["$type"]; !ok || t == nil {
		rec["$type"] = col.String()
	} else if ts, _ := t.(string); ts != col.String() && mode != lexval.ModeSkip {
		return p, apierr.New(http.StatusBadRequest, "InvalidRecord", "invalid $type: expected %s, got %v", col, t)
	}
	status, err := e.lex.Validate(col.String(), rec, mode)
	if err != nil {
		return p, apierr.Wrap(err, http.StatusBadRequest, "InvalidRecord", "%v", err)
	}
	p.status = status
	blk, err := actorrepo.EncodeRecord(rec)
	if err != nil {
		return p, apierr.New(http.StatusBadRequest, "InvalidRecord", "%v", err)
	}
	if len(blk.Data) > actorrepo.MaxRecordBytes {
		return p, apierr.New(http.StatusBadRequest, "InvalidRecord", "record is %d bytes, the limit is %d", len(blk.Data), actorrepo.MaxRecordBytes)
	}
	p.op.Record = &blk
	p.blobs = atdata.ExtractBlobs(rec)
	return p, nil
}

// checkBlobs makes sure every blob a record references was uploaded by did.
func (e *Engine) checkBlobs(ctx context.Context, did string, ops []preparedOp) error {
	for _, p := range ops {
		for _, b := range p.blobs {
			c := cid.Cid(b.Ref)
			var size int64
			var mime string
			err := e.db.R.QueryRowContext(ctx, "SELECT size, mime FROM blob WHERE did = ? AND cid = ?", did, c.String()).Scan(&size, &mime)
			if err == sql.ErrNoRows {
				return apierr.New(http.StatusBadRequest, "BlobNotFound", "could not find blob %s: upload it first", c)
			}
			if err != nil {
				return fmt.Errorf("check blob %s: %w", c, err)
			}
			if b.Size >= 0 && b.Size != size {
				return apierr.New(http.StatusBadRequest, "InvalidSize", "blob %s: record says %d bytes, the upload has %d", c, b.Size, size)
			}
			if b.MimeType != "" && !strings.EqualFold(b.MimeType, mime) {
				return apierr.New(http.StatusBadRequest, "InvalidMimeType", "blob %s: record says %s, the upload is %s", c, b.MimeType, mime)
			}
		}
	}
	return nil
}

// Hot write statements, prepared once when the engine opens.
const (
	sqlClearBlobRefs = "DELETE FROM record_blob WHERE did = ? AND collection = ? AND rkey = ?"
	sqlDeleteRecord  = "DELETE FROM record WHERE did = ? AND collection = ? AND rkey = ?"
	sqlAddBlobRef    = "INSERT OR IGNORE INTO record_blob(did, collection, rkey, blob_cid) VALUES(?, ?, ?, ?)"
	sqlUpsertRoot    = `INSERT INTO repo_root(did, commit_cid, rev, data_cid, commit_bytes) VALUES(?, ?, ?, ?, ?)
		ON CONFLICT(did) DO UPDATE SET commit_cid = excluded.commit_cid, rev = excluded.rev, data_cid = excluded.data_cid, commit_bytes = excluded.commit_bytes`
	sqlNextSeq     = "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'event'), 0)"
	sqlInsertEvent = "INSERT INTO event(seq, did, kind, time, frame) VALUES(?, ?, ?, ?, ?)"
)

// recordRowChunks are the row counts of the multi-row record upserts, largest
// first: a batch of n records takes n/50 statements of 50 rows, then tens,
// then singles. One statement per row costs about twice as much per record
// (database/sql and statement overhead), which shows in 200-write batches.
var recordRowChunks = []int{50, 10, 1}

const recordRowArgs = 6

// sqlUpsertRecords stores n record rows in one statement.
func sqlUpsertRecords(n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO record(did, collection, rkey, cid, rev, bytes) VALUES ")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?)")
	}
	b.WriteString(" ON CONFLICT(did, collection, rkey) DO UPDATE SET cid = excluded.cid, rev = excluded.rev, bytes = excluded.bytes")
	return b.String()
}

var (
	sqlUpsertRecordChunk = func() map[int]string {
		m := map[int]string{}
		for _, n := range recordRowChunks {
			m[n] = sqlUpsertRecords(n)
		}
		return m
	}()
	hotStatements = func() []string {
		qs := []string{sqlClearBlobRefs, sqlDeleteRecord, sqlAddBlobRef, sqlUpsertRoot, sqlNextSeq, sqlInsertEvent}
		for _, n := range recordRowChunks {
			qs = append(qs, sqlUpsertRecordChunk[n])
		}
		return qs
	}()
)

// writeRecordRows mirrors a commit's ops in the record and record_blob
// tables. The ops have one entry per path (actorrepo collapses them), so
// deletes, record rows and blob references can go in separate passes.
func (e *Engine) writeRecordRows(ctx context.Context, tx *sql.Tx, did string, plan *actorrepo.Plan, prepared []preparedOp) error {
	var blobsByPath map[string][]atdata.Blob
	for _, p := range prepared {
		if len(p.blobs) > 0 {
			blobsByPath = map[string][]atdata.Blob{}
			break
		}
	}
	if blobsByPath != nil {
		for _, p := range prepared { // the last write to a path wins
			if p.op.Record != nil {
				blobsByPath[p.op.Path()] = p.blobs
			}
		}
	}
	rev := plan.Rev
	stmts := map[string]*sql.Stmt{}
	exec := func(query string, args ...any) error {
		st := stmts[query]
		if st == nil {
			var err error
			if st, err = e.db.TxStmt(ctx, tx, query); err != nil {
				return err
			}
			stmts[query] = st
		}
		_, err := st.ExecContext(ctx, args...)
		return err
	}
	var rows []any // recordRowArgs values per record to store
	for _, op := range plan.Ops {
		if op.Action != actorrepo.Create { // a new path has no blob refs yet
			if err := exec(sqlClearBlobRefs, did, op.Collection, op.Rkey); err != nil {
				return fmt.Errorf("clear blob refs: %w", err)
			}
		}
		if op.Action == actorrepo.Delete {
			if err := exec(sqlDeleteRecord, did, op.Collection, op.Rkey); err != nil {
				return fmt.Errorf("delete record: %w", err)
			}
			continue
		}
		if rows == nil {
			rows = make([]any, 0, recordRowArgs*len(plan.Ops))
		}
		blk := plan.Records[op.Path()]
		rows = append(rows, did, op.Collection, op.Rkey, blk.CID.String(), rev, blk.Data)
	}
	for len(rows) > 0 {
		n := len(rows) / recordRowArgs
		for _, c := range recordRowChunks {
			if c <= n {
				n = c
				break
			}
		}
		if err := exec(sqlUpsertRecordChunk[n], rows[:n*recordRowArgs]...); err != nil {
			return fmt.Errorf("store %d records: %w", n, err)
		}
		rows = rows[n*recordRowArgs:]
	}
	for _, op := range plan.Ops {
		if blobsByPath == nil {
			break
		}
		for _, b := range blobsByPath[op.Path()] {
			if op.Action == actorrepo.Delete {
				break
			}
			if err := exec(sqlAddBlobRef, did, op.Collection, op.Rkey, cid.Cid(b.Ref).String()); err != nil {
				return fmt.Errorf("store blob ref: %w", err)
			}
		}
	}
	return nil
}

// persistCommit stores the new head and appends the #commit event.
func (e *Engine) persistCommit(ctx context.Context, tx *sql.Tx, did string, res *actorrepo.CommitResult) (Change, error) {
	h := res.Head
	if _, err := e.db.Exec(ctx, tx, sqlUpsertRoot,
		did, h.CID.String(), h.Rev(), h.Commit.Data.String(), h.Bytes); err != nil {
		return Change{}, fmt.Errorf("store repo root: %w", err)
	}
	now := nowString()
	c, err := e.appendEvent(ctx, tx, did, events.KindCommit, func(seq int64) ([]byte, error) {
		body, err := events.CommitBody(did, seq, now, res)
		if err != nil {
			return nil, err
		}
		return events.Encode(events.KindCommit, body)
	})
	c.Rev = h.Rev()
	return c, err
}

// appendEvent adds an event to the log, giving it the next seq. Writers
// are serialised (one write transaction at a time), so the next seq is the
// AUTOINCREMENT counter plus one: seqs are never reused, even after pruning.
func (e *Engine) appendEvent(ctx context.Context, tx *sql.Tx, did, kind string, build func(seq int64) ([]byte, error)) (Change, error) {
	var last int64
	if err := e.db.QueryRow(ctx, tx, sqlNextSeq).Scan(&last); err != nil {
		return Change{}, fmt.Errorf("next %s seq: %w", kind, err)
	}
	seq := last + 1
	frame, err := build(seq)
	if err != nil {
		return Change{}, fmt.Errorf("encode %s event: %w", kind, err)
	}
	now := nowString()
	if _, err := e.db.Exec(ctx, tx, sqlInsertEvent, seq, did, kind, now, frame); err != nil {
		return Change{}, fmt.Errorf("append %s event: %w", kind, err)
	}
	return Change{Seq: seq, DID: did, Kind: kind, Time: now, Frame: frame}, nil
}

// loadRepo returns the account's warm repo, loading it from storage if
// needed. The caller holds a.mu.
func (e *Engine) loadRepo(ctx context.Context, a *account, did string) (*actorrepo.Repo, error) {
	if a.repo != nil {
		return a.repo, nil
	}
	var head []byte
	err := e.db.Read(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, "SELECT commit_bytes FROM repo_root WHERE did = ?", did).Scan(&head); err != nil {
			if err == sql.ErrNoRows {
				return apierr.New(http.StatusBadRequest, "RepoNotFound", "could not find repo for %s", did)
			}
			return fmt.Errorf("read repo root: %w", err)
		}
		m, err := recordIndex(ctx, tx, did)
		if err != nil {
			return err
		}
		r, err := actorrepo.Load(syntax.DID(did), m, head)
		if err != nil {
			return err
		}
		a.repo = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a.repo, nil
}

func recordIndex(ctx context.Context, tx *sql.Tx, did string) (map[string]cid.Cid, error) {
	rows, err := tx.QueryContext(ctx, "SELECT collection, rkey, cid FROM record WHERE did = ?", did)
	if err != nil {
		return nil, fmt.Errorf("read record index: %w", err)
	}
	defer rows.Close()
	m := map[string]cid.Cid{}
	for rows.Next() {
		var col, rkey, cs string
		if err := rows.Scan(&col, &rkey, &cs); err != nil {
			return nil, err
		}
		c, err := cid.Decode(cs)
		if err != nil {
			return nil, fmt.Errorf("record %s/%s has a bad CID: %w", col, rkey, err)
		}
		m[col+"/"+rkey] = c
	}
	return m, rows.Err()
}

// Record is a stored record.
type Record struct {
	URI   string
	CID   string
	Value map[string]any
	Bytes []byte // DAG-CBOR
}

func decodeRecord(did, col, rkey, cs string, b []byte) (*Record, error) {
	v, err := atdata.UnmarshalCBOR(b)
	if err != nil {
		return nil, fmt.Errorf("decode record %s/%s: %w", col, rkey, err)
	}
	return &Record{URI: "at://" + did + "/" + col + "/" + rkey, CID: cs, Value: v, Bytes: b}, nil
}

// GetRecord reads one record. cidWant, if set, must match.
func (e *Engine) GetRecord(ctx context.Context, repo, collection, rkey, cidWant string) (*Record, error) {
	acc, err := e.findAccount(ctx, repo)
	if err == errNoAccount {
		return nil, apierr.New(http.StatusBadRequest, "RepoNotFound", "could not find repo for %s", repo)
	}
	if err != nil {
		return nil, err
	}
	var cs string
	var b []byte
	err = e.db.R.QueryRowContext(ctx, "SELECT cid, bytes FROM record WHERE did = ? AND collection = ? AND rkey = ?", acc.DID, collection, rkey).Scan(&cs, &b)
	if err == sql.ErrNoRows || (err == nil && cidWant != "" && cidWant != cs) {
		return nil, apierr.New(http.StatusBadRequest, "RecordNotFound", "could not locate record: at://%s/%s/%s", acc.DID, collection, rkey)
	}
	if err != nil {
		return nil, fmt.Errorf("read record: %w", err)
	}
	return decodeRecord(acc.DID, collection, rkey, cs, b)
}

// ListRecordsQuery pages through a collection. Records come newest rkey
// first unless Reverse.
type ListRecordsQuery struct {
	Repo       string
	Collection string
	Limit      int
	Cursor     string
	Reverse    bool
}

// ListRecords returns a page of records and the cursor for the next page.
func (e *Engine) ListRecords(ctx context.Context, q ListRecordsQuery) ([]*Record, string, error) {
	acc, err := e.findAccount(ctx, q.Repo)
	if err == errNoAccount {
		return nil, "", apierr.New(http.StatusBadRequest, "RepoNotFound", "could not find repo for %s", q.Repo)
	}
	if err != nil {
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
	args := []any{acc.DID, q.Collection}
	if q.Cursor != "" {
		query += " AND rkey " + cmp + " ?"
		args = append(args, q.Cursor)
	}
	query += " ORDER BY rkey " + order + " LIMIT ?"
	args = append(args, q.Limit)
	rows, err := e.db.R.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list records: %w", err)
	}
	defer rows.Close()
	var out []*Record
	for rows.Next() {
		var rkey, cs string
		var b []byte
		if err := rows.Scan(&rkey, &cs, &b); err != nil {
			return nil, "", err
		}
		r, err := decodeRecord(acc.DID, q.Collection, rkey, cs, b)
		if err != nil {
			return nil, "", err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	cursor := ""
	if len(out) == q.Limit {
		cursor = out[len(out)-1].URI[strings.LastIndex(out[len(out)-1].URI, "/")+1:]
	}
	return out, cursor, nil
}

// CollectionCount is a collection and how many records it has.
type CollectionCount struct {
	Collection string
	Count      int
}

// Collections lists a repo's collections with record counts.
func (e *Engine) Collections(ctx context.Context, did string) ([]CollectionCount, error) {
	rows, err := e.db.R.QueryContext(ctx, "SELECT collection, count(*) FROM record WHERE did = ? GROUP BY collection ORDER BY collection", did)
	if err != nil {
		return nil, fmt.Errorf("list collections: %w", err)
	}
	defer rows.Close()
	var out []CollectionCount
	for rows.Next() {
		var c CollectionCount
		if err := rows.Scan(&c.Collection, &c.Count); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// FindRecords returns records of did whose rkey is rkey, in any collection.
func (e *Engine) FindRecords(ctx context.Context, did, rkey string) ([]*Record, error) {
	rows, err := e.db.R.QueryContext(ctx, "SELECT collection, cid, bytes FROM record WHERE did = ? AND rkey = ? ORDER BY collection", did, rkey)
	if err != nil {
		return nil, fmt.Errorf("find records: %w", err)
	}
	defer rows.Close()
	var out []*Record
	for rows.Next() {
		var col, cs string
		var b []byte
		if err := rows.Scan(&col, &cs, &b); err != nil {
			return nil, err
		}
		r, err := decodeRecord(did, col, rkey, cs, b)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// SigningKey returns the did:key of the account's repo signing key.
func (e *Engine) SigningKey(ctx context.Context, did string) (string, error) {
	r, err := e.lookup(ctx, e.db.R, "did = ?", did)
	if err != nil {
		return "", err
	}
	k, err := e.signingKey(r)
	if err != nil {
		return "", err
	}
	pub, err := k.PublicKey()
	if err != nil {
		return "", err
	}
	return pub.DIDKey(), nil
}
