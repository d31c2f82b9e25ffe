package repos

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/ipfs/go-cid"
)

// A spill holds the repo blocks of a CAR being imported on disk, so that
// an import's memory does not grow with the CAR: each block goes to a
// temporary file as its 32-byte SHA-256 digest followed by its bytes, and
// a compact index (16 bytes a block, sorted by the digest's first eight
// bytes) finds it again. Only repo blocks (CIDv1, DAG-CBOR, SHA-256) are
// kept: nothing else can be an MST node, a record or the commit, and
// digests an attacker cannot choose keep the index free of collisions.
type spill struct {
	f    *os.File
	name string // removed on close (already unlinked where the OS allows)
	w    *bufio.Writer
	size int64
	idx  []spillEntry
	buf  []byte // scratch for reads
}

// spillEntry locates one block: loc packs the offset (40 bits), a node
// mark (1 bit) and the length (23 bits).
type spillEntry struct {
	key uint64
	loc uint64
}

const (
	spillLenBits  = 23
	spillNodeBit  = uint64(1) << spillLenBits
	spillLenMask  = spillNodeBit - 1
	spillOffShift = spillLenBits + 1
	spillMaxOff   = int64(1) << 40
	digestLen     = 32
)

func (e spillEntry) off() int64     { return int64(e.loc >> spillOffShift) }
func (e spillEntry) size() int      { return int(e.loc & spillLenMask) }
func (e spillEntry) node() bool     { return e.loc&spillNodeBit != 0 }
func spillKey(digest []byte) uint64 { return binary.BigEndian.Uint64(digest[:8]) }

// MaxImportBlocks bounds the blocks of one imported CAR (about six million
// records), so that the spill's index stays within 128 MB.
const MaxImportBlocks = 8 << 20

// spillPrefix names spill files; stale ones (left by a crash where an open
// file cannot be unlinked) are removed by the next import.
const spillPrefix = "hearth-import-"

// newSpill creates a spill file in dir (the OS's temp dir if empty).
func newSpill(dir string) (*spill, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	sweepSpills(dir)
	f, name, err := tempFile(dir)
	if err != nil {
		return nil, err
	}
	return &spill{f: f, name: name, w: bufio.NewWriterSize(f, 256<<10)}, nil
}

// tempFile creates a temporary file in dir. Where the OS allows it the
// file is unlinked at once (name is then ""), so that it goes away with
// the process, even on kill -9; otherwise the caller removes name.
func tempFile(dir string) (f *os.File, name string, err error) {
	f, err = os.CreateTemp(dir, spillPrefix+"*.tmp")
	if err != nil {
		return nil, "", fmt.Errorf("create the import's temporary file: %w", err)
	}
	name = f.Name()
	if runtime.GOOS != "windows" {
		if err := os.Remove(name); err == nil {
			name = ""
		}
	}
	return f, name, nil
}

// sweepSpills removes spill files a crashed import left in dir a day ago
// or earlier (best effort).
func sweepSpills(dir string) {
	old, _ := filepath.Glob(filepath.Join(dir, spillPrefix+"*.tmp"))
	for _, p := range old {
		if st, err := os.Stat(p); err == nil && time.Since(st.ModTime()) > 24*time.Hour {
			_ = os.Remove(p)
		}
	}
}

// put stores a block the CAR reader verified (its bytes hash to c). Blocks
// that are not repo blocks are skipped; duplicates are found at lookup.
func (s *spill) put(c cid.Cid, data []byte) error {
	if !isRepoCID(c) {
		return nil
	}
	if len(s.idx) >= MaxImportBlocks {
		return badCAR("more than %d blocks", MaxImportBlocks)
	}
	if len(data) > int(spillLenMask) {
		return badCAR("block %s is %d bytes", c, len(data))
	}
	if s.size+int64(digestLen+len(data)) >= spillMaxOff {
		return badCAR("the CAR is too large")
	}
	digest := c.Hash()[len(c.Hash())-digestLen:]
	s.idx = append(s.idx, spillEntry{key: spillKey(digest), loc: uint64(s.size)<<spillOffShift | uint64(len(data))})
	if _, err := s.w.Write(digest); err != nil {
		return fmt.Errorf("write the import's temporary file: %w", err)
	}
	if _, err := s.w.Write(data); err != nil {
		return fmt.Errorf("write the import's temporary file: %w", err)
	}
	s.size += int64(digestLen + len(data))
	return nil
}

// finish flushes the file and sorts the index; the spill is read-only
// after.
func (s *spill) finish() error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("write the import's temporary file: %w", err)
	}
	slices.SortFunc(s.idx, func(a, b spillEntry) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	s.idx = slices.Clip(s.idx)
	return nil
}

// errNoBlock is get's answer for a block the CAR does not hold.
var errNoBlock = errors.New("block not in the CAR")

// get returns c's bytes (valid until the next get) and its index position,
// or errNoBlock.
func (s *spill) get(c cid.Cid) ([]byte, int, error) {
	if !isRepoCID(c) {
		return nil, 0, errNoBlock
	}
	digest := c.Hash()[len(c.Hash())-digestLen:]
	k := spillKey(digest)
	i, _ := slices.BinarySearchFunc(s.idx, k, func(e spillEntry, k uint64) int {
		switch {
		case e.key < k:
			return -1
		case e.key > k:
			return 1
		}
		return 0
	})
	for ; i < len(s.idx) && s.idx[i].key == k; i++ {
		b, err := s.read(s.idx[i])
		if err != nil {
			return nil, 0, err
		}
		if bytes.Equal(b[:digestLen], digest) {
			return b[digestLen:], i, nil
		}
	}
	return nil, 0, errNoBlock
}

func (s *spill) read(e spillEntry) ([]byte, error) {
	n := digestLen + e.size()
	if cap(s.buf) < n {
		s.buf = make([]byte, n, max(n, 4096))
	}
	b := s.buf[:n]
	if _, err := s.f.ReadAt(b, e.off()); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read the import's temporary file: %w", err)
	}
	return b, nil
}

// markNode marks the block at i as an MST node; it reports false if it
// was marked already.
func (s *spill) markNode(i int) bool {
	if s.idx[i].node() {
		return false
	}
	s.idx[i].loc |= spillNodeBit
	return true
}

// nodes calls fn with each marked node, in CID order (the order that fills
// the block table's pages).
func (s *spill) nodes(fn func(c cid.Cid, data []byte) error) error {
	for _, e := range s.idx {
		if !e.node() {
			continue
		}
		b, err := s.read(e)
		if err != nil {
			return err
		}
		mh := append([]byte{0x12, 0x20}, b[:digestLen]...)
		c := cid.NewCidV1(cid.DagCBOR, mh)
		if err := fn(c, b[digestLen:]); err != nil {
			return err
		}
	}
	return nil
}

func (s *spill) close() error {
	err := s.f.Close()
	if s.name != "" {
		err = errors.Join(err, os.Remove(s.name))
	}
	return err
}
