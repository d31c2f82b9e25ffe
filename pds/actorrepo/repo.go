package actorrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/repo"
	"github.com/bluesky-social/indigo/atproto/repo/mst"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"
)

// Limits on one commit.
const (
	MaxOpsPerCommit = 200
	// MaxCommitBlocks bounds the CAR of a commit's blocks (the #commit
	// frame's blocks field, maxLength 2,000,000 in the lexicon).
	MaxCommitBlocks = 2_000_000
	// nodeAllowance is room kept for MST nodes and the commit when checking
	// record bytes before applying.
	nodeAllowance  = 150_000
	MaxRecordBytes = 1 << 20
)

// Sentinel errors; the engine maps them to XRPC errors.
var (
	ErrSwapCommit     = errors.New("commit was not the expected one")
	ErrSwapRecord     = errors.New("record was not the expected one")
	ErrRecordExists   = errors.New("record already exists")
	ErrRecordNotFound = errors.New("record not found")
	ErrTooManyOps     = errors.New("too many operations in one commit")
	ErrTooLarge       = errors.New("commit too large")
	ErrEmptyCommit    = errors.New("no operations")
)

// Action is a record operation kind.
type Action string

const (
	Create Action = "create"
	Update Action = "update"
	Delete Action = "delete"
)

// Op is one requested record operation.
type Op struct {
	Action     Action
	Collection string
	Rkey       string
	Record     *Block // nil for deletes
	// SwapRecord, when set, requires the current record CID to equal
	// *SwapRecord (cid.Undef means "must not exist").
	SwapRecord *cid.Cid
}

// Path is the MST key of the op.
func (o Op) Path() string { return o.Collection + "/" + o.Rkey }

// AppliedOp is an op as it was applied, with the CIDs a firehose needs.
type AppliedOp struct {
	Action     Action
	Collection string
	Rkey       string
	CID        *cid.Cid // new record (create/update)
	Prev       *cid.Cid // old record (update/delete)
}

// Path is the MST key of the op.
func (o AppliedOp) Path() string { return o.Collection + "/" + o.Rkey }

// Head is a signed commit.
type Head struct {
	CID    cid.Cid
	Commit repo.Commit
	Bytes  []byte
}

// Rev is the commit's revision.
func (h Head) Rev() string { return h.Commit.Rev }

// ParseHead decodes a stored commit block.
func ParseHead(b []byte) (Head, error) {
	h := Head{Bytes: b}
	if err := h.Commit.UnmarshalCBOR(bytes.NewReader(b)); err != nil {
		return Head{}, fmt.Errorf("decode commit: %w", err)
	}
	c, err := CBORCID(b)
	if err != nil {
		return Head{}, fmt.Errorf("commit CID: %w", err)
	}
	h.CID = c
	return h, nil
}

// CommitResult is what Apply produced; nothing is durable until the engine
// stores it.
type CommitResult struct {
	Head     Head
	Since    string   // rev of the previous commit ("" for the first)
	PrevData *cid.Cid // MST root of the previous commit
	Ops      []AppliedOp
	// Blocks holds the commit block, every new MST node and every new record:
	// enough for a consumer to verify the commit and invert its ops.
	Blocks []Block
	// Records maps path -> record block for creates and updates.
	Records map[string]Block
	// Nodes are the MST nodes this commit added (also in Blocks); Removed
	// the nodes of the previous tree it no longer holds (only known for a
	// lazily opened repo). The engine's block table applies both.
	Nodes   []Block
	Removed []cid.Cid
}

// Repo is one account's repository state.
type Repo struct {
	DID   syntax.DID
	tree  *mst.Tree
	head  *Head
	clock syntax.TIDClock
	// nodeBytes caches encoded MST nodes by CID (they are immutable), so an
	// export does not re-encode and re-hash the whole tree.
	nodeBytes map[cid.Cid][]byte
	// src, for a lazily opened repo (Open), gives the nodes not in memory;
	// loaded holds the CIDs of the nodes read from it since the last commit.
	src    NodeSource
	loaded map[cid.Cid]struct{}
}

