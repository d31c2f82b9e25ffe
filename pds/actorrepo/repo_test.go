package actorrepo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/repo"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/pds/actorrepo"
	"github.com/hearth-pds/hearth/pds/events"
)

func record(t testing.TB, text string) *actorrepo.Block {
	b, err := actorrepo.EncodeRecord(map[string]any{"$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-01-01T00:00:00Z"})
	if err != nil {
		t.Fatal(err)
	}
	return &b
}

// TestRandomWorkloadVerifies applies a random mix of creates, updates and
// deletes (single and batched) and checks every commit the way a relay does:
// the #commit CAR must let indigo invert the ops back to prevData, and the
// signature must verify.
func TestRandomWorkloadVerifies(t *testing.T) {
	ctx := context.Background()
	key, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := key.PublicKey()
	did := syntax.DID("did:plc:abcdefghijklmnopqrstuvwx")
	r := actorrepo.New(did)
	rng := rand.New(rand.NewSource(42))
	live := map[string]bool{}
	cols := []string{"app.bsky.feed.post", "app.bsky.feed.like", "app.bsky.graph.follow", "com.example.a", "com.example.a.b"}
	for i := 0; i < 400; i++ {
		n := 1
		if i%10 == 0 {
			n = 1 + rng.Intn(40)
		}
		var ops []actorrepo.Op
		used := map[string]bool{}
		for j := 0; j < n; j++ {
			var paths []string
			for p := range live {
				if !used[p] {
					paths = append(paths, p)
				}
			}
			switch x := rng.Intn(10); {
			case x < 6 || len(paths) == 0:
				rk := r.NextRev().String()
				col := cols[rng.Intn(len(cols))]
				ops = append(ops, actorrepo.Op{Action: actorrepo.Create, Collection: col, Rkey: rk, Record: record(t, fmt.Sprint(i, j))})
				used[col+"/"+rk] = true
			case x < 8:
				p := paths[rng.Intn(len(paths))]
				nsid, rk, _ := syntax.ParseRepoPath(p)
				ops = append(ops, actorrepo.Op{Action: actorrepo.Update, Collection: nsid.String(), Rkey: rk.String(), Record: record(t, fmt.Sprint("u", i, j))})
				used[p] = true
			default:
				p := paths[rng.Intn(len(paths))]
				nsid, rk, _ := syntax.ParseRepoPath(p)
				ops = append(ops, actorrepo.Op{Action: actorrepo.Delete, Collection: nsid.String(), Rkey: rk.String()})
				used[p] = true
			}
		}
		res, err := r.Apply(ops, key, nil)
		if err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
		for _, op := range res.Ops {
			live[op.Path()] = op.Action != actorrepo.Delete
			if op.Action == actorrepo.Delete {
				delete(live, op.Path())
			}
		}
		body, err := events.CommitBody(did.String(), int64(i+1), syntax.DatetimeNow().String(), res)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := repo.VerifyCommitMessage(ctx, body); err != nil {
			t.Fatalf("commit %d (%d ops): relay-style verification failed: %v", i, len(ops), err)
		}
		if err := res.Head.Commit.VerifySignature(pub); err != nil {
			t.Fatalf("commit %d: signature: %v", i, err)
		}
		if i%50 == 0 { // exports (with the node cache) stay exact
			nodes, err := r.Nodes()
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range nodes {
				if got, _ := actorrepo.CBORCID(n.Data); !got.Equals(n.CID) {
					t.Fatalf("commit %d: node %s has bytes of %s", i, n.CID, got)
				}
			}
			if len(nodes) > 0 && !nodes[0].CID.Equals(res.Head.Commit.Data) {
				t.Fatalf("commit %d: first node is not the root", i)
			}
		}
	}

	// Reload from (path -> cid) and the head bytes: same root.
	m := map[string]cid.Cid{}
	if err := r.Walk(func(p string, c cid.Cid) error { m[p] = c; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(m) != len(live) {
		t.Fatalf("tree has %d records, expected %d", len(m), len(live))
	}
	r2, err := actorrepo.Load(did, m, r.Head().Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !r2.Head().CID.Equals(r.Head().CID) {
		t.Fatal("reloaded head differs")
	}
	delete(m, func() string {
		for p := range m {
			return p
		}
		return ""
	}())
	if _, err := actorrepo.Load(did, m, r.Head().Bytes); err == nil {
		t.Fatal("Load accepted records that do not match the commit")
	}
}

func TestPreconditions(t *testing.T) {
	key, _ := atcrypto.GeneratePrivateKeyK256()
	r := actorrepo.New("did:plc:abcdefghijklmnopqrstuvwx")
	res, err := r.Apply([]actorrepo.Op{{Action: actorrepo.Create, Collection: "app.bsky.feed.post", Rkey: "a", Record: record(t, "x")}}, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	head := r.Head().CID
	other := record(t, "other").CID
	undef := cid.Undef
	cases := []struct {
		name string
		ops  []actorrepo.Op
		swap *cid.Cid
		want error
	}{
		{"create existing", []actorrepo.Op{{Action: actorrepo.Create, Collection: "app.bsky.feed.post", Rkey: "a", Record: record(t, "y")}}, nil, actorrepo.ErrRecordExists},
		{"delete missing", []actorrepo.Op{{Action: actorrepo.Delete, Collection: "app.bsky.feed.post", Rkey: "zz"}}, nil, actorrepo.ErrRecordNotFound},
		{"swap record mismatch", []actorrepo.Op{{Action: actorrepo.Update, Collection: "app.bsky.feed.post", Rkey: "a", Record: record(t, "y"), SwapRecord: &other}}, nil, actorrepo.ErrSwapRecord},
		{"swap record must not exist", []actorrepo.Op{{Action: actorrepo.Update, Collection: "app.bsky.feed.post", Rkey: "a", Record: record(t, "y"), SwapRecord: &undef}}, nil, actorrepo.ErrSwapRecord},
		{"swap commit mismatch", []actorrepo.Op{{Action: actorrepo.Delete, Collection: "app.bsky.feed.post", Rkey: "a"}}, &other, actorrepo.ErrSwapCommit},
		{"too many ops", make([]actorrepo.Op, 201), nil, actorrepo.ErrTooManyOps},
		{"record too large", []actorrepo.Op{{Action: actorrepo.Create, Collection: "app.bsky.feed.post", Rkey: "b", Record: &actorrepo.Block{CID: other, Data: make([]byte, actorrepo.MaxRecordBytes+1)}}}, nil, actorrepo.ErrTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.Apply(tc.ops, key, tc.swap)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !r.Head().CID.Equals(head) {
				t.Fatal("failed apply moved the head")
			}
		})
	}
	// Proof of presence ends at the node holding the key.
	proof, err := r.ProofNodes("app.bsky.feed.post/a")
	if err != nil || len(proof) == 0 || !proof[0].CID.Equals(res.Head.Commit.Data) {
		t.Fatalf("proof = %v, %v", proof, err)
	}
	// create+delete of the same path in one batch is no net op.
	res2, err := r.Apply([]actorrepo.Op{
		{Action: actorrepo.Create, Collection: "app.bsky.feed.post", Rkey: "c", Record: record(t, "c")},
		{Action: actorrepo.Delete, Collection: "app.bsky.feed.post", Rkey: "c"},
	}, key, &head)
	if err != nil || len(res2.Ops) != 0 {
		t.Fatalf("ops = %v, %v", res2, err)
	}
	_ = bytes.Compare
}

// Records adding up to more than a #commit frame may carry are refused
// before anything changes.
func TestCommitSizeLimit(t *testing.T) {
	key, _ := atcrypto.GeneratePrivateKeyK256()
	r := actorrepo.New("did:plc:abcdefghijklmnopqrstuvwx")
	var ops []actorrepo.Op
	for i := 0; i < 3; i++ {
		b, _ := actorrepo.EncodeRecord(map[string]any{"$type": "com.example.big", "data": string(bytes.Repeat([]byte{'a' + byte(i)}, 700_000))})
		ops = append(ops, actorrepo.Op{Action: actorrepo.Create, Collection: "com.example.big", Rkey: fmt.Sprint("k", i), Record: &b})
	}
	if _, err := r.Apply(ops, key, nil); !errors.Is(err, actorrepo.ErrTooLarge) {
		t.Fatalf("2.1 MB commit: %v", err)
	}
	res, err := r.Apply(ops[:2], key, nil)
	if err != nil {
		t.Fatal(err)
	}
	car, _ := events.CARBytes(res.Blocks)
	if len(car) > actorrepo.MaxCommitBlocks {
		t.Fatalf("CAR of %d bytes", len(car))
	}
}

// TestPlanThenCommit: a plan leaves the tree alone, its rev is the commit's,
// and a plan made against an older head is refused.
func TestPlanThenCommit(t *testing.T) {
	key, _ := atcrypto.GeneratePrivateKeyK256()
	r := actorrepo.New("did:plc:abcdefghijklmnopqrstuvwx")
	if _, err := r.Apply([]actorrepo.Op{{Action: actorrepo.Create, Collection: "app.bsky.feed.post", Rkey: "a", Record: record(t, "a")}}, key, nil); err != nil {
		t.Fatal(err)
	}
	before := r.Head()
	p, err := r.Plan([]actorrepo.Op{
		{Action: actorrepo.Create, Collection: "app.bsky.feed.post", Rkey: "b", Record: record(t, "b")},
		{Action: actorrepo.Update, Collection: "app.bsky.feed.post", Rkey: "b", Record: record(t, "b2")},
		{Action: actorrepo.Delete, Collection: "app.bsky.feed.post", Rkey: "a"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Ops) != 2 || p.Ops[0].Action != actorrepo.Create || p.Ops[1].Action != actorrepo.Delete || len(p.Records) != 1 {
		t.Fatalf("plan ops = %+v, records = %d", p.Ops, len(p.Records))
	}
	if p.Rev <= before.Rev() {
		t.Fatalf("plan rev %s is not after %s", p.Rev, before.Rev())
	}
	if !r.Head().CID.Equals(before.CID) {
		t.Fatal("Plan moved the head")
	}
	if c, err := r.Get("app.bsky.feed.post/b"); err != nil || c != nil {
		t.Fatalf("Plan changed the tree: b = %v, %v", c, err)
	}
	// Another batch committed first makes the plan stale.
	stale, err := r.Plan([]actorrepo.Op{{Action: actorrepo.Create, Collection: "app.bsky.feed.post", Rkey: "c", Record: record(t, "c")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Commit(p, key)
	if err != nil {
		t.Fatal(err)
	}
	if res.Head.Rev() != p.Rev || len(res.Ops) != 2 {
		t.Fatalf("commit rev %s (plan %s), %d ops", res.Head.Rev(), p.Rev, len(res.Ops))
	}
	if _, err := r.Commit(stale, key); err == nil {
		t.Fatal("a stale plan was committed")
	}
	if !r.Head().CID.Equals(res.Head.CID) {
		t.Fatal("the refused stale plan moved the head")
	}
}
