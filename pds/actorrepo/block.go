package actorrepo

import (
	"bufio"
	"context"
	"encoding/base32"
	"fmt"
	"io"
	"slices"

	"github.com/bluesky-social/indigo/atproto/atdata"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	car "github.com/ipld/go-car"
	carutil "github.com/ipld/go-car/util"
	"github.com/multiformats/go-multihash"
)

// Block is one content-addressed block.
type Block struct {
	CID  cid.Cid
	Data []byte
}

var cborPrefix = cid.Prefix{Version: 1, Codec: cid.DagCBOR, MhType: multihash.SHA2_256, MhLength: -1}
var rawPrefix = cid.Prefix{Version: 1, Codec: cid.Raw, MhType: multihash.SHA2_256, MhLength: -1}

// CBORCID computes the CIDv1 (dag-cbor, sha2-256) of data.
func CBORCID(data []byte) (cid.Cid, error) { return cborPrefix.Sum(data) }

// RawCID computes the CIDv1 (raw, sha2-256) of data, as used for blobs.
func RawCID(data []byte) (cid.Cid, error) { return rawPrefix.Sum(data) }

// EncodeRecord turns decoded atproto data into DAG-CBOR and its CID.
func EncodeRecord(rec map[string]any) (Block, error) {
	b, err := atdata.MarshalCBOR(rec)
	if err != nil {
		return Block{}, fmt.Errorf("encode record as DAG-CBOR: %w", err)
	}
	c, err := CBORCID(b)
	if err != nil {
		return Block{}, err
	}
	return Block{CID: c, Data: b}, nil
}

// CARWriter writes a CARv1 stream.
type CARWriter struct {
	w io.Writer
}

// NewCARWriter writes the header with the given root and returns the writer.
func NewCARWriter(w io.Writer, root cid.Cid) (*CARWriter, error) {
	if err := car.WriteHeader(&car.CarHeader{Roots: []cid.Cid{root}, Version: 1}, w); err != nil {
		return nil, fmt.Errorf("write CAR header: %w", err)
	}
	return &CARWriter{w: w}, nil
}

// Put writes one block.
func (cw *CARWriter) Put(b Block) error {
	if err := carutil.LdWrite(cw.w, b.CID.Bytes(), b.Data); err != nil {
		return fmt.Errorf("write CAR block: %w", err)
	}
	return nil
}

// PutRaw writes one block given its CID in binary form (the caller vouches
// that it is the data's CID); it spares exports a cid.Cid per record.
func (cw *CARWriter) PutRaw(cidBytes, data []byte) error {
	if err := carutil.LdWrite(cw.w, cidBytes, data); err != nil {
		return fmt.Errorf("write CAR block: %w", err)
	}
	return nil
}

// cidBase32 is the multibase "b" alphabet: RFC 4648 base32, lower case,
// without padding. Every CID Hearth stores as text is CIDv1 in it.
var cidBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// AppendCIDBytes appends the binary form of the CID in its string form s
// to dst. The CIDs Hearth stores (base32 CIDv1, dag-cbor or raw, sha2-256)
// are decoded without allocating; anything else, including any string that
// does not decode to exactly that shape, goes through cid.Decode. On error
// dst is returned unchanged.
func AppendCIDBytes(dst []byte, s []byte) ([]byte, error) {
	if len(s) > 1 && s[0] == 'b' {
		n := cidBase32.DecodedLen(len(s) - 1)
		start := len(dst)
		dst = slices.Grow(dst, n)[:start+n]
		m, err := cidBase32.Decode(dst[start:], s[1:])
		if b := dst[start:]; err == nil && m == 36 &&
			b[0] == 1 && (b[1] == 0x71 || b[1] == 0x55) && b[2] == 0x12 && b[3] == 0x20 { // v1, dag-cbor|raw, sha2-256 of 32 bytes
			return dst[:start+m], nil
		}
		dst = dst[:start]
	}
	c, err := cid.Decode(string(s))
	if err != nil {
		return dst, err
	}
	return append(dst, c.Bytes()...), nil
}

// CARReader reads a CARv1 stream, verifying that every block's bytes hash to
// its CID.
type CARReader struct {
	br    *bufio.Reader
	Roots []cid.Cid
}

// MaxBlockSize bounds one block in an imported CAR.
const MaxBlockSize = 2 << 20

// NewCARReader reads and checks the header.
func NewCARReader(r io.Reader) (*CARReader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	h, err := car.ReadHeader(br)
	if err != nil {
		return nil, fmt.Errorf("read CAR header: %w", err)
	}
	if h.Version != 1 {
		return nil, fmt.Errorf("unsupported CAR version %d", h.Version)
	}
	if len(h.Roots) == 0 {
		return nil, fmt.Errorf("CAR has no root")
	}
	return &CARReader{br: br, Roots: h.Roots}, nil
}

// Next returns the next verified block, or io.EOF.
func (cr *CARReader) Next() (Block, error) {
	if _, err := cr.br.Peek(1); err == io.EOF {
		return Block{}, io.EOF
	}
	c, data, err := carutil.ReadNode(cr.br)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Block{}, fmt.Errorf("read CAR block: %w", err)
	}
	if len(data) > MaxBlockSize {
		return Block{}, fmt.Errorf("CAR block %s is %d bytes, over the %d limit", c, len(data), MaxBlockSize)
	}
	got, err := c.Prefix().Sum(data)
	if err != nil {
		return Block{}, fmt.Errorf("hash CAR block %s: %w", c, err)
	}
	if !got.Equals(c) {
		return Block{}, fmt.Errorf("CAR block %s: bytes hash to %s", c, got)
	}
	return Block{CID: c, Data: data}, nil
}

// collector is a write-only blockstore used to capture the MST nodes that a
// commit changed.
type collector struct {
	blocks []Block
}

func (c *collector) Put(_ context.Context, b blocks.Block) error {
	c.blocks = append(c.blocks, Block{CID: b.Cid(), Data: b.RawData()})
	return nil
}
func (c *collector) PutMany(ctx context.Context, bs []blocks.Block) error {
	for _, b := range bs {
		if err := c.Put(ctx, b); err != nil {
			return err
		}
	}
	return nil
}
func (c *collector) DeleteBlock(context.Context, cid.Cid) error { return nil }
func (c *collector) Has(context.Context, cid.Cid) (bool, error) { return false, nil }
func (c *collector) Get(_ context.Context, k cid.Cid) (blocks.Block, error) {
	return nil, fmt.Errorf("collector: block %s not available", k)
}
func (c *collector) GetSize(context.Context, cid.Cid) (int, error) {
	return 0, fmt.Errorf("not supported")
}
func (c *collector) AllKeysChan(context.Context) (<-chan cid.Cid, error) {
	return nil, fmt.Errorf("not supported")
}
func (c *collector) HashOnRead(bool) {}
