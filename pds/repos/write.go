package repos

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/bluesky-social/indigo/atproto/atdata"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/pds/actorrepo"
	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/eventlog"
	"github.com/hearth-pds/hearth/pds/lexval"
	"github.com/hearth-pds/hearth/pds/store"
)

// Write is one requested record operation.
type Write struct {
	Action     actorrepo.Action // actorrepo.Create, Update or Delete
	Collection syntax.NSID
	Rkey       syntax.RecordKey // optional for create (a TID is chosen)
	Record     map[string]any   // decoded atproto data (atdata.UnmarshalJSON)
	// RecordJSON is the record as JSON, used when Record is nil. It is
	// decoded while the batch is prepared, so big batches decode on every
	// core.
	RecordJSON []byte
	// SwapRecord: nil = no check; cid.Undef = must not exist; else the
	// expected current CID.
	SwapRecord *cid.Cid
}

// WriteOptions apply to a whole batch.
type WriteOptions struct {
	Validate   *bool    // nil: validate known lexicons; true: require; false: skip
	SwapCommit *cid.Cid // expected current commit, nil = no check
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

// parallelWrites is the batch size from which ApplyWrites spreads its work
// over several goroutines.
const parallelWrites = 32

// ApplyWrites validates and applies a batch of writes to did's repo as one
// signed commit, durably, and emits its #commit event.
func (r *Repos) ApplyWrites(ctx context.Context, did syntax.DID, writes []Write, opts WriteOptions) (*BatchResult, error) {
	if len(writes) == 0 {
		return nil, errs.Invalid("no writes given")
	}
	if len(writes) > actorrepo.MaxOpsPerCommit {
		return nil, errs.Invalid("too many writes: %d, the limit is %d per commit", len(writes), actorrepo.MaxOpsPerCommit)
	}
	acc, err := r.accounts.Get(ctx, did)
	if err != nil {
		return nil, err
	}
	if !acc.Active() {
		return nil, errs.New(errs.ErrAccountDeactivated, "account %s is %s", did, acc.Status)
	}
	keys, err := r.accounts.Keys(ctx, did)
	if err != nil {
		return nil, err
	}
	mode := lexval.ModeFor(opts.Validate)

	w := r.warm(did)
	w.mu.Lock()
	defer w.mu.Unlock()
	repo, err := r.load(ctx, w, did)
	if err != nil {
		return nil, err
	}
	// Record keys are handed out in order first; validating and encoding
	// the records is independent per write, so big batches use every core.
	for i := range writes {
		if writes[i].Action == actorrepo.Create && writes[i].Rkey == "" {
			writes[i].Rkey = syntax.RecordKey(repo.NextRev().String())
		}
	}
	prepared := make([]preparedOp, len(writes))
	errList := make([]error, len(writes))
	workers := 1
	if len(writes) >= parallelWrites {
		workers = min(runtime.GOMAXPROCS(0), 4)
	}
	// Workers take the next write as they finish one, and this goroutine is
	// one of them.
	var next atomic.Int64
	work := func() {
		for i := int(next.Add(1) - 1); i < len(writes); i = int(next.Add(1) - 1) {
			prepared[i], errList[i] = r.prepare(writes[i], mode)
		}
	}
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work()
		}()
	}
	work() // small batches: no goroutine, no thread handoff
	wg.Wait()
	for i, err := range errList {
		if err != nil {
			if len(writes) > 1 {
				err = errs.Prefix(err, "write %d: ", i)
			}
			return nil, err
		}
	}
	for _, p := range prepared {
		if err := r.blobs.Check(ctx, did, p.blobs); err != nil {
			return nil, err
		}
	}
	ops := make([]actorrepo.Op, len(prepared))
	for i, p := range prepared {
		ops[i] = p.op
	}
	plan, err := repo.Plan(ops, opts.SwapCommit)
	if err != nil {
		return nil, repoError(err)
	}
	// The record rows depend only on the plan, so for big batches they are
	// stored while another goroutine changes the tree and signs the commit.
	// (For a few writes, waking a second thread costs more than it saves.)
	var (
		res       *actorrepo.CommitResult
		commitErr error
	)
	// A small batch's tree change and signature are made before the write
	// transaction, under the account's lock only: concurrent writers' SQL
	// is committed together by one goroutine (store's group commit), which
	// must not sign for all of them in turn.
	parallel := len(plan.Ops) >= parallelWrites
	if !parallel {
		if res, commitErr = repo.Commit(plan, keys.Signing); commitErr != nil {
			w.repo, w.recentKnown = nil, false // the tree may be half changed
			return nil, repoError(commitErr)
		}
	}
	err = r.db.Write(ctx, func(tx *store.Tx) error {
		var rowsErr error
		if parallel {
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
				res, commitErr = repo.Commit(plan, keys.Signing)
			}()
			rowsErr = r.writeRecordRows(tx, did, plan, prepared)
			<-done
		} else {
			rowsErr = r.writeRecordRows(tx, did, plan, prepared)
		}
		if commitErr != nil {
			return commitErr
		}
		if rowsErr != nil {
			return rowsErr
		}
		if err := r.storeHead(tx, did, res.Head); err != nil {
			return err
		}
		if err := r.storeNodes(tx, w, did, res); err != nil {
			return err
		}
		_, err := r.events.Append(tx, eventlog.Commit(did, res))
		return err
	})
	if err != nil {
		// The in-memory tree may be ahead of storage: reload it next time.
		w.repo, w.recentKnown = nil, false
		if commitErr != nil {
			return nil, repoError(commitErr)
		}
		return nil, fmt.Errorf("store commit: %w", err)
	}

	out := &BatchResult{Commit: CommitMeta{CID: res.Head.CID.String(), Rev: res.Head.Rev()}}
	prefix := "at://" + did.String() + "/"
	for _, p := range prepared {
		wr := WriteResult{Action: string(p.op.Action), URI: prefix + p.op.Path()}
		if p.op.Record != nil {
			wr.CID = p.op.Record.CID.String()
			wr.ValidationStatus = string(p.status)
		}
		out.Results = append(out.Results, wr)
	}
	return out, nil
}

