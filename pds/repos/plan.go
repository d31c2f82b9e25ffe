package repos

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/ipfs/go-cid"
)

// A plan is the verified records of an imported CAR, in key order, on
// disk: what the import writes and what the loss guard and the CAR
// browser read, without holding a million records in memory. Each entry
// is the record's path, its CID, its bytes and the blobs it references,
// so that the write reads the file in order rather than each block where
// it was in the CAR.
type plan struct {
	f    *os.File
	name string // removed on close when not unlinked already
	w    *bufio.Writer
	size int64
	scr  []byte
}

// planRecord is one entry of a plan.
type planRecord struct {
	collection, rkey string
	cid              cid.Cid
	data             []byte // valid until the next entry is read
	blobs            []cid.Cid
}

func (r *planRecord) path() string { return r.collection + "/" + r.rkey }

func newPlan(dir string) (*plan, error) {
	f, name, err := tempFile(dir)
	if err != nil {
		return nil, err
	}
	return &plan{f: f, name: name, w: bufio.NewWriterSize(f, 256<<10)}, nil
}

func (p *plan) add(r *planRecord) error {
	b := p.scr[:0]
	b = appendString(b, r.collection)
	b = appendString(b, r.rkey)
	b = appendString(b, r.cid.KeyString())
	b = binary.AppendUvarint(b, uint64(len(r.data)))
	b = append(b, r.data...)
	b = binary.AppendUvarint(b, uint64(len(r.blobs)))
	for _, c := range r.blobs {
		b = appendString(b, c.KeyString())
	}
	p.scr = b
	if _, err := p.w.Write(b); err != nil {
		return fmt.Errorf("write the import's temporary file: %w", err)
	}
	p.size += int64(len(b))
	return nil
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func (p *plan) finish() error {
	if err := p.w.Flush(); err != nil {
		return fmt.Errorf("write the import's temporary file: %w", err)
	}
	return nil
}

// each calls fn with the records from offset from on, in key order, until
// fn returns stop or an error. fn gets each entry's offset; the record
// is reused between calls.
func (p *plan) each(from int64, fn func(off int64, r *planRecord) (stop bool, err error)) error {
	br := bufio.NewReaderSize(io.NewSectionReader(p.f, from, p.size-from), 256<<10)
	off := from
	var r planRecord
	var s, data []byte
	str := func() (string, error) {
		n, err := binary.ReadUvarint(br)
		if err != nil {
			return "", err
		}
		if n > 1<<20 {
			return "", errors.New("corrupt entry")
		}
		if uint64(cap(s)) < n {
			s = make([]byte, n)
		}
		s = s[:n]
		if _, err := io.ReadFull(br, s); err != nil {
			return "", err
		}
		return string(s), nil
	}
	for off < p.size {
		start := off
		read := func() error {
			var err error
			if r.collection, err = str(); err != nil {
				return err
			}
			if r.rkey, err = str(); err != nil {
				return err
			}
			cs, err := str()
			if err != nil {
				return err
			}
			if r.cid, err = cid.Cast([]byte(cs)); err != nil {
				return err
			}
			dn, err := binary.ReadUvarint(br)
			if err != nil {
				return err
			}
			if dn > 1<<24 {
				return errors.New("corrupt entry")
			}
			if uint64(cap(data)) < dn {
				data = make([]byte, dn)
			}
			r.data = data[:dn]
			if _, err := io.ReadFull(br, r.data); err != nil {
				return err
			}
			nb, err := binary.ReadUvarint(br)
			if err != nil {
				return err
			}
			r.blobs = r.blobs[:0]
			for range nb {
				bs, err := str()
				if err != nil {
					return err
				}
				c, err := cid.Cast([]byte(bs))
				if err != nil {
					return err
				}
				r.blobs = append(r.blobs, c)
			}
			return nil
		}
		if err := read(); err != nil {
			return fmt.Errorf("read the import's temporary file: %w", err)
		}
		stop, err := fn(start, &r)
		if err != nil || stop {
			return err
		}
		off = start + int64(r.encodedLen())
	}
	return nil
}

// encodedLen is the size of r's entry.
func (r *planRecord) encodedLen() int {
	n := strLen(len(r.collection)) + strLen(len(r.rkey)) + strLen(r.cid.ByteLen()) + strLen(len(r.data)) + uvarintLen(uint64(len(r.blobs)))
	for _, b := range r.blobs {
		n += strLen(b.ByteLen())
	}
	return n
}

func strLen(n int) int { return uvarintLen(uint64(n)) + n }

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func (p *plan) close() error {
	err := p.f.Close()
	if p.name != "" {
		err = errors.Join(err, os.Remove(p.name))
	}
	return err
}
