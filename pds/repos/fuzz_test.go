package repos_test

import (
	"bytes"
	"context"
	"errors"
	"github.com/hearth-pds/hearth/pds/repos"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/atdata"
	"github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/pds/actorrepo"
	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/events"
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

// FuzzParseRepoCAR: no input makes CAR import panic, and every refusal is a
// clear client error (never an internal one).
func FuzzParseRepoCAR(f *testing.F) {
	car := seedCAR(f)
	f.Add(car)
	f.Add(car[:len(car)-5])
	f.Add([]byte{})
	f.Add([]byte("\x0a\xa1\x67version\x01"))
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
	})
}

// FuzzRecordRoundTrip: whatever JSON a client sends, decoding it as
// atproto data either fails cleanly or encodes to DAG-CBOR that decodes
// back to the same CID.
func FuzzRecordRoundTrip(f *testing.F) {
	f.Add([]byte(`{"$type":"app.bsky.feed.post","text":"hi","createdAt":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"a":{"$link":"bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a"},"b":{"$bytes":"aGk="}}`))
	f.Add([]byte(`{"x":[1,2,{"y":null}],"f":1.5}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := atdata.UnmarshalJSON(data)
		if err != nil {
			return
		}
		blk, err := actorrepo.EncodeRecord(rec)
		if err != nil {
			return
		}
		back, err := atdata.UnmarshalCBOR(blk.Data)
		if err != nil {
			t.Fatalf("our own DAG-CBOR does not decode: %v", err)
		}
		again, err := actorrepo.EncodeRecord(back)
		if err != nil || !again.CID.Equals(blk.CID) {
			t.Fatalf("re-encoding changed the CID: %v", err)
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
