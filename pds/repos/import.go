package repos

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/atdata"
	"github.com/bluesky-social/indigo/atproto/repo"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/pds/actorrepo"
	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/eventlog"
	"github.com/hearth-pds/hearth/pds/store"
)

// MaxImportBytes bounds the blocks of one imported CAR.
const MaxImportBytes = 2 << 30

// CARSummary describes a verified repo CAR.
type CARSummary struct {
	DID         string
	Rev         string
	Commit      string
	Records     int
	Collections []CollectionCount
	Blobs       int // distinct blobs referenced
	Bytes       int64
}

// NodeCount is the number of MST nodes in the CAR's tree.
func (p *ParsedCAR) NodeCount() int { return p.nodes }

// ParsedCAR is a repo CAR read and verified as a stream: its blocks and
// its records (in key order) wait in temporary files, so that memory does
// not grow with the CAR. Close removes them.
type ParsedCAR struct {
	Summary CARSummary
	Commit  repo.Commit
	nodes   int // MST nodes in the tree

	mu       sync.Mutex // reads share the spill's scratch buffer
	sp       *spill
	plan     *plan
	colStart map[string]int64 // where each collection's records start in the plan
}

// Close removes the CAR's temporary files.
func (p *ParsedCAR) Close() error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var err error
	if p.sp != nil {
		err = p.sp.close()
		p.sp = nil
	}
	if p.plan != nil {
		err = errors.Join(err, p.plan.close())
		p.plan = nil
	}
	return err
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func badCAR(format string, args ...any) error {
	return errs.Invalid("invalid repo CAR: "+format, args...)
}

// ParseRepoCAR reads a repo CAR as a stream and verifies it: every block
// hashes to its CID, the commit is well-formed, the MST is complete and
// well-formed, every record is present and valid atproto data. It does
// not check the commit's signature (an export from another PDS is signed
// with that PDS's key for the account). size, if known, drives progress.
// Blocks wait in a temporary file in the OS's temp dir (see
// Repos.ParseCAR); the caller closes the result.
//
// A CAR that makes a decoder panic (there should be none left: the fuzz
// target FuzzParseRepoCAR looks for them) is refused like any other bad CAR.
func ParseRepoCAR(ctx context.Context, r io.Reader, size int64, progress Progress) (*ParsedCAR, error) {
	return parseCARIn(ctx, "", r, size, progress)
}

// ParseCAR is ParseRepoCAR with its temporary files in the data folder
// (next to the database) rather than the OS's temp dir, which may be
// memory.
func (r *Repos) ParseCAR(ctx context.Context, in io.Reader, size int64, progress Progress) (*ParsedCAR, error) {
	return parseCARIn(ctx, r.spillDir(ctx), in, size, progress)
}

// spillDir is the database's folder ("" if it cannot be told).
func (r *Repos) spillDir(ctx context.Context) string {
	var file string
	if err := r.db.R.QueryRowContext(ctx, "SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&file); err != nil || file == "" {
		return ""
	}
	return filepath.Dir(file)
}

func parseCARIn(ctx context.Context, dir string, r io.Reader, size int64, progress Progress) (p *ParsedCAR, err error) {
	p = &ParsedCAR{colStart: map[string]int64{}}
	defer func() {
		if v := recover(); v != nil {
			err = errs.Wrap(errs.ErrInvalidRequest, fmt.Errorf("panic parsing a repo CAR: %v\n%s", v, debug.Stack()),
				"invalid repo CAR: it could not be decoded")
		}
		if err != nil {
			_ = p.Close()
			p = nil
		}
	}()
	if err := parseRepoCAR(ctx, p, dir, r, size, progress); err != nil {
		return nil, err
	}
	return p, nil
}

