package actorrepo

import (
	"bytes"
	"fmt"

	"github.com/bluesky-social/indigo/atproto/repo"
	"github.com/bluesky-social/indigo/atproto/repo/mst"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"
)

// NodeSource gives the encoded MST node stored under a CID. A lazily
// opened Repo reads the nodes a write touches from it (the engine's block
// table behind a byte-bounded cache), so a write costs O(depth) reads,
// whatever the size of the repo.
type NodeSource interface {
	NodeBytes(c cid.Cid) ([]byte, error)
}

// Open makes a repo from its head commit whose tree is read lazily from
// src: only the root is decoded now; a write loads the nodes on the paths
// of its keys (and, for a delete, the neighbours it may merge), and after
// each commit at most maxWarmNodes decoded nodes stay, so memory stays
// bounded.
func Open(did syntax.DID, headBytes []byte, src NodeSource) (*Repo, error) {
	var c repo.Commit
	if err := c.UnmarshalCBOR(bytes.NewReader(headBytes)); err != nil {
		return nil, fmt.Errorf("decode head commit of %s: %w", did, err)
	}
	hc, err := CBORCID(headBytes)
	if err != nil {
		return nil, err
	}
	r := &Repo{DID: did, src: src, loaded: map[cid.Cid]struct{}{}}
	root, err := r.loadNode(c.Data, -1)
	if err != nil {
		return nil, fmt.Errorf("open MST of %s: %w", did, err)
	}
	r.tree = &mst.Tree{Root: root}
	r.head = &Head{CID: hc, Commit: c, Bytes: headBytes}
	r.clock = syntax.ClockFromTID(syntax.TID(c.Rev))
	return r, nil
}

// loadNode reads and decodes node c, checking its bytes hash to c. height
// is its layer, known from its parent; -1 for the root, whose layer is that
// of its first key.
func (r *Repo) loadNode(c cid.Cid, height int) (*mst.Node, error) {
	b, err := r.src.NodeBytes(c)
	if err != nil {
		return nil, fmt.Errorf("read MST node %s: %w", c, err)
	}
	got, err := CBORCID(b)
	if err != nil {
		return nil, err
	}
	if !got.Equals(c) {
		return nil, fmt.Errorf("MST node %s is damaged: its bytes hash to %s", c, got)
	}
	nd, err := mst.NodeDataFromCBOR(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("decode MST node %s: %w", c, err)
	}
	if err := checkPrefixes(nd); err != nil {
		return nil, fmt.Errorf("MST node %s: %w", c, err)
	}
	n := nd.Node(&c)
	switch {
	case height < 0 && n.Height < 0:
		if len(n.Entries) > 0 {
			return nil, fmt.Errorf("MST root %s holds only a subtree", c)
		}
		n.Height = 0 // the empty repo
	case height < 0:
	case n.Height >= 0 && n.Height != height:
		return nil, fmt.Errorf("MST node %s holds keys of layer %d where layer %d belongs", c, n.Height, height)
	default:
		n.Height = height
	}
	r.loaded[c] = struct{}{}
	return &n, nil
}

// checkPrefixes refuses prefix lengths past the previous key (indigo's
// decoder would panic on them).
func checkPrefixes(nd *mst.NodeData) error {
	prev := 0
	for _, e := range nd.Entries {
		if e.PrefixLen < 0 || int(e.PrefixLen) > prev {
			return fmt.Errorf("bad key prefix length %d", e.PrefixLen)
		}
		prev = int(e.PrefixLen) + len(e.KeySuffix)
	}
	return nil
}

// child returns n's child at entry i, loading it if needed.
func (r *Repo) child(n *mst.Node, i int) (*mst.Node, error) {
	e := &n.Entries[i]
	if e.Child != nil {
		return e.Child, nil
	}
	if e.ChildCID == nil {
		return nil, fmt.Errorf("MST entry %d of a node has neither child nor CID", i)
	}
	c, err := r.loadNode(*e.ChildCID, n.Height-1)
	if err != nil {
		return nil, err
	}
	e.Child = c
	return c, nil
}

// hydrate loads what an operation on key needs: the nodes on the key's
// path down to the bottom layer and, with neighbours set (a delete), the
// facing spines of the subtrees left and right of the key, which a delete
// merges. A full (not lazily opened) tree needs nothing.
func (r *Repo) hydrate(key []byte, neighbours bool) error {
	if r.src == nil {
		return nil
	}
	if err := r.unstubRoot(); err != nil {
		return err
	}
	n := r.tree.Root
	for n != nil {
		found, cover := -1, -1
		for i, e := range n.Entries {
			if e.IsValue() {
				c := bytes.Compare(e.Key, key)
				if c == 0 {
					found = i
					break
				}
				if c > 0 {
					break
				}
				cover = -1
			} else if e.IsChild() {
				cover = i
			}
		}
		if found >= 0 {
			if !neighbours {
				return nil
			}
			if found > 0 && n.Entries[found-1].IsChild() {
				if err := r.spine(n, found-1, false); err != nil {
					return err
				}
			}
			if found+1 < len(n.Entries) && n.Entries[found+1].IsChild() {
				if err := r.spine(n, found+1, true); err != nil {
					return err
				}
			}
			return nil
		}
		if cover < 0 {
			return nil
		}
		next, err := r.child(n, cover)
		if err != nil {
			return err
		}
		n = next
	}
	return nil
}

