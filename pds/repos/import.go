package repos

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"sort"

	"github.com/bluesky-social/indigo/atproto/atdata"
	"github.com/bluesky-social/indigo/atproto/repo"
	"github.com/bluesky-social/indigo/atproto/repo/mst"
	"github.com/bluesky-social/indigo/atproto/syntax"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

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

// ParsedCAR is a repo CAR read and verified in memory.
type ParsedCAR struct {
	Summary CARSummary
	Commit  repo.Commit
	tree    *mst.Tree
	blocks  memBlocks
	records []importedRecord
	nodes   int // MST nodes in the tree
}

type importedRecord struct {
	collection, rkey string
	cid              cid.Cid
	blobs            []cid.Cid
}

type memBlocks map[string][]byte

func (m memBlocks) Get(_ context.Context, c cid.Cid) (blocks.Block, error) {
	b, ok := m[c.KeyString()]
	if !ok {
		return nil, &ipld.ErrNotFound{Cid: c}
	}
	return blocks.NewBlockWithCid(b, c)
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

// ParseRepoCAR reads a repo CAR and verifies it: every block hashes to its
// CID, the commit is well-formed, the MST is complete and well-formed, every
// record is present and valid atproto data. It does not check the commit's
// signature (an export from another PDS is signed with that PDS's key for
// the account). size, if known, drives progress.
//
// A CAR that makes a decoder panic (there should be none left: the fuzz
// target FuzzParseRepoCAR looks for them) is refused like any other bad CAR.
func ParseRepoCAR(ctx context.Context, r io.Reader, size int64, progress Progress) (p *ParsedCAR, err error) {
	defer func() {
		if v := recover(); v != nil {
			p, err = nil, errs.Wrap(errs.ErrInvalidRequest, fmt.Errorf("panic parsing a repo CAR: %v\n%s", v, debug.Stack()),
				"invalid repo CAR: it could not be decoded")
		}
	}()
	return parseRepoCAR(ctx, r, size, progress)
}

func parseRepoCAR(ctx context.Context, r io.Reader, size int64, progress Progress) (*ParsedCAR, error) {
	if progress == nil {
		progress = func(ProgressEvent) {}
	}
	cr := &countingReader{r: r}
	car, err := actorrepo.NewCARReader(cr)
	if err != nil {
		return nil, badCAR("%v", err)
	}
	bs := memBlocks{}
	var total int64
	for i := 0; ; i++ {
		if i%512 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			progress(ProgressEvent{Phase: "read", Done: cr.n, Total: size})
		}
		b, err := car.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, badCAR("%v", err)
		}
		total += int64(len(b.Data))
		if total > MaxImportBytes {
			return nil, badCAR("more than %d bytes of blocks", int64(MaxImportBytes))
		}
		bs[b.CID.KeyString()] = b.Data
	}
	progress(ProgressEvent{Phase: "read", Done: cr.n, Total: cr.n})
	root := car.Roots[0]
	if !isRepoCID(root) {
		return nil, badCAR("the root %s is not a DAG-CBOR, SHA-256 CID", root)
	}
	cb, ok := bs[root.KeyString()]
	if !ok {
		return nil, badCAR("the root commit block %s is missing", root)
	}
	p := &ParsedCAR{blocks: bs}
	if err := p.Commit.UnmarshalCBOR(bytes.NewReader(cb)); err != nil {
		return nil, badCAR("commit block: %v", err)
	}
	if err := p.Commit.VerifyStructure(); err != nil {
		return nil, badCAR("commit: %v", err)
	}
	var canon bytes.Buffer
	if err := p.Commit.MarshalCBOR(&canon); err != nil || !bytes.Equal(canon.Bytes(), cb) {
		return nil, badCAR("the commit block is not canonical DAG-CBOR")
	}
	if p.nodes, err = checkMST(bs, p.Commit.Data); err != nil {
		return nil, err
	}
	tree, err := mst.LoadTreeFromStore(ctx, bs, p.Commit.Data)
	if err != nil {
		return nil, badCAR("MST: %v", err)
	}
	if tree.IsPartial() {
		return nil, badCAR("MST nodes are missing")
	}
	if err := tree.Verify(); err != nil {
		return nil, badCAR("MST structure: %v", err)
	}
	p.tree = tree
	counts := map[string]int{}
	blobSet := map[string]struct{}{}
	var n int64
	err = tree.Walk(func(k []byte, v cid.Cid) error {
		col, rkey, err := syntax.ParseRepoPath(string(k))
		if err != nil {
			return badCAR("record path %q: %v", k, err)
		}
		data, ok := bs[v.KeyString()]
		if !ok {
			return badCAR("record %s (%s) is missing", k, v)
		}
		if !isRepoCID(v) {
			return badCAR("record %s: %s is not a DAG-CBOR, SHA-256 CID", k, v)
		}
		rec, err := atdata.UnmarshalCBOR(data)
		if err != nil {
			return badCAR("record %s is not valid atproto data: %v", k, err)
		}
		renderable(rec) // an empty byte string decodes as nil, which encodes as null
		if err := checkDataModel(rec); err != nil {
			return badCAR("record %s is not valid atproto data: %v", k, err)
		}
		// Re-encoding must give the same bytes: otherwise the record would
		// be kept under a CID that no other implementation computes for it.
		if again, err := atdata.MarshalCBOR(rec); err != nil || !bytes.Equal(again, data) {
			return badCAR("record %s is not canonical DAG-CBOR", k)
		}
		ir := importedRecord{collection: col.String(), rkey: rkey.String(), cid: v}
		for _, b := range atdata.ExtractBlobs(rec) {
			c := cid.Cid(b.Ref)
			ir.blobs = append(ir.blobs, c)
			blobSet[c.KeyString()] = struct{}{}
		}
		p.records = append(p.records, ir)
		counts[col.String()]++
		n++
		if n%2048 == 0 {
			progress(ProgressEvent{Phase: "verify", Done: n})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	p.Summary = CARSummary{DID: p.Commit.DID, Rev: p.Commit.Rev, Commit: root.String(), Records: len(p.records), Blobs: len(blobSet), Bytes: cr.n}
	for c, k := range counts {
		p.Summary.Collections = append(p.Summary.Collections, CollectionCount{Collection: c, Count: k})
	}
	sort.Slice(p.Summary.Collections, func(i, j int) bool { return p.Summary.Collections[i].Collection < p.Summary.Collections[j].Collection })
	return p, nil
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
	p, err := ParseRepoCAR(ctx, in, size, progress)
	if err != nil {
		return nil, err
	}
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
	nr, err := actorrepo.Rebase(did, p.tree, keys.Signing, prevRev)
	if err != nil {
		return nil, fmt.Errorf("commit imported repo: %w", err)
	}
	head := *nr.Head()
	total := int64(len(p.records))
	err = r.db.Write(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec("DELETE FROM record WHERE did = ?", did.String()); err != nil {
			return fmt.Errorf("clear old repo: %w", err)
		}
		if err := r.blobs.ClearAllRefs(tx, did); err != nil {
			return err
		}
		ins, err := tx.Stmt("INSERT INTO record(did, collection, rkey, cid, rev, bytes) VALUES(?, ?, ?, ?, ?, ?)")
		if err != nil {
			return err
		}
		defer func() { _ = ins.Close() }() // the transaction's end releases it too
		rev := head.Rev()
		refs := r.blobs.RefsIn(tx, did, rev)
		for i, rec := range p.records {
			if _, err := ins.ExecContext(ctx, did.String(), rec.collection, rec.rkey, rec.cid.String(), rev, p.blocks[rec.cid.KeyString()]); err != nil {
				return fmt.Errorf("store record %s/%s: %w", rec.collection, rec.rkey, err)
			}
			for _, b := range rec.blobs {
				if err := refs.Add(rec.collection, rec.rkey, b); err != nil {
					return err
				}
			}
			if i%4096 == 0 {
				progress(ProgressEvent{Phase: "write", Done: int64(i), Total: total})
			}
		}
		if err := r.storeHead(tx, did, head); err != nil {
			return err
		}
		if _, err := storeAllNodes(tx, did, nr); err != nil {
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
	r.log.Info("imported repo", "did", did, "records", sum.Records, "rev", sum.Rev)
	return &sum, nil
}

// RecordsIn lists up to limit records of collection in key order, after
// the rkey cursor (for browsing a CAR read-only).
func (p *ParsedCAR) RecordsIn(collection, cursor string, limit int) ([]*Record, string, error) {
	if limit <= 0 {
		limit = 50
	}
	var out []*Record
	next, last := "", ""
	for _, rec := range p.records {
		if rec.collection != collection || rec.rkey <= cursor {
			continue
		}
		if len(out) == limit {
			next = last
			break
		}
		last = rec.rkey
		r, err := decodeRecord(p.Commit.DID, rec.collection, rec.rkey, rec.cid.String(), p.blocks[rec.cid.KeyString()])
		if err != nil {
			return nil, "", err
		}
		out = append(out, r)
	}
	return out, next, nil
}

// Record returns one record of the CAR.
func (p *ParsedCAR) Record(collection, rkey string) (*Record, error) {
	for _, rec := range p.records {
		if rec.collection == collection && rec.rkey == rkey {
			return decodeRecord(p.Commit.DID, rec.collection, rec.rkey, rec.cid.String(), p.blocks[rec.cid.KeyString()])
		}
	}
	return nil, errs.New(errs.ErrRecordNotFound, "no record %s/%s in this CAR", collection, rkey)
}