func parseRepoCAR(ctx context.Context, p *ParsedCAR, dir string, r io.Reader, size int64, progress Progress) error {
	if progress == nil {
		progress = func(ProgressEvent) {}
	}
	cr := &countingReader{r: r}
	car, err := actorrepo.NewCARReader(cr)
	if err != nil {
		return badCAR("%v", err)
	}
	if p.sp, err = newSpill(dir); err != nil {
		return err
	}
	var total int64
	for i := 0; ; i++ {
		if i%512 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			progress(ProgressEvent{Phase: "read", Done: cr.n, Total: size})
		}
		b, err := car.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return badCAR("%v", err)
		}
		total += int64(len(b.Data))
		if total > MaxImportBytes {
			return badCAR("more than %d bytes of blocks", int64(MaxImportBytes))
		}
		if err := p.sp.put(b.CID, b.Data); err != nil {
			return err
		}
	}
	progress(ProgressEvent{Phase: "read", Done: cr.n, Total: cr.n})
	if err := p.sp.finish(); err != nil {
		return err
	}
	root := car.Roots[0]
	if !isRepoCID(root) {
		return badCAR("the root %s is not a DAG-CBOR, SHA-256 CID", root)
	}
	cb, _, err := p.sp.get(root)
	if errors.Is(err, errNoBlock) {
		return badCAR("the root commit block %s is missing", root)
	}
	if err != nil {
		return err
	}
	cb = bytes.Clone(cb)
	if err := p.Commit.UnmarshalCBOR(bytes.NewReader(cb)); err != nil {
		return badCAR("commit block: %v", err)
	}
	if err := p.Commit.VerifyStructure(); err != nil {
		return badCAR("commit: %v", err)
	}
	var canon bytes.Buffer
	if err := p.Commit.MarshalCBOR(&canon); err != nil || !bytes.Equal(canon.Bytes(), cb) {
		return badCAR("the commit block is not canonical DAG-CBOR")
	}
	if p.plan, err = newPlan(dir); err != nil {
		return err
	}
	counts := map[string]int{}
	blobSet := map[string]struct{}{}
	var n int64
	// Records are checked on every core while the walk goes on, and
	// written to the plan in key order.
	pool := newCheckPool(func(rec *planRecord) error {
		if _, ok := p.colStart[rec.collection]; !ok {
			p.colStart[rec.collection] = p.plan.size
		}
		if err := p.plan.add(rec); err != nil {
			return err
		}
		for _, c := range rec.blobs {
			blobSet[c.KeyString()] = struct{}{}
		}
		counts[rec.collection]++
		n++
		if n%2048 == 0 {
			progress(ProgressEvent{Phase: "verify", Done: n})
		}
		return nil
	})
	var walked int
	nodes, werr := checkMST(p.sp, p.Commit.Data, func(k []byte, v cid.Cid) error {
		if !isRepoCID(v) {
			return badCAR("record %s: %s is not a DAG-CBOR, SHA-256 CID", k, v)
		}
		data, _, err := p.sp.get(v)
		if errors.Is(err, errNoBlock) {
			return badCAR("record %s (%s) is missing", k, v)
		}
		if err != nil {
			return err
		}
		if walked++; walked%2048 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return pool.add(k, planRecord{cid: v}, data) // the path is checked there
	})
	// A record's failure comes first: the walk stops at it or goes past
	// it only into the records being checked.
	if err := pool.wait(); err != nil {
		return err
	}
	if werr != nil {
		return werr
	}
	p.nodes = nodes
	if err := p.plan.finish(); err != nil {
		return err
	}
	p.Summary = CARSummary{DID: p.Commit.DID, Rev: p.Commit.Rev, Commit: root.String(), Records: int(n), Blobs: len(blobSet), Bytes: cr.n}
	for c, k := range counts {
		p.Summary.Collections = append(p.Summary.Collections, CollectionCount{Collection: c, Count: k})
	}
	sort.Slice(p.Summary.Collections, func(i, j int) bool { return p.Summary.Collections[i].Collection < p.Summary.Collections[j].Collection })
	return nil
}

// checkRecord checks that a record block (at key k) is canonical,
// data-model-valid DAG-CBOR, and returns the blobs it references.
func checkRecord(k []byte, data []byte) ([]cid.Cid, error) {
	if plainRecord(data) {
		return nil, nil // the common case, read without decoding
	}
	return checkRecordFull(k, data)
}