// New returns an empty repo (no commit yet).
func New(did syntax.DID) *Repo {
	t := mst.NewEmptyTree()
	return &Repo{DID: did, tree: &t, clock: syntax.ClockFromTID(syntax.TID("2222222222222"))}
}

// Load rebuilds a repo from its records (path -> CID) and its head commit,
// checking that the rebuilt MST root equals the commit's data CID.
func Load(did syntax.DID, records map[string]cid.Cid, headBytes []byte) (*Repo, error) {
	tree, err := mst.LoadTreeFromMap(records)
	if err != nil {
		return nil, fmt.Errorf("rebuild MST for %s: %w", did, err)
	}
	root, err := tree.RootCID()
	if err != nil {
		return nil, fmt.Errorf("rebuild MST for %s: %w", did, err)
	}
	var c repo.Commit
	if err := c.UnmarshalCBOR(bytes.NewReader(headBytes)); err != nil {
		return nil, fmt.Errorf("decode head commit of %s: %w", did, err)
	}
	if !c.Data.Equals(*root) {
		return nil, fmt.Errorf("repo %s is inconsistent: records give MST root %s, commit says %s", did, root, c.Data)
	}
	hc, err := CBORCID(headBytes)
	if err != nil {
		return nil, err
	}
	r := &Repo{DID: did, tree: tree, head: &Head{CID: hc, Commit: c, Bytes: headBytes}}
	r.clock = syntax.ClockFromTID(syntax.TID(c.Rev))
	return r, nil
}

// Head returns the current head commit, or nil before the first commit.
func (r *Repo) Head() *Head { return r.head }

// Get returns the CID stored at path, or nil.
func (r *Repo) Get(path string) (*cid.Cid, error) {
	return r.tree.Get([]byte(path))
}

// NextRev returns a fresh TID, later than every previous rev.
func (r *Repo) NextRev() syntax.TID { return r.clock.Next() }

// Apply applies ops, builds and signs the next commit. swapCommit, when not
// nil, must equal the current head CID. On error the repo is unchanged unless
// the error says the tree is broken (then the engine reloads it).
func (r *Repo) Apply(ops []Op, key atcrypto.PrivateKey, swapCommit *cid.Cid) (*CommitResult, error) {
	p, err := r.Plan(ops, swapCommit)
	if err != nil {
		return nil, err
	}
	return r.Commit(p, key)
}

// Plan is a checked batch of ops, ready to commit: the net op per path, the
// new record blocks and the rev the commit will carry. A caller can store
// record rows from a Plan while Commit changes the tree and signs.
type Plan struct {
	Ops      []AppliedOp
	Records  map[string]Block // path -> record block for creates and updates
	Rev      string
	since    string
	prevData *cid.Cid
	head     *Head // the head the plan was checked against
}