// repoError gives the tree's refusals their kinds.
func repoError(err error) error {
	switch {
	case errors.Is(err, actorrepo.ErrSwapCommit), errors.Is(err, actorrepo.ErrSwapRecord):
		return errs.Wrap(errs.ErrInvalidSwap, err, "%v", err)
	case errors.Is(err, actorrepo.ErrRecordExists), errors.Is(err, actorrepo.ErrRecordNotFound),
		errors.Is(err, actorrepo.ErrTooManyOps), errors.Is(err, actorrepo.ErrTooLarge):
		return errs.Wrap(errs.ErrInvalidRequest, err, "%v", err)
	}
	return err
}

// prepare checks and encodes one write. It does not touch the repo (a
// create's rkey was assigned before), so writes are prepared in parallel.
func (r *Repos) prepare(w Write, mode lexval.Mode) (preparedOp, error) {
	var p preparedOp
	col := w.Collection.String()
	switch w.Action {
	case actorrepo.Create:
	case actorrepo.Update, actorrepo.Delete:
		if w.Rkey == "" {
			return p, errs.Invalid("%s needs an rkey", w.Action)
		}
	default:
		return p, errs.Invalid("unknown write action %q", w.Action)
	}
	p.op = actorrepo.Op{Action: w.Action, Collection: col, Rkey: w.Rkey.String(), SwapRecord: w.SwapRecord}
	if w.Action == actorrepo.Delete {
		return p, nil
	}
	rec := w.Record
	if rec == nil && w.RecordJSON != nil {
		var err error
		if rec, err = atdata.UnmarshalJSON(w.RecordJSON); err != nil {
			return p, errs.New(errs.ErrInvalidRecord, "record is not valid atproto data: %v", err)
		}
	}
	if rec == nil {
		return p, errs.New(errs.ErrInvalidRecord, "%s needs a record", w.Action)
	}
	if w.Record != nil {
		// Built in Go (the desktop app), possibly holding parsed values
		// (atdata.Blob) that atdata.Validate does not take: check it as
		// atproto data by a round trip through DAG-CBOR.
		b, err := atdata.MarshalCBOR(rec)
		if err != nil {
			return p, errs.Wrap(errs.ErrInvalidRecord, err, "record is not valid atproto data: %v", err)
		}
		if rec, err = atdata.UnmarshalCBOR(b); err != nil {
			return p, errs.Wrap(errs.ErrInvalidRecord, err, "record is not valid atproto data: %v", err)
		}
	}
	if err := checkDataModel(rec); err != nil {
		return p, errs.Wrap(errs.ErrInvalidRecord, err, "record is not valid atproto data: %v", err)
	}
	// The key must be of the type the collection's Lexicon declares (a post
	// takes a TID, a profile "self"), whatever the validate option says:
	// other services refuse records under a key of the wrong type.
	if err := r.lex.CheckRecordKey(col, w.Rkey.String()); err != nil {
		return p, errs.Wrap(errs.ErrInvalidRequest, err, "%v", err)
	}
	if t, ok := rec["$type"]; !ok || t == nil {
		rec["$type"] = col
	} else if ts, _ := t.(string); ts != col && mode != lexval.ModeSkip {
		return p, errs.New(errs.ErrInvalidRecord, "invalid $type: expected %s, got %v", col, t)
	}
	status, err := r.lex.Validate(col, rec, mode)
	if err != nil {
		return p, errs.Wrap(errs.ErrInvalidRecord, err, "%v", err)
	}
	p.status = status
	blk, err := actorrepo.EncodeRecord(rec)
	if err != nil {
		return p, errs.Wrap(errs.ErrInvalidRecord, err, "%v", err)
	}
	if len(blk.Data) > actorrepo.MaxRecordBytes {
		return p, errs.New(errs.ErrInvalidRecord, "record is %d bytes, the limit is %d", len(blk.Data), actorrepo.MaxRecordBytes)
	}
	p.op.Record = &blk
	p.blobs = atdata.ExtractBlobs(rec)
	return p, nil
}