// checkRecordFull is checkRecord by decoding and re-encoding the record.
func checkRecordFull(k []byte, data []byte) ([]cid.Cid, error) {
	rec, err := atdata.UnmarshalCBOR(data)
	if err != nil {
		return nil, badCAR("record %s is not valid atproto data: %v", k, err)
	}
	renderable(rec) // an empty byte string decodes as nil, which encodes as null
	if err := checkDataModel(rec); err != nil {
		return nil, badCAR("record %s is not valid atproto data: %v", k, err)
	}
	// Re-encoding must give the same bytes: otherwise the record would
	// be kept under a CID that no other implementation computes for it.
	if again, err := atdata.MarshalCBOR(rec); err != nil || !bytes.Equal(again, data) {
		return nil, badCAR("record %s is not canonical DAG-CBOR", k)
	}
	var out []cid.Cid
	for _, b := range atdata.ExtractBlobs(rec) {
		out = append(out, cid.Cid(b.Ref))
	}
	return out, nil
}

// eachRecord calls fn with the CAR's records from plan offset from on, in
// key order, with each record's bytes (valid during the call), until fn
// stops. The caller holds p.mu.
func (p *ParsedCAR) eachRecord(from int64, fn func(r *planRecord, data []byte) (stop bool, err error)) error {
	if p.plan == nil {
		return errors.New("the CAR is closed")
	}
	return p.plan.each(from, func(_ int64, r *planRecord) (bool, error) {
		return fn(r, r.data)
	})
}

// Import replaces did's repo with the one in the CAR (which must be for
// did), committed anew under did's signing key, and emits #sync (unless the
// account is still moving in: it is announced when activated). On any error
// the existing repo is left as it was. Records the repo holds and the CAR
// does not are dropped, as com.atproto.repo.importRepo asks; a person's
// import goes through ImportGuarded instead.
func (r *Repos) Import(ctx context.Context, did syntax.DID, in io.Reader, size int64, progress Progress) (*CARSummary, error) {
	return r.importRepo(ctx, did, in, size, progress, nil)
}

// ImportGuarded is Import that refuses to lose records: when the CAR lacks
// records the repo holds now, or holds other content for them (an older
// export, another copy), it fails with a *LossError saying what would be
// lost, unless lossConfirmedAt is the current head's CID (ImportLoss.Head):
// the head a person saw that loss against and accepted. A write made since
// changes the head, so it is never dropped on an old confirmation. The
// check runs under the account's writer lock, just before the import.
func (r *Repos) ImportGuarded(ctx context.Context, did syntax.DID, in io.Reader, size int64, progress Progress, lossConfirmedAt string) (*CARSummary, error) {
	return r.importRepo(ctx, did, in, size, progress, &lossConfirmedAt)
}