// Plan checks ops against the current tree without changing it. swapCommit,
// when not nil, must equal the current head CID. Commit the plan before any
// other Plan or Apply on this repo.
func (r *Repo) Plan(ops []Op, swapCommit *cid.Cid) (*Plan, error) {
	if len(ops) > MaxOpsPerCommit {
		return nil, fmt.Errorf("%w: %d operations, the limit is %d", ErrTooManyOps, len(ops), MaxOpsPerCommit)
	}
	if swapCommit != nil && (r.head == nil || !r.head.CID.Equals(*swapCommit)) {
		return nil, fmt.Errorf("%w: expected %s", ErrSwapCommit, swapCommit)
	}
	// Check every precondition before touching the tree, tracking the
	// effect of earlier ops in the same batch.
	state := map[string]*cid.Cid{}
	current := func(path string) (*cid.Cid, error) {
		if c, ok := state[path]; ok {
			return c, nil
		}
		if err := r.hydrate([]byte(path), false); err != nil {
			return nil, err
		}
		return r.tree.Get([]byte(path))
	}
	applied := make([]AppliedOp, 0, len(ops))
	records := map[string]Block{}
	size := 0
	for _, op := range ops {
		path := op.Path()
		if !mst.IsValidKey([]byte(path)) {
			return nil, fmt.Errorf("invalid record path %q", path)
		}
		prev, err := current(path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		if op.SwapRecord != nil {
			if op.SwapRecord.Defined() {
				if prev == nil || !prev.Equals(*op.SwapRecord) {
					return nil, fmt.Errorf("%w: %s", ErrSwapRecord, path)
				}
			} else if prev != nil {
				return nil, fmt.Errorf("%w: %s exists", ErrSwapRecord, path)
			}
		}
		ao := AppliedOp{Action: op.Action, Collection: op.Collection, Rkey: op.Rkey, Prev: prev}
		switch op.Action {
		case Create, Update:
			if op.Record == nil {
				return nil, fmt.Errorf("%s %s: no record", op.Action, path)
			}
			if len(op.Record.Data) > MaxRecordBytes {
				return nil, fmt.Errorf("%w: record %s is %d bytes, the limit is %d", ErrTooLarge, path, len(op.Record.Data), MaxRecordBytes)
			}
			if op.Action == Create && prev != nil {
				return nil, fmt.Errorf("%w: %s", ErrRecordExists, path)
			}
			if op.Action == Update && prev == nil {
				ao.Action = Create // putRecord on a missing record creates it
			}
			c := op.Record.CID
			ao.CID = &c
			state[path] = &c
			if _, dup := records[path]; !dup {
				size += len(op.Record.Data)
			}
			records[path] = *op.Record
		case Delete:
			if prev == nil {
				return nil, fmt.Errorf("%w: %s", ErrRecordNotFound, path)
			}
			state[path] = nil
			delete(records, path)
		default:
			return nil, fmt.Errorf("unknown action %q", op.Action)
		}
		// A no-op update (the new CID equals Prev) still counts as an op:
		// it is kept, as the reference PDS does.
		applied = append(applied, ao)
	}
	if size > MaxCommitBlocks-nodeAllowance {
		return nil, fmt.Errorf("%w: %d bytes of records in one commit, the limit is %d", ErrTooLarge, size, MaxCommitBlocks-nodeAllowance)
	}
	p := &Plan{Ops: collapse(applied), Records: records, Rev: r.clock.Next().String(), head: r.head}
	if r.head != nil {
		d := r.head.Commit.Data
		p.prevData = &d
		p.since = r.head.Commit.Rev
	}
	return p, nil
}

// Commit changes the tree by the plan's ops, then builds and signs the
// commit. An error means the tree may be broken (BrokenTreeError).
func (r *Repo) Commit(p *Plan, key atcrypto.PrivateKey) (*CommitResult, error) {
	if r.head != p.head {
		return nil, errors.New("the repo changed since the plan was made")
	}
	applied, records := p.Ops, p.Records
	// Mutate the tree.
	for _, op := range applied {
		err := r.hydrate([]byte(op.Path()), op.Action == Delete)
		if err == nil {
			switch op.Action {
			case Create, Update:
				_, err = r.tree.Insert([]byte(op.Path()), *op.CID)
			case Delete:
				_, err = r.tree.Remove([]byte(op.Path()))
			}
		}
		if err != nil {
			return nil, &BrokenTreeError{Err: fmt.Errorf("apply %s %s: %w", op.Action, op.Path(), err)}
		}
	}
	if r.src != nil {
		if err := r.unstubRoot(); err != nil {
			return nil, &BrokenTreeError{Err: fmt.Errorf("settle MST root: %w", err)}
		}
	}
	col := &collector{}
	root, err := r.tree.WriteDiffBlocks(context.Background(), col)
	if err != nil {
		return nil, &BrokenTreeError{Err: fmt.Errorf("encode MST: %w", err)}
	}
	commit := repo.Commit{
		DID:     r.DID.String(),
		Version: repo.ATPROTO_REPO_VERSION,
		Data:    *root,
		Rev:     p.Rev,
	}
	if err := commit.Sign(key); err != nil {
		return nil, &BrokenTreeError{Err: fmt.Errorf("sign commit: %w", err)}
	}
	buf := new(bytes.Buffer)
	if err := commit.MarshalCBOR(buf); err != nil {
		return nil, &BrokenTreeError{Err: fmt.Errorf("encode commit: %w", err)}
	}
	cc, err := CBORCID(buf.Bytes())
	if err != nil {
		return nil, &BrokenTreeError{Err: err}
	}
	head := Head{CID: cc, Commit: commit, Bytes: buf.Bytes()}
	res := &CommitResult{Head: head, Since: p.since, PrevData: p.prevData, Ops: applied, Records: records, Nodes: col.blocks}
	res.Blocks = append(res.Blocks, Block{CID: cc, Data: head.Bytes})
	res.Blocks = append(res.Blocks, col.blocks...)
	if r.nodeBytes != nil {
		for _, b := range col.blocks {
			r.nodeBytes[b.CID] = b.Data
		}
	}
	paths := make([]string, 0, len(records))
	for p := range records {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		res.Blocks = append(res.Blocks, records[p])
	}
	if n := carSize(res.Blocks); n > MaxCommitBlocks {
		// Rare (very many MST nodes): the tree is already changed, so the
		// engine must reload it.
		return nil, &BrokenTreeError{Err: fmt.Errorf("%w: the commit's blocks are %d bytes, the limit is %d", ErrTooLarge, n, MaxCommitBlocks)}
	}
	r.head = &head
	res.Nodes, res.Removed = r.settle(res.Nodes)
	return res, nil
}

// collapse merges several ops on one path into the single net op.
func collapse(ops []AppliedOp) []AppliedOp {
	idx := map[string]int{}
	out := make([]AppliedOp, 0, len(ops))
	for _, op := range ops {
		p := op.Path()
		i, seen := idx[p]
		if !seen {
			idx[p] = len(out)
			out = append(out, op)
			continue
		}
		first := out[i]
		merged := AppliedOp{Collection: op.Collection, Rkey: op.Rkey, Prev: first.Prev, CID: op.CID}
		switch {
		case first.Prev == nil && op.CID == nil:
			merged.Action = "" // created then deleted: nothing
		case first.Prev == nil:
			merged.Action = Create
		case op.CID == nil:
			merged.Action = Delete
		default:
			merged.Action = Update
		}
		out[i] = merged
	}
	kept := out[:0]
	for _, op := range out {
		if op.Action != "" {
			kept = append(kept, op)
		}
	}
	return kept
}

// BrokenTreeError means the in-memory tree may no longer match storage; the
// engine must drop this Repo and load it again.
type BrokenTreeError struct{ Err error }

func (e *BrokenTreeError) Error() string { return e.Err.Error() }
func (e *BrokenTreeError) Unwrap() error { return e.Err }

// Nodes returns every MST node block of the current tree.
func (r *Repo) Nodes() ([]Block, error) {
	var out []Block
	if r.tree.Root == nil {
		return nil, nil
	}
	if r.nodeBytes == nil {
		r.nodeBytes = map[cid.Cid][]byte{}
	}
	if err := r.walkNodes(r.tree.Root, func(b Block) { out = append(out, b) }); err != nil {
		return nil, err
	}
	if len(r.nodeBytes) > 2*len(out)+64 { // drop nodes of older trees
		fresh := make(map[cid.Cid][]byte, len(out))
		for _, b := range out {
			fresh[b.CID] = b.Data
		}
		r.nodeBytes = fresh
	}
	return out, nil
}

func (r *Repo) walkNodes(n *mst.Node, emit func(Block)) error {
	var blk Block
	if n.CID != nil && !n.Dirty {
		if b, ok := r.nodeBytes[*n.CID]; ok {
			blk = Block{CID: *n.CID, Data: b}
		}
	}
	if blk.Data == nil {
		nd := n.NodeData()
		data, c, err := nd.Bytes()
		if err != nil {
			return fmt.Errorf("encode MST node: %w", err)
		}
		blk = Block{CID: *c, Data: data}
		r.nodeBytes[*c] = data
	}
	emit(blk)
	for _, e := range n.Entries {
		if e.IsChild() {
			if e.Child == nil {
				return fmt.Errorf("%w: missing child %s", mst.ErrPartialTree, e.ChildCID)
			}
			if err := r.walkNodes(e.Child, emit); err != nil {
				return err
			}
		}
	}
	return nil
}

// ProofNodes returns the MST nodes on the path from the root to where path
// is (or would be): a proof of its presence or absence.
func (r *Repo) ProofNodes(path string) ([]Block, error) {
	var out []Block
	key := []byte(path)
	n := r.tree.Root
	for n != nil {
		nd := n.NodeData()
		data, c, err := nd.Bytes()
		if err != nil {
			return nil, fmt.Errorf("encode MST node: %w", err)
		}
		out = append(out, Block{CID: *c, Data: data})
		var next *mst.Node
		for _, e := range n.Entries {
			if e.IsValue() {
				cmp := bytes.Compare(e.Key, key)
				if cmp == 0 {
					return out, nil
				}
				if cmp > 0 {
					break
				}
				next = nil
			} else if e.IsChild() {
				next = e.Child
			}
		}
		n = next
	}
	return out, nil
}

// Walk calls f for every (path, cid) in key order.
func (r *Repo) Walk(f func(path string, c cid.Cid) error) error {
	if r.tree.IsEmpty() {
		return nil
	}
	return r.tree.Walk(func(k []byte, v cid.Cid) error { return f(string(k), v) })
}

// Rebase makes a repo from a complete, verified tree (an import) and signs a
// fresh commit over it with key. The new rev is later than afterRev.
func Rebase(did syntax.DID, tree *mst.Tree, key atcrypto.PrivateKey, afterRev string) (*Repo, error) {
	if tree.IsPartial() {
		return nil, fmt.Errorf("%w: tree is missing nodes", mst.ErrPartialTree)
	}
	root, err := tree.RootCID()
	if err != nil {
		return nil, fmt.Errorf("compute MST root: %w", err)
	}
	r := &Repo{DID: did, tree: tree, clock: syntax.ClockFromTID(syntax.TID("2222222222222"))}
	if afterRev != "" {
		if _, err := syntax.ParseTID(afterRev); err == nil {
			r.clock = syntax.ClockFromTID(syntax.TID(afterRev))
		}
	}
	commit := repo.Commit{DID: did.String(), Version: repo.ATPROTO_REPO_VERSION, Data: *root, Rev: r.clock.Next().String()}
	if err := commit.Sign(key); err != nil {
		return nil, fmt.Errorf("sign commit: %w", err)
	}
	buf := new(bytes.Buffer)
	if err := commit.MarshalCBOR(buf); err != nil {
		return nil, fmt.Errorf("encode commit: %w", err)
	}
	cc, err := CBORCID(buf.Bytes())
	if err != nil {
		return nil, err
	}
	r.head = &Head{CID: cc, Commit: commit, Bytes: buf.Bytes()}
	return r, nil
}

// carSize is the size of a CARv1 holding blocks (header with one root).
func carSize(blocks []Block) int {
	n := 60 // header: {roots:[cid], version:1}
	for _, b := range blocks {
		l := len(b.CID.Bytes()) + len(b.Data)
		n += l + varintLen(uint64(l))
	}
	return n
}

func varintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
