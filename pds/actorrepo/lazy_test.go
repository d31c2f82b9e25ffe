package actorrepo_test

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/repo"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/pds/actorrepo"
	"github.com/hearth-pds/hearth/pds/events"
)

// mapSource is a block table in a map, kept the way the engine keeps its
// table: a commit's Nodes added, its Removed deleted.
type mapSource struct {
	m     map[cid.Cid][]byte
	reads int
}

func (s *mapSource) NodeBytes(c cid.Cid) ([]byte, error) {
	s.reads++
	b, ok := s.m[c]
	if !ok {
		return nil, fmt.Errorf("no node %s", c)
	}
	return b, nil
}

func (s *mapSource) apply(t *testing.T, res *actorrepo.CommitResult) {
	t.Helper()
	for _, c := range res.Removed {
		if _, ok := s.m[c]; !ok {
			t.Fatalf("commit removes node %s the table does not hold", c)
		}
		delete(s.m, c)
	}
	for _, b := range res.Nodes {
		s.m[b.CID] = b.Data
	}
}

// TestLazyRepoMatchesFullTree opens a repo lazily from its node blocks and
// applies a random workload (creates under random and TID keys, updates,
// deletes, batches). After every commit the root equals the root of a tree
// built from scratch from the live records, the #commit verifies the way a
// relay checks it, and the block table holds exactly the new tree's nodes:
// none missing, none left over.
func TestLazyRepoMatchesFullTree(t *testing.T) {
	ctx := context.Background()
	key, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		t.Fatal(err)
	}
	did := syntax.DID("did:plc:abcdefghijklmnopqrstuvwx")
	rng := rand.New(rand.NewSource(7))
	cols := []string{"app.bsky.feed.post", "app.bsky.feed.like", "app.bsky.graph.follow", "com.example.a"}
	randKey := func() string {
		const alpha = "abcdefghijklmnopqrstuvwxyz234567"
		b := make([]byte, 3+rng.Intn(10))
		for i := range b {
			b[i] = alpha[rng.Intn(len(alpha))]
		}
		return string(b)
	}

	// A full repo of 1500 records, its nodes in the table.
	full := actorrepo.New(did)
	live := map[string]cid.Cid{}
	var res *actorrepo.CommitResult
	for i := 0; i < 10; i++ {
		var ops []actorrepo.Op
		for j := 0; j < 150; j++ {
			col, rk := cols[rng.Intn(len(cols))], randKey()
			if _, dup := live[col+"/"+rk]; dup {
				continue
			}
			blk := record(t, fmt.Sprint(i, j))
			ops = append(ops, actorrepo.Op{Action: actorrepo.Create, Collection: col, Rkey: rk, Record: blk})
			live[col+"/"+rk] = blk.CID
		}
		if res, err = full.Apply(ops, key, nil); err != nil {
			t.Fatal(err)
		}
	}
	src := nodeSource(t, full)
	r, err := actorrepo.Open(did, res.Head.Bytes, src)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i++ {
		n := 1
		if i%7 == 0 {
			n = 1 + rng.Intn(30)
		}
		var ops []actorrepo.Op
		used := map[string]bool{}
		paths := make([]string, 0, len(live))
		for p := range live {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		for j := 0; j < n; j++ {
			x := rng.Intn(10)
			switch {
			case x < 4 || len(paths) == 0:
				col, rk := cols[rng.Intn(len(cols))], randKey()
				if x < 2 {
					rk = r.NextRev().String()
				}
				if _, dup := live[col+"/"+rk]; dup || used[col+"/"+rk] {
					continue
				}
				used[col+"/"+rk] = true
				ops = append(ops, actorrepo.Op{Action: actorrepo.Create, Collection: col, Rkey: rk, Record: record(t, fmt.Sprint("c", i, j))})
			case x < 6:
				p := paths[rng.Intn(len(paths))]
				if used[p] {
					continue
				}
				used[p] = true
				nsid, rk, _ := syntax.ParseRepoPath(p)
				ops = append(ops, actorrepo.Op{Action: actorrepo.Update, Collection: nsid.String(), Rkey: rk.String(), Record: record(t, fmt.Sprint("u", i, j))})
			default:
				p := paths[rng.Intn(len(paths))]
				if used[p] {
					continue
				}
				used[p] = true
				nsid, rk, _ := syntax.ParseRepoPath(p)
				ops = append(ops, actorrepo.Op{Action: actorrepo.Delete, Collection: nsid.String(), Rkey: rk.String()})
			}
		}
		if len(ops) == 0 {
			continue
		}
		res, err := r.Apply(ops, key, nil)
		if err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
		for _, op := range res.Ops {
			if op.Action == actorrepo.Delete {
				delete(live, op.Path())
			} else {
				live[op.Path()] = *op.CID
			}
		}
		src.apply(t, res)

		body, err := events.CommitBody(did.String(), int64(i+1), syntax.DatetimeNow().String(), res)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := repo.VerifyCommitMessage(ctx, body); err != nil {
			t.Fatalf("commit %d (%d ops): relay-style verification failed: %v", i, len(ops), err)
		}
		ref, err := actorrepo.Load(did, live, res.Head.Bytes)
		if err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
		want, err := ref.Nodes()
		if err != nil {
			t.Fatal(err)
		}
		if len(want) != len(src.m) {
			t.Fatalf("commit %d: the table holds %d nodes, the tree has %d", i, len(src.m), len(want))
		}
		for _, b := range want {
			if _, ok := src.m[b.CID]; !ok {
				t.Fatalf("commit %d: node %s is missing from the table", i, b.CID)
			}
		}
	}
	// Deleting everything leaves the empty tree, still consistent.
	var ops []actorrepo.Op
	var rest []actorrepo.Op
	for p := range live {
		nsid, rk, _ := syntax.ParseRepoPath(p)
		op := actorrepo.Op{Action: actorrepo.Delete, Collection: nsid.String(), Rkey: rk.String()}
		if len(ops) < actorrepo.MaxOpsPerCommit {
			ops = append(ops, op)
		} else {
			rest = append(rest, op)
		}
	}
	for len(ops) > 0 {
		res, err := r.Apply(ops, key, nil)
		if err != nil {
			t.Fatal(err)
		}
		src.apply(t, res)
		ops, rest = rest[:min(len(rest), actorrepo.MaxOpsPerCommit)], rest[min(len(rest), actorrepo.MaxOpsPerCommit):]
	}
	if len(src.m) != 1 {
		t.Fatalf("an empty repo keeps %d nodes, want the empty root", len(src.m))
	}
}