func (r *Repos) importRepo(ctx context.Context, did syntax.DID, in io.Reader, size int64, progress Progress, lossConfirmedAt *string) (*CARSummary, error) {
	if progress == nil {
		progress = func(ProgressEvent) {}
	}
	if _, err := r.accounts.Get(ctx, did); err != nil {
		return nil, err
	}
	start := time.Now()
	p, err := r.ParseCAR(ctx, in, size, progress)
	if err != nil {
		return nil, err
	}
	defer func() { _ = p.Close() }() // temporary files; nothing to lose
	parsed := time.Now()
	if p.Commit.DID != did.String() {
		return nil, errs.Invalid("this CAR holds the repo of %s, not of %s", p.Commit.DID, did)
	}
	keys, err := r.accounts.Keys(ctx, did)
	if err != nil {
		return nil, err
	}
	w := r.warm(did)
	w.mu.Lock()
	defer w.mu.Unlock()
	if lossConfirmedAt != nil {
		loss, err := r.ImportLoss(ctx, did, p)
		if err != nil {
			return nil, fmt.Errorf("compare the CAR with the repo: %w", err)
		}
		if loss.Records() > 0 && loss.Head != *lossConfirmedAt {
			return nil, &LossError{Loss: loss}
		}
	}
	prevRev := p.Commit.Rev
	if cur, err := r.LatestCommit(ctx, did); err == nil && cur.Rev > prevRev {
		prevRev = cur.Rev
	}
	head, err := signImported(did, p.Commit.Data, keys.Signing, prevRev)
	if err != nil {
		return nil, fmt.Errorf("commit imported repo: %w", err)
	}
	total := int64(p.Summary.Records)
	writing := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	// One transaction: a failure or a kill -9 anywhere in it leaves the
	// previous repo as it was.
	err = r.db.Write(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec("DELETE FROM record WHERE did = ?", did.String()); err != nil {
			return fmt.Errorf("clear old repo: %w", err)
		}
		if err := r.blobs.ClearAllRefs(tx, did); err != nil {
			return err
		}
		if err := r.storeImportedRecords(ctx, tx, did, head.Rev(), p, total, progress); err != nil {
			return err
		}
		if err := r.storeHead(tx, did, head); err != nil {
			return err
		}
		if err := storeImportedNodes(tx, did, p.sp); err != nil {
			return err
		}
		migrating, err := r.accounts.Migrating(tx, did)
		if err != nil || migrating {
			return err // a moving account is announced with #sync when activated
		}
		_, err = r.events.Append(tx, eventlog.Sync(did, head))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store imported repo: %w", err)
	}
	progress(ProgressEvent{Phase: "write", Done: total, Total: total})
	// The next write opens the tree lazily from the stored nodes.
	w.repo, w.blocksOK, w.recentKnown = nil, true, false
	sum := p.Summary
	sum.Rev, sum.Commit = head.Rev(), head.CID.String()
	r.log.Info("imported repo", "did", did, "records", sum.Records, "rev", sum.Rev,
		"read_and_verify", parsed.Sub(start).Round(time.Millisecond), "write", time.Since(writing).Round(time.Millisecond))
	return &sum, nil
}

// signImported signs a fresh commit of did over the verified tree at data,
// with a rev later than afterRev.
func signImported(did syntax.DID, data cid.Cid, key atcrypto.PrivateKey, afterRev string) (actorrepo.Head, error) {
	clock := syntax.ClockFromTID(syntax.TID("2222222222222"))
	if _, err := syntax.ParseTID(afterRev); err == nil {
		clock = syntax.ClockFromTID(syntax.TID(afterRev))
	}
	commit := repo.Commit{DID: did.String(), Version: repo.ATPROTO_REPO_VERSION, Data: data, Rev: clock.Next().String()}
	if err := commit.Sign(key); err != nil {
		return actorrepo.Head{}, fmt.Errorf("sign commit: %w", err)
	}
	var buf bytes.Buffer
	if err := commit.MarshalCBOR(&buf); err != nil {
		return actorrepo.Head{}, fmt.Errorf("encode commit: %w", err)
	}
	cc, err := actorrepo.CBORCID(buf.Bytes())
	if err != nil {
		return actorrepo.Head{}, err
	}
	return actorrepo.Head{CID: cc, Commit: commit, Bytes: buf.Bytes()}, nil
}

// importRows is how many records one INSERT of an import writes.
const importRows = 64

func sqlInsertRecords(n int) string {
	return "INSERT INTO record(did, collection, rkey, cid, rev, bytes) VALUES " +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?), ", n), ", ")
}

