package repos

import "encoding/binary"

// recordDedup decides which record blocks an export writes: records with
// equal content share a CID, and a CAR holds each block once.
//
// An exact set of every CID (36 bytes each) costs about 45 MB of heap at a
// million records, so the usual CIDs (CIDv1, sha2-256: 36 bytes) are keyed
// by 8 bytes of their digest instead (about 10 MB). A record whose key was
// already seen is either the same block again or, very rarely, a different
// CID with the same 8 bytes; it is not written in the first pass but kept
// (once per distinct CID) in pending. Resolve then learns, from a second
// pass over the same rows in the same order, which CID each such key first
// stood for: the pending CIDs that differ from it are the ones still to
// write. Other CIDs go in an exact set.
type recordDedup struct {
	seen    map[uint64]struct{}
	other   map[string]struct{}
	pending map[[36]byte][]byte // CID -> block, for keys seen twice
}

func newRecordDedup(sizeHint int) *recordDedup {
	return &recordDedup{seen: make(map[uint64]struct{}, sizeHint), other: map[string]struct{}{}, pending: map[[36]byte][]byte{}}
}

func dedupKey(c []byte) uint64 { return binary.LittleEndian.Uint64(c[4:12]) }

// First reports whether the block with binary CID c (data its bytes) is to
// be written now. When it is not and it may be a different block, a copy
// is kept for Resolve.
func (d *recordDedup) First(c, data []byte) bool {
	if len(c) != 36 {
		if _, dup := d.other[string(c)]; dup {
			return false
		}
		d.other[string(c)] = struct{}{}
		return true
	}
	k := dedupKey(c)
	if _, dup := d.seen[k]; !dup {
		d.seen[k] = struct{}{}
		return true
	}
	full := [36]byte(c)
	if _, ok := d.pending[full]; !ok {
		d.pending[full] = append([]byte(nil), data...)
	}
	return false
}

// NeedsResolve reports whether some record was held back (Resolve must run).
func (d *recordDedup) NeedsResolve() bool { return len(d.pending) > 0 }

// Resolve calls next for the CIDs of the first pass's rows again, in the
// same order, until it reports false, then calls put for every held-back
// block that the first pass did not write. next's CID is valid until its
// next call.
func (d *recordDedup) Resolve(next func() ([]byte, bool, error), put func(c, data []byte) error) error {
	if len(d.pending) == 0 {
		return nil
	}
	held := make(map[uint64]bool, len(d.pending)) // key -> its first row seen yet
	for c := range d.pending {
		held[dedupKey(c[:])] = false
	}
	written := make(map[[36]byte]struct{}, len(held))
	for len(written) < len(held) {
		c, ok, err := next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if len(c) != 36 {
			continue
		}
		k := dedupKey(c)
		if done, ok := held[k]; ok && !done {
			held[k] = true
			written[[36]byte(c)] = struct{}{}
		}
	}
	for c, data := range d.pending {
		if _, ok := written[c]; ok {
			continue
		}
		if err := put(c[:], data); err != nil {
			return err
		}
	}
	return nil
}
