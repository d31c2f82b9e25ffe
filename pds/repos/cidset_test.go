package repos

import (
	"bytes"
	"slices"
	"testing"
)

// cidOf returns a 36-byte CIDv1 (dag-cbor, sha2-256) whose digest starts
// with the 8 bytes of prefix and ends with tail.
func cidOf(prefix, tail byte) []byte {
	c := []byte{0x01, 0x71, 0x12, 0x20}
	c = append(c, bytes.Repeat([]byte{prefix}, 8)...)
	c = append(c, bytes.Repeat([]byte{tail}, 24)...)
	return c
}

func TestRecordDedup(t *testing.T) {
	a, aDup := cidOf(1, 1), cidOf(1, 1)
	b := cidOf(1, 2) // same first 8 digest bytes as a: a different block
	c := cidOf(2, 1)
	short := []byte{0x01, 0x55, 0x00, 0x01, 0x07} // not 36 bytes: exact set
	tests := []struct {
		name string
		rows [][]byte
		want [][]byte // blocks written, in any order
	}{
		{"distinct", [][]byte{a, c}, [][]byte{a, c}},
		{"equal content", [][]byte{a, c, aDup, aDup}, [][]byte{a, c}},
		{"same key, other block", [][]byte{a, b, c}, [][]byte{a, b, c}},
		{"same key, other block first", [][]byte{b, a, a, b}, [][]byte{a, b}},
		{"other block twice after a duplicate", [][]byte{a, aDup, b, b, c}, [][]byte{a, b, c}},
		{"other CID forms", [][]byte{short, a, short}, [][]byte{short, a}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newRecordDedup(0)
			var got [][]byte
			put := func(c, data []byte) error {
				if !bytes.Equal(data, append([]byte("data:"), c...)) {
					t.Fatalf("block %x written with data %q", c, data)
				}
				got = append(got, append([]byte(nil), c...))
				return nil
			}
			for _, r := range tt.rows {
				if d.First(r, append([]byte("data:"), r...)) {
					_ = put(r, append([]byte("data:"), r...))
				}
			}
			i := 0
			next := func() ([]byte, bool, error) {
				if i == len(tt.rows) {
					return nil, false, nil
				}
				i++
				return tt.rows[i-1], true, nil
			}
			if err := d.Resolve(next, put); err != nil {
				t.Fatal(err)
			}
			slices.SortFunc(got, bytes.Compare)
			want := slices.Clone(tt.want)
			slices.SortFunc(want, bytes.Compare)
			if !slices.EqualFunc(got, want, bytes.Equal) {
				t.Fatalf("written %x, want %x", got, want)
			}
		})
	}
}
