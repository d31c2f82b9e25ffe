package actorrepo_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/repo"
	"github.com/bluesky-social/indigo/atproto/repo/mst"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/pds/actorrepo"
)

type proofFixture struct {
	Comment          string   `json:"comment"`
	LeafValue        string   `json:"leafValue"`
	Keys             []string `json:"keys"`
	Adds             []string `json:"adds"`
	Dels             []string `json:"dels"`
	RootBeforeCommit string   `json:"rootBeforeCommit"`
	RootAfterCommit  string   `json:"rootAfterCommit"`
	BlocksInProof    []string `json:"blocksInProof"`
}

// TestCommitProofFixtures: for each interop fixture, the blocks our commit
// builder emits must let indigo invert the commit back to the old root.
func TestCommitProofFixtures(t *testing.T) {
	b, err := os.ReadFile("testdata/commit-proof-fixtures.json")
	if err != nil {
		t.Fatal(err)
	}
	var fixtures []proofFixture
	if err := json.Unmarshal(b, &fixtures); err != nil {
		t.Fatal(err)
	}
	key, _ := atcrypto.GeneratePrivateKeyK256()
	for _, fx := range fixtures {
		t.Run(fx.Comment, func(t *testing.T) {
			leaf, _ := cid.Decode(fx.LeafValue)
			rec := &actorrepo.Block{CID: leaf}
			ops := func(keys []string, act actorrepo.Action) []actorrepo.Op {
				var out []actorrepo.Op
				for _, k := range keys {
					col, rkey, _ := strings.Cut(k, "/")
					op := actorrepo.Op{Action: act, Collection: col, Rkey: rkey}
					if act != actorrepo.Delete {
						op.Record = rec
					}
					out = append(out, op)
				}
				return out
			}
			r := actorrepo.New("did:plc:abcdefghijklmnopqrstuvwx")
			first, err := r.Apply(ops(fx.Keys, actorrepo.Create), key, nil)
			if err != nil {
				t.Fatal(err)
			}
			if first.Head.Commit.Data.String() != fx.RootBeforeCommit {
				t.Fatalf("root before = %s, want %s", first.Head.Commit.Data, fx.RootBeforeCommit)
			}
			res, err := r.Apply(append(ops(fx.Adds, actorrepo.Create), ops(fx.Dels, actorrepo.Delete)...), key, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Head.Commit.Data.String() != fx.RootAfterCommit {
				t.Fatalf("root after = %s, want %s", res.Head.Commit.Data, fx.RootAfterCommit)
			}
			// Only the emitted blocks (no records needed for inversion).
			bs := repo.NewTinyBlockstore()
			emitted := map[string]bool{}
			for _, blk := range res.Blocks {
				if blk.Data == nil {
					continue
				}
				bb, err := blocks.NewBlockWithCid(blk.Data, blk.CID)
				if err != nil {
					t.Fatal(err)
				}
				if err := bs.Put(context.Background(), bb); err != nil {
					t.Fatal(err)
				}
				emitted[blk.CID.String()] = true
			}
			for _, want := range fx.BlocksInProof {
				if !emitted[want] {
					t.Errorf("proof block %s not emitted", want)
				}
			}
			tree, err := mst.LoadTreeFromStore(context.Background(), bs, res.Head.Commit.Data)
			if err != nil {
				t.Fatal(err)
			}
			var rops []repo.Operation
			for _, op := range res.Ops {
				o := repo.Operation{Path: op.Path(), Value: op.CID, Prev: op.Prev}
				rops = append(rops, o)
			}
			rops, err = repo.NormalizeOps(rops)
			if err != nil {
				t.Fatal(err)
			}
			for _, op := range rops {
				if err := repo.InvertOp(tree, &op); err != nil {
					t.Fatalf("invert %s: %v", op.Path, err)
				}
			}
			got, err := tree.RootCID()
			if err != nil || got.String() != fx.RootBeforeCommit {
				t.Fatalf("inverted root = %v (%v), want %s", got, err, fx.RootBeforeCommit)
			}
		})
	}
}
