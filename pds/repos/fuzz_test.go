package repos_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/atdata"
	"github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/pds/actorrepo"
	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/events"
	"github.com/hearth-pds/hearth/pds/repos"
)

var ctx = context.Background()

func seedCAR(t testing.TB) []byte {
	key, _ := atcrypto.GeneratePrivateKeyK256()
	r := actorrepo.New("did:plc:abcdefghijklmnopqrstuvwx")
	var ops []actorrepo.Op
	for _, txt := range []string{"a", "b", "c"} {
		b, _ := actorrepo.EncodeRecord(map[string]any{"$type": "app.bsky.feed.post", "text": txt, "createdAt": "2026-01-01T00:00:00Z"})
		ops = append(ops, actorrepo.Op{Action: actorrepo.Create, Collection: "app.bsky.feed.post", Rkey: "3k" + txt + "aaaaaaaaaa", Record: &b})
	}
	res, err := r.Apply(ops, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	nodes, _ := r.Nodes()
	blocks := append([]actorrepo.Block{{CID: res.Head.CID, Data: res.Head.Bytes}}, nodes...)
	for _, op := range ops {
		blocks = append(blocks, *op.Record)
	}
	car, err := events.CARBytes(blocks)
	if err != nil {
		t.Fatal(err)
	}
	return car
}

// FuzzParseRepoCAR: no input makes CAR import panic, every refusal is a
// clear client error (never an internal one), and every CAR it accepts can
// be browsed: each record decodes and renders as JSON. Seeds: valid CARs of
// every interop tree shape, and cut and bit-flipped copies of them
// (testdata/fuzz/FuzzParseRepoCAR holds the committed corpus).
func FuzzParseRepoCAR(f *testing.F) {
	car := seedCAR(f)
	f.Add(car)
	f.Add(car[:len(car)-5])
	f.Add([]byte{})
	f.Add([]byte("\x0a\xa1\x67version\x01"))
	for _, c := range validCARs(f) {
		f.Add(c)
		for _, m := range mutations(c) {
			f.Add(m)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := repos.ParseRepoCAR(ctx, bytes.NewReader(data), int64(len(data)), nil)
		if err != nil {
			var ae *errs.Error
			if !errors.As(err, &ae) || !errors.Is(err, errs.ErrInvalidRequest) {
				t.Fatalf("non-client error for bad CAR: %v", err)
			}
			return
		}
		if p.Summary.Records < 0 || p.Summary.DID == "" {
			t.Fatalf("parsed summary %+v", p.Summary)
		}
		for _, cc := range p.Summary.Collections {
			recs, _, err := p.RecordsIn(cc.Collection, "", 100)
			if err != nil {
				t.Fatalf("accepted CAR, but %s does not browse: %v", cc.Collection, err)
			}
			for _, r := range recs {
				if _, err := json.Marshal(r.Value); err != nil {
					t.Fatalf("accepted CAR, but %s does not render as JSON: %v", r.URI, err)
				}
			}
		}
	})
}

// mutations returns copies of a valid CAR cut short and with single bytes
// changed at spread-out offsets (hash checks refuse most; the fuzzer's own
// mutations start from these).
func mutations(car []byte) [][]byte {
	var out [][]byte
	out = append(out, car[:len(car)/2])
	for _, off := range []int{len(car) / 7, len(car) / 3, len(car) - 40} {
		if off <= 0 || off >= len(car) {
			continue
		}
		m := bytes.Clone(car)
		m[off] ^= 0x01
		out = append(out, m)
	}
	return out
}

// FuzzRecordRoundTrip: whatever JSON a client sends, if the write path
// accepts it as atproto data it encodes to DAG-CBOR that reads back (as
// getRecord does) to JSON, which encodes again to the same CID.
func FuzzRecordRoundTrip(f *testing.F) {
	f.Add([]byte(`{"$type":"app.bsky.feed.post","text":"hi","createdAt":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"a":{"$link":"bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a"},"b":{"$bytes":"aGk"}}`))
	f.Add([]byte(`{"x":[1,2,{"y":null}],"f":1.5}`))
	f.Add([]byte(`{"e":{"$bytes":""},"l":[{"$bytes":""}]}`))
	f.Add([]byte(`{"b":{"$type":"blob","ref":{"$link":"bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy"},"mimeType":"image/png","size":10}}`))
	f.Add([]byte(`{"n":9007199254740991,"m":-9007199254740991,"s":"\u00e9\ud83d\ude00"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := atdata.UnmarshalJSON(data)
		if err != nil || repos.CheckDataModel(rec) != nil {
			return
		}
		blk, err := actorrepo.EncodeRecord(rec)
		if err != nil {
			return
		}
		back, err := repos.DecodeRecord("did:plc:x", "com.example.x", "k", blk.CID.String(), blk.Data)
		if err != nil {
			t.Fatalf("our own DAG-CBOR does not decode: %v", err)
		}
		js, err := json.Marshal(back.Value)
		if err != nil {
			t.Fatalf("a stored record does not render as JSON: %v", err)
		}
		again, err := atdata.UnmarshalJSON(js)
		if err != nil {
			t.Fatalf("rendered JSON %s does not parse: %v", js, err)
		}
		blk2, err := actorrepo.EncodeRecord(again)
		if err != nil || !blk2.CID.Equals(blk.CID) {
			t.Fatalf("JSON round trip changed the CID (%v): %s", err, js)
		}
	})
}

// FuzzStoredRecord: reading a stored record (arbitrary bytes) never panics,
// and whatever decodes renders as JSON.
func FuzzStoredRecord(f *testing.F) {
	for _, rec := range []map[string]any{
		{"$type": "app.bsky.feed.post", "text": "hi"},
		{"e": atdata.Bytes{}, "n": int64(-3), "l": []any{nil, true, "x"}},
	} {
		b, err := atdata.MarshalCBOR(rec)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xa1, 0x61, 'n', 0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0xa1, 0x61, 'b', 0x40})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := repos.DecodeRecord("did:plc:x", "com.example.x", "k", "c", data)
		if err != nil {
			if !errors.Is(err, errs.ErrRecordNotFound) {
				t.Fatalf("unreadable record is not a clear refusal: %v", err)
			}
			return
		}
		if _, err := json.Marshal(r.Value); err != nil {
			t.Fatalf("decoded record does not render as JSON: %v", err)
		}
	})
}

// A CAR whose MST references one node from two places is refused quickly.
func TestCARWithSharedMSTNodeIsRefused(t *testing.T) {
	child, _ := atdata.MarshalCBOR(map[string]any{"l": nil, "e": []any{}})
	childCID, _ := actorrepo.CBORCID(child)
	// A root whose left and right pointers are the same node.
	rootData, err := (&nodeDataBuilder{left: childCID, right: childCID}).bytes()
	if err != nil {
		t.Fatal(err)
	}
	rootCID, _ := actorrepo.CBORCID(rootData)
	key, _ := atcrypto.GeneratePrivateKeyK256()
	_ = key
	commit, _ := atdata.MarshalCBOR(map[string]any{"did": "did:plc:abcdefghijklmnopqrstuvwx", "version": int64(3), "data": atdata.CIDLink(rootCID), "rev": "3kaaaaaaaaaaa", "prev": nil, "sig": atdata.Bytes([]byte{1})})
	commitCID, _ := actorrepo.CBORCID(commit)
	car, _ := events.CARBytes([]actorrepo.Block{{CID: commitCID, Data: commit}, {CID: rootCID, Data: rootData}, {CID: childCID, Data: child}})
	_, err = repos.ParseRepoCAR(ctx, bytes.NewReader(car), 0, nil)
	if err == nil || !errors.Is(err, errs.ErrInvalidRequest) {
		t.Fatalf("shared node: %v", err)
	}
}

type nodeDataBuilder struct{ left, right cid.Cid }

func (n *nodeDataBuilder) bytes() ([]byte, error) {
	return atdata.MarshalCBOR(map[string]any{"l": atdata.CIDLink(n.left), "e": []any{
		map[string]any{"p": int64(0), "k": atdata.Bytes([]byte("app.bsky.feed.post/3kaaaaaaaaaaa")), "v": atdata.CIDLink(n.left), "t": atdata.CIDLink(n.right)},
	}})
}
