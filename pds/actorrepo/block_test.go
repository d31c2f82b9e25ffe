package actorrepo_test

import (
	"bytes"
	"fmt"
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