// Hot write statements, prepared once when the component opens.
const sqlDeleteRecord = "DELETE FROM record WHERE did = ? AND collection = ? AND rkey = ?"

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
	for i := range n {
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
		qs := []string{sqlDeleteRecord, sqlUpsertRoot}
		for _, n := range recordRowChunks {
			qs = append(qs, sqlUpsertRecordChunk[n])
		}
		return qs
	}()
)

// writeRecordRows mirrors a commit's ops in the record table and the blob
// references. The ops have one entry per path (actorrepo collapses them), so
// deletes, record rows and blob references can go in separate passes.
func (r *Repos) writeRecordRows(tx *store.Tx, did syntax.DID, plan *actorrepo.Plan, prepared []preparedOp) error {
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
	ctx := tx.Context()
	refs := r.blobs.RefsIn(tx, did, rev)
	stmts := map[string]*sql.Stmt{}
	exec := func(query string, args ...any) error {
		st := stmts[query]
		if st == nil {
			s, err := tx.Stmt(query)
			if err != nil {
				return err
			}
			st = s
			stmts[query] = st
		}
		_, err := st.ExecContext(ctx, args...)
		return err
	}
	didStr := did.String()
	var rows []any // recordRowArgs values per record to store
	for _, op := range plan.Ops {
		if op.Action != actorrepo.Create { // a new path has no blob refs yet
			if err := refs.Clear(op.Collection, op.Rkey); err != nil {
				return err
			}
		}
		if op.Action == actorrepo.Delete {
			if err := exec(sqlDeleteRecord, didStr, op.Collection, op.Rkey); err != nil {
				return fmt.Errorf("delete record: %w", err)
			}
			continue
		}
		if rows == nil {
			rows = make([]any, 0, recordRowArgs*len(plan.Ops))
		}
		blk := plan.Records[op.Path()]
		rows = append(rows, didStr, op.Collection, op.Rkey, blk.CID.String(), rev, blk.Data)
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
	if blobsByPath == nil {
		return nil
	}
	for _, op := range plan.Ops {
		if op.Action == actorrepo.Delete {
			continue
		}
		for _, b := range blobsByPath[op.Path()] {
			if err := refs.Add(op.Collection, op.Rkey, cid.Cid(b.Ref)); err != nil {
				return err
			}
		}
	}
	return nil
}