// spine loads n's child at entry i and, from it down, its first entries'
// children (leftmost) or its last entries' children (rightmost).
func (r *Repo) spine(n *mst.Node, i int, leftmost bool) error {
	for {
		c, err := r.child(n, i)
		if err != nil {
			return err
		}
		n = c
		if len(n.Entries) == 0 {
			return nil
		}
		i = len(n.Entries) - 1
		if leftmost {
			i = 0
		}
		if !n.Entries[i].IsChild() {
			return nil
		}
	}
}

// unstubRoot loads a root that a delete left as a stub, and prunes roots
// that hold only a subtree, as the canonical tree has no such root.
func (r *Repo) unstubRoot() error {
	for {
		root := r.tree.Root
		if root.Stub {
			if root.CID == nil {
				return fmt.Errorf("%w: stub root without CID", mst.ErrPartialTree)
			}
			n, err := r.loadNode(*root.CID, root.Height)
			if err != nil {
				return err
			}
			r.tree.Root = n
			continue
		}
		if len(root.Entries) == 1 && root.Entries[0].IsChild() {
			c, err := r.child(root, 0)
			if err != nil {
				return err
			}
			r.tree.Root = c
			continue
		}
		return nil
	}
}

// settle runs after a lazy tree's new nodes are encoded: it lists the
// nodes in memory before the commit that the new tree no longer holds (to
// delete from the block table), and keeps of the encoded nodes only those
// the tree did not hold before (a node re-encoded unchanged is already
// stored); the in-memory part of the new tree is kept up to maxWarmNodes
// nodes, else cut back to its root.
func (r *Repo) settle(encoded []Block) (added []Block, removed []cid.Cid) {
	if r.src == nil {
		return encoded, nil
	}
	added = encoded[:0:0]
	for _, b := range encoded {
		if _, ok := r.loaded[b.CID]; !ok {
			added = append(added, b)
		}
	}
	present := map[cid.Cid]struct{}{}
	var walk func(n *mst.Node)
	walk = func(n *mst.Node) {
		if n.CID != nil {
			present[*n.CID] = struct{}{}
		}
		for _, e := range n.Entries {
			if e.Child != nil {
				walk(e.Child)
			}
		}
	}
	walk(r.tree.Root)
	for c := range r.loaded {
		if _, ok := present[c]; !ok {
			removed = append(removed, c)
		}
	}
	// The decoded nodes stay for the next writes (which mostly touch the
	// same paths) until there are too many.
	r.loaded = present
	if len(present) > maxWarmNodes {
		r.prune()
	}
	return added, removed
}

// maxWarmNodes bounds the decoded nodes a lazily opened repo keeps between
// commits (tens of KB: the paths recent writes touched); past it the tree is cut back to its root.
const maxWarmNodes = 128

// prune drops every loaded node below the root.
func (r *Repo) prune() {
	root := r.tree.Root
	for i := range root.Entries {
		e := &root.Entries[i]
		if e.Child != nil && e.Child.CID != nil {
			c := *e.Child.CID
			e.ChildCID = &c
			e.Child = nil
		}
	}
	r.loaded = map[cid.Cid]struct{}{}
	if root.CID != nil {
		r.loaded[*root.CID] = struct{}{}
	}
}

// Lazy reports whether the tree is read from a NodeSource.
func (r *Repo) Lazy() bool { return r.src != nil }

// ProofPath returns the MST nodes from root down to where path is (or
// would be), read from src: a proof of its presence or absence, and the
// record's CID when present.
func ProofPath(src NodeSource, root cid.Cid, path string) ([]Block, *cid.Cid, error) {
	key := []byte(path)
	var out []Block
	next := &root
	for next != nil {
		c := *next
		b, err := src.NodeBytes(c)
		if err != nil {
			return nil, nil, fmt.Errorf("read MST node %s: %w", c, err)
		}
		nd, err := mst.NodeDataFromCBOR(bytes.NewReader(b))
		if err != nil {
			return nil, nil, fmt.Errorf("decode MST node %s: %w", c, err)
		}
		if err := checkPrefixes(nd); err != nil {
			return nil, nil, fmt.Errorf("MST node %s: %w", c, err)
		}
		out = append(out, Block{CID: c, Data: b})
		n := nd.Node(&c)
		next = nil
		for _, e := range n.Entries {
			if e.IsValue() {
				cmp := bytes.Compare(e.Key, key)
				if cmp == 0 {
					v := *e.Value
					return out, &v, nil
				}
				if cmp > 0 {
					break
				}
				next = nil
			} else if e.IsChild() {
				next = e.ChildCID
			}
		}
	}
	return out, nil, nil
}
