package repos

import (
	"bytes"
	"unicode/utf8"

	"github.com/bluesky-social/indigo/atproto/atdata"
	"github.com/ipfs/go-cid"
)

// plainRecord reports whether data is a record that checkRecord would
// accept and that references no blob, read straight from the bytes without
// decoding and re-encoding it (most of an import's CPU otherwise). It
// accepts only a conservative subset: canonical DAG-CBOR (shortest heads,
// definite lengths, map keys strictly in length-then-bytes order) of
// objects, arrays, UTF-8 text, byte strings, integers within ±(2^53−1),
// booleans, null and CID links, nested at most MaxNesting deep, where no
// object is one atdata reads specially ($type "blob" or empty or not a
// string, $link, $bytes, a legacy blob). Anything else, good or bad, is
// left to the full check: false never means invalid. FuzzPlainRecord
// checks that the full check accepts, without blobs, all it accepts.
func plainRecord(data []byte) bool {
	if len(data) > atdata.MAX_CBOR_RECORD_SIZE || len(data) == 0 || data[0]>>5 != 5 {
		return false
	}
	s := cborScan{b: data}
	return s.value(1) && s.i == len(s.b)
}

type cborScan struct {
	b []byte
	i int
}

// head reads an item's head: its major type and argument, which must be
// in its shortest form (indefinite lengths and reserved values fail).
func (s *cborScan) head() (major byte, arg uint64, ok bool) {
	if s.i >= len(s.b) {
		return 0, 0, false
	}
	c := s.b[s.i]
	s.i++
	major, info := c>>5, c&0x1f
	switch {
	case info < 24:
		return major, uint64(info), true
	case info == 24:
		if s.i+1 > len(s.b) || s.b[s.i] < 24 {
			return 0, 0, false
		}
		arg = uint64(s.b[s.i])
		s.i++
	case info <= 27: // a 2-, 4- or 8-byte argument, too big for the next smaller width
		n := 1 << (info - 24)
		if s.i+n > len(s.b) {
			return 0, 0, false
		}
		for _, c := range s.b[s.i : s.i+n] {
			arg = arg<<8 | uint64(c)
		}
		s.i += n
		if arg < 1<<(4*n) {
			return 0, 0, false
		}
	default:
		return 0, 0, false
	}
	return major, arg, true
}

// bytesOf reads n bytes of a string's content.
func (s *cborScan) bytesOf(n uint64) ([]byte, bool) {
	if n > uint64(len(s.b)-s.i) {
		return nil, false
	}
	out := s.b[s.i : s.i+int(n)]
	s.i += int(n)
	return out, true
}

// value scans one item at nesting depth (the record itself is at 1).
func (s *cborScan) value(depth int) bool {
	major, arg, ok := s.head()
	if !ok {
		return false
	}
	switch major {
	case 0:
		return arg <= uint64(maxSafeInt)
	case 1:
		return arg < uint64(maxSafeInt) // -1-arg ≥ -(2^53-1)
	case 2:
		_, ok := s.bytesOf(arg)
		return ok
	case 3:
		str, ok := s.bytesOf(arg)
		return ok && utf8.Valid(str)
	case 4:
		if depth > MaxNesting || arg > atdata.MAX_CBOR_CONTAINER_LEN {
			return false
		}
		for range arg {
			if !s.value(depth + 1) {
				return false
			}
		}
		return true
	case 5:
		if depth > MaxNesting {
			return false
		}
		return s.object(arg, depth)
	case 6:
		return arg == 42 && s.link()
	case 7:
		return arg == 20 || arg == 21 || arg == 22 // false, true, null
	}
	return false
}

// object scans a map of n entries at depth.
func (s *cborScan) object(n uint64, depth int) bool {
	if n > atdata.MAX_CBOR_CONTAINER_LEN {
		return false
	}
	var prev []byte
	var hasMime, hasCID bool
	for k := uint64(0); k < n; k++ {
		major, klen, ok := s.head()
		if !ok || major != 3 || klen > atdata.MAX_OBJECT_KEY_LEN {
			return false
		}
		key, ok := s.bytesOf(klen)
		if !ok || !utf8.Valid(key) {
			return false
		}
		// Canonical order: shorter keys first, then bytewise; no repeats.
		if k > 0 && (len(key) < len(prev) || len(key) == len(prev) && bytes.Compare(key, prev) <= 0) {
			return false
		}
		prev = key
		switch string(key) {
		case "$link", "$bytes":
			return false
		case "$type":
			// A non-empty string other than "blob".
			start := s.i
			major, tlen, ok := s.head()
			if !ok || major != 3 || tlen == 0 {
				return false
			}
			t, ok := s.bytesOf(tlen)
			if !ok || string(t) == "blob" {
				return false
			}
			s.i = start
		case "mimeType":
			hasMime = true
		case "cid":
			hasCID = true
		}
		if !s.value(depth + 1) {
			return false
		}
	}
	legacyBlob := n == 2 && hasMime && hasCID
	return !legacyBlob
}

// link scans a CID link's content (tag 42 read): a byte string of 0x00
// and a CID in its canonical binary form.
func (s *cborScan) link() bool {
	major, n, ok := s.head()
	if !ok || major != 2 || n < 2 || n > atdata.MAX_CID_BYTES+1 {
		return false
	}
	b, ok := s.bytesOf(n)
	if !ok || b[0] != 0 {
		return false
	}
	c, err := cid.Cast(b[1:])
	return err == nil && c.Defined() && bytes.Equal(c.Bytes(), b[1:])
}
