package repos

import (
	"bytes"
	"errors"

	"github.com/bluesky-social/indigo/atproto/repo/mst"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// isRepoCID reports whether c is how atproto repos address blocks: CIDv1,
// DAG-CBOR, SHA-256.
func isRepoCID(c cid.Cid) bool {
	p := c.Prefix()
	return p.Version == 1 && p.Codec == cid.DagCBOR && p.MhType == multihash.SHA2_256 && p.MhLength == 32
}

// checkMST checks an imported MST before indigo loads it (indigo's decoder
// trusts its input: a prefix length past the previous key panics, and a
// node referenced from many places takes exponential time). It walks the
// tree in key order and checks what makes an MST the one tree for its keys:
// every node block is present, canonical DAG-CBOR and referenced once; no
// node but an empty root is empty (a node below the root may hold only a
// subtree, when a layer has no keys there; the root may not); prefix lengths are within the previous
// key and as long as the shared prefix; keys are valid and strictly
// increasing across the whole tree; every key of a node has the node's
// layer, and children are exactly one layer down. It reads the nodes
// from the spill (marking them there: a node marked already is referenced
// twice), calls record with each key and value in key order, and returns
// the number of nodes.
func checkMST(sp *spill, root cid.Cid, record func(key []byte, v cid.Cid) error) (nodes int, err error) {
	w := mstCheck{sp: sp, record: record}
	nd, err := w.load(root)
	if err != nil {
		return 0, err
	}
	if len(nd.Entries) == 0 {
		if nd.Left != nil {
			return 0, badCAR("MST root %s has a subtree but no entries", root)
		}
		return w.nodes, nil // the empty repo
	}
	// The root's layer is that of its first key (the prefix is checked
	// when the node is walked).
	layer := mst.HeightForKey(nd.Entries[0].KeySuffix)
	if err := w.walk(root, nd, layer); err != nil {
		return 0, err
	}
	return w.nodes, nil
}

type mstCheck struct {
	sp     *spill
	record func(key []byte, v cid.Cid) error
	nodes  int
	last   []byte // the last key seen, in key order
}

func (w *mstCheck) load(c cid.Cid) (*mst.NodeData, error) {
	if !isRepoCID(c) {
		return nil, badCAR("MST node %s is not a DAG-CBOR, SHA-256 CID", c)
	}
	data, pos, err := w.sp.get(c)
	if errors.Is(err, errNoBlock) {
		return nil, badCAR("MST node %s is missing", c)
	}
	if err != nil {
		return nil, err
	}
	if !w.sp.markNode(pos) {
		return nil, badCAR("MST node %s is referenced more than once", c)
	}
	w.nodes++
	nd, err := mst.NodeDataFromCBOR(bytes.NewReader(data))
	if err != nil {
		return nil, badCAR("MST node %s: %v", c, err)
	}
	var again bytes.Buffer
	if err := nd.MarshalCBOR(&again); err != nil || !bytes.Equal(again.Bytes(), data) {
		return nil, badCAR("MST node %s is not canonical DAG-CBOR", c)
	}
	return nd, nil
}

// walk checks node nd (block c) at layer and its subtrees, in key order.
// Recursion is bounded: each level down is one layer lower.
func (w *mstCheck) walk(c cid.Cid, nd *mst.NodeData, layer int) error {
	if len(nd.Entries) == 0 && nd.Left == nil {
		return badCAR("MST node %s is empty", c)
	}
	child := func(cc cid.Cid) error {
		if layer == 0 {
			return badCAR("MST node %s is on layer 0 but has a subtree", c)
		}
		sub, err := w.load(cc)
		if err != nil {
			return err
		}
		return w.walk(cc, sub, layer-1)
	}
	if nd.Left != nil {
		if err := child(*nd.Left); err != nil {
			return err
		}
	}
	var prev []byte
	for i, e := range nd.Entries {
		if e.PrefixLen < 0 || e.PrefixLen > int64(len(prev)) {
			return badCAR("MST node %s: entry %d has prefix length %d, but the previous key has %d bytes", c, i, e.PrefixLen, len(prev))
		}
		key := make([]byte, 0, int(e.PrefixLen)+len(e.KeySuffix))
		key = append(append(key, prev[:e.PrefixLen]...), e.KeySuffix...)
		if int(e.PrefixLen) != mst.CountPrefixLen(prev, key) {
			return badCAR("MST node %s: entry %d has prefix length %d, not the %d bytes it shares with the previous key", c, i, e.PrefixLen, mst.CountPrefixLen(prev, key))
		}
		if !mst.IsValidKey(key) {
			return badCAR("MST node %s: entry %d has an invalid key", c, i)
		}
		if h := mst.HeightForKey(key); h != layer {
			return badCAR("MST node %s: key %q belongs on layer %d, not %d", c, key, h, layer)
		}
		if w.last != nil && bytes.Compare(key, w.last) <= 0 {
			return badCAR("MST node %s: key %q is out of order (after %q)", c, key, w.last)
		}
		w.last, prev = key, key
		if err := w.record(key, e.Value); err != nil {
			return err
		}
		if e.Right != nil {
			if err := child(*e.Right); err != nil {
				return err
			}
		}
	}
	return nil
}