// TestLazyOpenReadsDepthNodes: a write to a lazily opened repo reads a few
// nodes per layer, not the tree.
func TestLazyOpenReadsDepthNodes(t *testing.T) {
	key, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		t.Fatal(err)
	}
	did := syntax.DID("did:plc:abcdefghijklmnopqrstuvwx")
	full := actorrepo.New(did)
	var res *actorrepo.CommitResult
	for i := 0; i < 50; i++ {
		var ops []actorrepo.Op
		for j := 0; j < 200; j++ {
			ops = append(ops, actorrepo.Op{Action: actorrepo.Create, Collection: "app.bsky.feed.like", Rkey: full.NextRev().String(), Record: record(t, fmt.Sprint(i, j))})
		}
		if res, err = full.Apply(ops, key, nil); err != nil {
			t.Fatal(err)
		}
	}
	src := nodeSource(t, full)
	r, err := actorrepo.Open(did, res.Head.Bytes, src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Apply([]actorrepo.Op{{Action: actorrepo.Create, Collection: "app.bsky.feed.post", Rkey: r.NextRev().String(), Record: record(t, "x")}}, key, nil); err != nil {
		t.Fatal(err)
	}
	if src.reads > 40 {
		t.Fatalf("one create in a repo of 10,000 records read %d of its %d nodes", src.reads, len(src.m))
	}
	t.Logf("one create read %d of %d nodes", src.reads, len(src.m))
}

// TestLazyOpenRefusesDamagedNode: a node whose bytes do not hash to its
// CID is an error, not a wrong tree.
func TestLazyOpenRefusesDamagedNode(t *testing.T) {
	key, _ := atcrypto.GeneratePrivateKeyK256()
	did := syntax.DID("did:plc:abcdefghijklmnopqrstuvwx")
	full := actorrepo.New(did)
	res, err := full.Apply([]actorrepo.Op{{Action: actorrepo.Create, Collection: "app.bsky.feed.post", Rkey: full.NextRev().String(), Record: record(t, "x")}}, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	src := &mapSource{m: map[cid.Cid][]byte{res.Head.Commit.Data: []byte{0xa2, 0x61, 0x65, 0x80, 0x61, 0x6c, 0xf6}}}
	if _, err := actorrepo.Open(did, res.Head.Bytes, src); err == nil {
		t.Fatal("Open accepted a damaged root node")
	}
}

// nodeSource holds every MST node of repo, as the node table would.
func nodeSource(t *testing.T, repo *actorrepo.Repo) *mapSource {
	t.Helper()
	nodes, err := repo.Nodes()
	if err != nil {
		t.Fatal(err)
	}
	src := &mapSource{m: map[cid.Cid][]byte{}}
	for _, n := range nodes {
		src.m[n.CID] = n.Data
	}
	return src
}
