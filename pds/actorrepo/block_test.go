package actorrepo_test

import (
	"bytes"
	"encoding/base32"
	"fmt"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multibase"

	"github.com/hearth-pds/hearth/pds/actorrepo"
)

func TestAppendCIDBytes(t *testing.T) {
	var cids []cid.Cid
	for i := 0; i < 50; i++ {
		b := record(t, fmt.Sprint("post ", i))
		cids = append(cids, b.CID)
		raw, err := cid.V1Builder{Codec: cid.Raw, MhType: 0x12}.Sum([]byte(fmt.Sprint("blob ", i)))
		if err != nil {
			t.Fatal(err)
		}
		cids = append(cids, raw)
	}
	v0, err := cid.Decode("QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n")
	if err != nil {
		t.Fatal(err)
	}
	cids = append(cids, v0)
	prefix := []byte("keep")
	for _, c := range cids {
		for _, form := range []string{c.String(), mustEncode(t, c, multibase.Base58BTC)} {
			if c.Version() == 0 && form != c.String() {
				continue // CIDv0 has only its base58 form
			}
			got, err := actorrepo.AppendCIDBytes(append([]byte(nil), prefix...), []byte(form))
			if err != nil {
				t.Fatalf("%s: %v", form, err)
			}
			if !bytes.Equal(got, append(append([]byte(nil), prefix...), c.Bytes()...)) {
				t.Fatalf("%s: got %x, want %x", form, got[len(prefix):], c.Bytes())
			}
		}
	}
	for _, bad := range []string{"", "b", "bafy!!", "b" + "aaaa", "not a cid", "zzzz"} {
		got, err := actorrepo.AppendCIDBytes(prefix, []byte(bad))
		if err == nil {
			t.Errorf("%q: decoded to %x", bad, got)
		}
		if !bytes.Equal(got, prefix) {
			t.Errorf("%q: a failed decode changed dst to %q", bad, got)
		}
	}
}

func mustEncode(t *testing.T, c cid.Cid, base multibase.Encoding) string {
	s, err := c.StringOfBase(base)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Strings that decode from base32 but are not a whole dag-cbor/raw sha2-256
// CIDv1 are not taken on the fast path: they go through cid.Decode, which
// refuses them.
func TestAppendCIDBytesRefusesMalformed(t *testing.T) {
	good := record(t, "x").CID
	raw := good.Bytes()
	for name, b := range map[string][]byte{
		"truncated digest":  raw[:30],
		"extra byte":        append(append([]byte(nil), raw...), 0),
		"unknown hash":      append([]byte{1, 0x71, 0x13, 0x20}, raw[4:]...),
		"wrong digest size": append([]byte{1, 0x71, 0x12, 0x21}, raw[4:]...),
		"version 2":         append([]byte{2}, raw[1:]...),
	} {
		s := "b" + cidBase32Encode(b)
		if got, err := actorrepo.AppendCIDBytes(nil, []byte(s)); err == nil && !bytes.Equal(got, raw) {
			c, cerr := cid.Cast(got)
			if cerr != nil || c.String() != s {
				t.Errorf("%s: %q decoded to %x without an error", name, s, got)
			}
		}
	}
}

func cidBase32Encode(b []byte) string {
	return strings.ToLower(strings.TrimRight(base32.StdEncoding.EncodeToString(b), "="))
}