// storeImportedRecords writes the CAR's records (and their blob
// references) in tx, several a statement, in key order. The caller holds
// p.mu.
func (r *Repos) storeImportedRecords(ctx context.Context, tx *store.Tx, did syntax.DID, rev string, p *ParsedCAR, total int64, progress Progress) error {
	many, err := tx.Stmt(sqlInsertRecords(importRows))
	if err != nil {
		return err
	}
	defer func() { _ = many.Close() }() // the transaction's end releases it too
	one, err := tx.Stmt(sqlInsertRecords(1))
	if err != nil {
		return err
	}
	defer func() { _ = one.Close() }()
	d := did.String()
	args := make([]any, 0, 6*importRows)
	// bytes are copied: the spill reuses its buffer.
	arena := make([]byte, 0, 64<<10)
	flush := func(st *sql.Stmt) error {
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("store records: %w", err)
		}
		args, arena = args[:0], arena[:0:0]
		return nil
	}
	refs := r.blobs.RefsIn(tx, did, rev)
	var done int64
	err = p.eachRecord(0, func(rec *planRecord, data []byte) (bool, error) {
		start := len(arena)
		arena = append(arena, data...)
		args = append(args, d, rec.collection, rec.rkey, rec.cid.String(), rev, arena[start:len(arena):len(arena)])
		for _, b := range rec.blobs {
			if err := refs.Add(rec.collection, rec.rkey, b); err != nil {
				return true, err
			}
		}
		if len(args) == cap(args) {
			if err := flush(many); err != nil {
				return true, err
			}
		}
		done++
		if done%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return true, err
			}
			progress(ProgressEvent{Phase: "write", Done: done, Total: total})
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	rest := args
	for len(rest) > 0 {
		args = rest[:6]
		rest = rest[6:]
		if _, err := one.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("store records: %w", err)
		}
	}
	return nil
}

// storeImportedNodes replaces did's block tables with the tree's nodes,
// in CID order so that the table's pages fill up.
func storeImportedNodes(tx *store.Tx, did syntax.DID, sp *spill) error {
	for _, q := range []string{"DELETE FROM mst_block WHERE did = ?", sqlClearRecent} {
		if _, err := tx.Exec(q, did.String()); err != nil {
			return fmt.Errorf("clear MST nodes: %w", err)
		}
	}
	const batch = 1024
	var blocks []actorrepo.Block
	err := sp.nodes(func(c cid.Cid, data []byte) error {
		blocks = append(blocks, actorrepo.Block{CID: c, Data: bytes.Clone(data)})
		if len(blocks) == batch {
			if err := insertNodes(tx, tableMain, did.String(), blocks); err != nil {
				return err
			}
			blocks = blocks[:0]
		}
		return nil
	})
	if err != nil {
		return err
	}
	return insertNodes(tx, tableMain, did.String(), blocks)
}

// RecordsIn lists up to limit records of collection in key order, after
// the rkey cursor (for browsing a CAR read-only).
func (p *ParsedCAR) RecordsIn(collection, cursor string, limit int) ([]*Record, string, error) {
	if limit <= 0 {
		limit = 50
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	from, ok := p.colStart[collection]
	if !ok {
		return nil, "", nil
	}
	var out []*Record
	next, last := "", ""
	err := p.eachRecord(from, func(rec *planRecord, data []byte) (bool, error) {
		if rec.collection != collection {
			return true, nil
		}
		if rec.rkey <= cursor {
			return false, nil
		}
		if len(out) == limit {
			next = last
			return true, nil
		}
		last = rec.rkey
		r, err := decodeRecord(p.Commit.DID, rec.collection, rec.rkey, rec.cid.String(), bytes.Clone(data))
		if err != nil {
			return true, err
		}
		out = append(out, r)
		return false, nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// Record returns one record of the CAR.
func (p *ParsedCAR) Record(collection, rkey string) (*Record, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var found *Record
	if from, ok := p.colStart[collection]; ok {
		err := p.eachRecord(from, func(rec *planRecord, data []byte) (bool, error) {
			if rec.collection != collection || rec.rkey > rkey {
				return true, nil
			}
			if rec.rkey < rkey {
				return false, nil
			}
			r, err := decodeRecord(p.Commit.DID, rec.collection, rec.rkey, rec.cid.String(), bytes.Clone(data))
			found = r
			return true, err
		})
		if err != nil {
			return nil, err
		}
	}
	if found == nil {
		return nil, errs.New(errs.ErrRecordNotFound, "no record %s/%s in this CAR", collection, rkey)
	}
	return found, nil
}
