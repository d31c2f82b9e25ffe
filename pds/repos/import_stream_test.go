package repos_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	comatproto "github.com/bluesky-social/indigo/api/atproto"
	"github.com/bluesky-social/indigo/atproto/atdata"
	"github.com/bluesky-social/indigo/atproto/repo/mst"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds/actorrepo"
	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/events"
	"github.com/hearth-pds/hearth/pds/repos"
	"github.com/hearth-pds/hearth/pds/xrpc"
)

// genRepo is a generated repo: its blocks (commit first, then the MST
// nodes and the records, shuffled so that the CAR's order proves
// nothing), its records by path and its MST root.
type genRepo struct {
	head    actorrepo.Block
	nodes   []actorrepo.Block
	records []actorrepo.Block
	paths   map[string]cid.Cid
	root    cid.Cid
}

// generateRepo makes a signed repo of did with n realistic records
// (posts, some with an image blob, likes, follows), signed by a key of its
// own (an import does not check another host's signature: it re-signs).
func generateRepo(t testing.TB, did string, n int, seed uint64) *genRepo {
	t.Helper()
	clock := syntax.NewTIDClock(uint(seed % 1024))
	g := &genRepo{paths: map[string]cid.Cid{}}
	created := time.Date(2023, 5, 1, 0, 0, 0, 0, time.UTC)
	img, _ := actorrepo.RawCID([]byte("an image"))
	for i := range n {
		at := created.Add(time.Duration(i) * 37 * time.Second).Format("2006-01-02T15:04:05.000Z")
		var col string
		var rec map[string]any
		switch x := i % 20; {
		case x < 8:
			col = "app.bsky.feed.post"
			rec = map[string]any{"$type": col, "text": fmt.Sprintf("post %d of seed %d", i, seed), "langs": []any{"en"}, "createdAt": at}
			if x == 0 {
				rec["embed"] = map[string]any{"$type": "app.bsky.embed.images", "images": []any{map[string]any{
					"alt": "", "image": map[string]any{"$type": "blob", "ref": atdata.CIDLink(img), "mimeType": "image/png", "size": int64(8)},
				}}}
			}
		case x < 17:
			col = "app.bsky.feed.like"
			rec = map[string]any{"$type": col, "subject": map[string]any{"uri": fmt.Sprintf("at://did:plc:%024d/app.bsky.feed.post/3k%011d", i%97, i), "cid": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"}, "createdAt": at}
		default:
			col = "app.bsky.graph.follow"
			rec = map[string]any{"$type": col, "subject": fmt.Sprintf("did:plc:%024d", i), "createdAt": at}
		}
		blk, err := actorrepo.EncodeRecord(rec)
		if err != nil {
			t.Fatal(err)
		}
		g.paths[col+"/"+clock.Next().String()] = blk.CID
		g.records = append(g.records, blk)
	}
	tree, err := mst.LoadTreeFromMap(g.paths)
	if err != nil {
		t.Fatal(err)
	}
	r, err := actorrepo.Rebase(syntax.DID(did), tree, seedKey(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if g.nodes, err = r.Nodes(); err != nil {
		t.Fatal(err)
	}
	g.head = actorrepo.Block{CID: r.Head().CID, Data: r.Head().Bytes}
	g.root = r.Head().Commit.Data
	return g
}

// car writes the repo as a CAR with its blocks in a shuffled order (the
// commit, the root, always first: it is the CAR's root).
func (g *genRepo) car(t testing.TB, seed uint64) []byte {
	t.Helper()
	rest := append(append([]actorrepo.Block{}, g.nodes...), g.records...)
	rand.New(rand.NewPCG(seed, 7)).Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	car, err := events.CARBytes(append([]actorrepo.Block{g.head}, rest...))
	if err != nil {
		t.Fatal(err)
	}
	return car
}

// carWith writes a CAR with root and blocks as given.
func carWith(t testing.TB, root cid.Cid, blocks []actorrepo.Block) []byte {
	t.Helper()
	var buf bytes.Buffer
	cw, err := actorrepo.NewCARWriter(&buf, root)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		if err := cw.Put(b); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// noSpills fails if an import left a temporary file in dir.
func noSpills(t *testing.T, dir string) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(dir, "hearth-import-*"))
	if len(left) > 0 {
		t.Fatalf("temporary files left behind: %v", left)
	}
}

// TestStreamedImportRoundTrip: a generated repo of several thousand
// records, its blocks in any order, imports into a fresh account over
// HTTP through indigo's client; the export then holds exactly the same
// records under the same MST root, signed anew with the account's key
// (checked by indigo), the block table holds exactly the tree, later
// writes work on top of it, and re-importing the export changes nothing.
func TestStreamedImportRoundTrip(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "fresh.test")
	did := syntax.DID(a.DID)
	g := generateRepo(t, a.DID, 5000, 1)
	car := g.car(t, 1)
	c := p.Login(t, a)
	if err := comatproto.RepoImportRepo(context.Background(), c, bytes.NewReader(car)); err != nil {
		t.Fatalf("importRepo: %v", err)
	}
	exported := p.GetRepo(t, a.DID, "")
	v := testpds.VerifyRepoCAR(t, p.Dir, exported)
	if v.Commit.Data != g.root {
		t.Fatalf("MST root after import %s, want %s", v.Commit.Data, g.root)
	}
	if len(v.Records) != len(g.paths) {
		t.Fatalf("%d records after import, want %d", len(v.Records), len(g.paths))
	}
	for k, want := range g.paths {
		if got, ok := v.Records[k]; !ok || !got.Equals(want) {
			t.Fatalf("record %s: %s, want %s", k, got, want)
		}
	}
	parsed, err := repos.ParseRepoCAR(ctx, bytes.NewReader(exported), int64(len(exported)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = parsed.Close() }()
	if parsed.NodeCount() != len(g.nodes) {
		t.Fatalf("the export has %d MST nodes, the generated tree %d", parsed.NodeCount(), len(g.nodes))
	}
	if parsed.Summary.Blobs != 1 || parsed.Summary.Records != 5000 {
		t.Fatalf("summary %+v", parsed.Summary)
	}
	rep, err := p.Engine.Verify(ctx, nil)
	if err != nil || !rep.OK {
		t.Fatalf("verify after import: %v\n%s", err, rep)
	}

	// Writes go on from the stored tree, and the result still verifies.
	res, err := p.Engine.Repos.ApplyWrites(ctx, did, []repos.Write{{Action: actorrepo.Create, Collection: "app.bsky.feed.post",
		Record: map[string]any{"$type": "app.bsky.feed.post", "text": "after the import", "createdAt": syntax.DatetimeNow().String()}}}, repos.WriteOptions{})
	if err != nil {
		t.Fatalf("write after import: %v", err)
	}
	after := testpds.VerifyRepoCAR(t, p.Dir, p.GetRepo(t, a.DID, ""))
	if len(after.Records) != 5001 {
		t.Fatalf("%d records after a write, want 5001", len(after.Records))
	}
	if rep, err := p.Engine.Verify(ctx, nil); err != nil || !rep.OK {
		t.Fatalf("verify after a write: %v\n%s", err, rep)
	}

	// The export of a repo imports back to the same records and root.
	sum, err := p.Engine.Repos.Import(ctx, did, bytes.NewReader(exported), int64(len(exported)), nil)
	if err != nil {
		t.Fatalf("re-import the export: %v", err)
	}
	again := testpds.VerifyRepoCAR(t, p.Dir, p.GetRepo(t, a.DID, ""))
	if again.Commit.Data != g.root || len(again.Records) != 5000 || sum.Records != 5000 {
		t.Fatalf("re-import: root %s (want %s), %d records", again.Commit.Data, g.root, len(again.Records))
	}
	u, _ := syntax.ParseATURI(res.Results[0].URI)
	if _, err := p.Engine.Repos.GetRecord(ctx, did, u.Collection(), u.RecordKey(), cid.Undef); err == nil {
		t.Fatal("the post written after the export survived its import")
	}
	noSpills(t, p.Config.DataDir)
}

// errReader fails after n bytes, as a dropped connection does.
type errReader struct {
	r io.Reader
	n int
}

func (e *errReader) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, errors.New("connection reset by peer")
	}
	if len(p) > e.n {
		p = p[:e.n]
	}
	n, err := e.r.Read(p)
	e.n -= n
	return n, err
}

// TestImportRefusesBadCARsKeepingTheRepo: every damaged CAR is refused
// with a clear InvalidRequest that names the defect (a broken stream with
// its own error), and the repo that was there stays exactly as it was.
func TestImportRefusesBadCARsKeepingTheRepo(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "keep.test")
	did := syntax.DID(a.DID)
	old := generateRepo(t, a.DID, 300, 2)
	oldCAR := old.car(t, 2)
	if _, err := p.Engine.Repos.Import(ctx, did, bytes.NewReader(oldCAR), int64(len(oldCAR)), nil); err != nil {
		t.Fatal(err)
	}
	before := testpds.VerifyRepoCAR(t, p.Dir, p.GetRepo(t, a.DID, ""))

	g := generateRepo(t, a.DID, 3000, 3)
	good := g.car(t, 3)
	without := func(drop cid.Cid) []byte {
		var bs []actorrepo.Block
		for _, b := range append(append([]actorrepo.Block{g.head}, g.nodes...), g.records...) {
			if !b.CID.Equals(drop) {
				bs = append(bs, b)
			}
		}
		return carWith(t, g.head.CID, bs)
	}
	var leaf actorrepo.Block // an MST node that is not the root
	for _, n := range g.nodes {
		if !n.CID.Equals(g.root) {
			leaf = n
			break
		}
	}
	// A commit over a tree whose keys are out of order (re-signed: the
	// signature is not what refuses it).
	unsorted := func() []byte {
		var keys []string // two keys on layer 0, in order
		for i := 0; len(keys) < 2; i++ {
			if k := fmt.Sprintf("app.bsky.feed.post/3k%011d", i); mst.HeightForKey([]byte(k)) == 0 {
				keys = append(keys, k)
			}
		}
		k1, k2 := keys[1], keys[0] // listed the wrong way round
		rec := g.records[0]
		shared := mst.CountPrefixLen([]byte(k1), []byte(k2))
		nd := mst.NodeData{Entries: []mst.EntryData{
			{KeySuffix: []byte(k1), Value: rec.CID},
			{PrefixLen: int64(shared), KeySuffix: []byte(k2[shared:]), Value: rec.CID},
		}}
		var buf bytes.Buffer
		if err := nd.MarshalCBOR(&buf); err != nil {
			t.Fatal(err)
		}
		node := actorrepo.Block{Data: buf.Bytes()}
		node.CID, _ = actorrepo.CBORCID(node.Data)
		tree, err := mst.LoadTreeFromMap(map[string]cid.Cid{k2: rec.CID})
		if err != nil {
			t.Fatal(err)
		}
		r, err := actorrepo.Rebase(did, tree, seedKey(t), "")
		if err != nil {
			t.Fatal(err)
		}
		commit := r.Head().Commit
		commit.Data = node.CID
		if err := commit.Sign(seedKey(t)); err != nil {
			t.Fatal(err)
		}
		var cb bytes.Buffer
		if err := commit.MarshalCBOR(&cb); err != nil {
			t.Fatal(err)
		}
		head := actorrepo.Block{Data: cb.Bytes()}
		head.CID, _ = actorrepo.CBORCID(head.Data)
		return carWith(t, head.CID, []actorrepo.Block{head, node, rec})
	}
	tampered := bytes.Clone(good)
	tampered[len(tampered)-10] ^= 0x01 // inside the last block's bytes
	bogus, _ := actorrepo.CBORCID([]byte("no such block"))
	cases := []struct {
		name string
		in   io.Reader
		want string // "" for a stream that fails on its own
	}{
		{"missing MST node", bytes.NewReader(without(leaf.CID)), "is missing"},
		{"missing record", bytes.NewReader(without(g.records[1234].CID)), "is missing"},
		{"root is a record", bytes.NewReader(carWith(t, g.records[0].CID, append([]actorrepo.Block{g.records[0]}, g.nodes...))), "commit"},
		{"root not in the CAR", bytes.NewReader(carWith(t, bogus, g.nodes)), "root commit block"},
		{"keys out of order", bytes.NewReader(unsorted()), "out of order"},
		{"block bytes do not match its CID", bytes.NewReader(tampered), "hash"},
		{"truncated", bytes.NewReader(good[:len(good)*2/3]), "unexpected EOF"},
		{"not a CAR", strings.NewReader("this is not a CAR"), "invalid repo CAR"},
		{"other account's repo", bytes.NewReader(generateRepo(t, "did:plc:abcdefghijklmnopqrstuvwx", 10, 4).car(t, 4)), "not of " + a.DID},
		{"connection drops", &errReader{r: bytes.NewReader(good), n: len(good) / 2}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.Engine.Repos.Import(ctx, did, tc.in, 0, nil)
			if err == nil {
				t.Fatal("accepted")
			}
			t.Logf("refused: %v", err)
			if tc.want != "" {
				if !errors.Is(err, errs.ErrInvalidRequest) {
					t.Fatalf("not an InvalidRequest: %v", err)
				}
				if !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %q does not mention %q", err, tc.want)
				}
			}
			now := testpds.VerifyRepoCAR(t, p.Dir, p.GetRepo(t, a.DID, ""))
			if now.Commit.Rev != before.Commit.Rev || now.Commit.Data != before.Commit.Data || len(now.Records) != len(before.Records) {
				t.Fatalf("the refused import changed the repo: rev %s→%s, %d→%d records", before.Commit.Rev, now.Commit.Rev, len(before.Records), len(now.Records))
			}
			noSpills(t, p.Config.DataDir)
		})
	}
	if rep, err := p.Engine.Verify(ctx, nil); err != nil || !rep.OK {
		t.Fatalf("verify: %v\n%s", err, rep)
	}
	// And the good CAR still imports.
	if _, err := p.Engine.Repos.Import(ctx, did, bytes.NewReader(good), int64(len(good)), nil); err != nil {
		t.Fatal(err)
	}
}

// TestImportLossAcrossCollectionsSharingAPrefix: the loss guard compares
// the record table with the CAR in MST key order, where a collection
// named like another plus ".more" comes first ('.' sorts before '/'),
// unlike in the table's (collection, rkey) order: the comparison still
// finds exactly what is missing and what changed.
func TestImportLossAcrossCollectionsSharingAPrefix(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "prefix.test")
	did := syntax.DID(a.DID)
	cols := []string{"com.example.foo", "com.example.foo.bar", "com.example.fop"}
	var ws []repos.Write
	for _, col := range cols {
		for _, rk := range []string{"k1", "k2", "k3"} {
			ws = append(ws, repos.Write{Action: actorrepo.Create, Collection: syntax.NSID(col), Rkey: syntax.RecordKey(rk),
				Record: map[string]any{"$type": col, "n": int64(1)}})
		}
	}
	if _, err := p.Engine.Repos.ApplyWrites(ctx, did, ws, repos.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The CAR: the same records but com.example.foo/k2 and
	// com.example.foo.bar/k1 missing, com.example.foo.bar/k3 changed, and
	// one record the repo does not have.
	paths := map[string]cid.Cid{}
	var recs []actorrepo.Block
	for _, col := range cols {
		for _, rk := range []string{"k1", "k2", "k3", "k4"} {
			path := col + "/" + rk
			n := int64(1)
			switch path {
			case "com.example.foo/k2", "com.example.foo.bar/k1":
				continue
			case "com.example.foo.bar/k3":
				n = 2
			}
			if rk == "k4" && col != "com.example.fop" {
				continue
			}
			blk, err := actorrepo.EncodeRecord(map[string]any{"$type": col, "n": n})
			if err != nil {
				t.Fatal(err)
			}
			paths[path], recs = blk.CID, append(recs, blk)
		}
	}
	tree, err := mst.LoadTreeFromMap(paths)
	if err != nil {
		t.Fatal(err)
	}
	r, err := actorrepo.Rebase(did, tree, seedKey(t), "")
	if err != nil {
		t.Fatal(err)
	}
	nodes, _ := r.Nodes()
	car := carWith(t, r.Head().CID, append(append([]actorrepo.Block{{CID: r.Head().CID, Data: r.Head().Bytes}}, nodes...), recs...))
	parsed, err := p.Engine.Repos.ParseCAR(ctx, bytes.NewReader(car), int64(len(car)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = parsed.Close() }()
	loss, err := p.Engine.Repos.ImportLoss(ctx, did, parsed)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("missing %d changed %d %+v", loss.Missing, loss.Changed, loss.Collections)
	want := "missing 2 changed 1 [{Collection:com.example.foo Missing:1 Changed:0} {Collection:com.example.foo.bar Missing:1 Changed:1}]"
	if got != want {
		t.Fatalf("loss: %s\nwant: %s", got, want)
	}
	// The guarded import refuses that loss, and takes it once confirmed.
	var le *repos.LossError
	if _, err := p.Engine.Repos.ImportGuarded(ctx, did, bytes.NewReader(car), 0, nil, ""); !errors.As(err, &le) {
		t.Fatalf("unconfirmed loss: %v", err)
	}
	if _, err := p.Engine.Repos.ImportGuarded(ctx, did, bytes.NewReader(car), 0, nil, loss.Head); err != nil {
		t.Fatalf("confirmed loss: %v", err)
	}
	if n := len(testpds.VerifyRepoCAR(t, p.Dir, p.GetRepo(t, a.DID, "")).Records); n != len(paths) {
		t.Fatalf("%d records after the import, want %d", n, len(paths))
	}
}

// BenchmarkImport measures the streamed import of a generated 20,000-record
// CAR into an account (read, verify, write; hearthbench scale measures a
// million records in a real hearthd).
func BenchmarkImport(b *testing.B) {
	p := testpds.Start(b, nil)
	a := p.CreateAccount(b, "bench.test")
	car := generateRepo(b, a.DID, 20000, 5).car(b, 5)
	b.SetBytes(int64(len(car)))
	b.ResetTimer()
	for range b.N {
		if _, err := p.Engine.Repos.Import(ctx, syntax.DID(a.DID), bytes.NewReader(car), int64(len(car)), nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseRepoCAR measures reading and verifying alone.
func BenchmarkParseRepoCAR(b *testing.B) {
	car := generateRepo(b, testDID, 20000, 6).car(b, 6)
	b.SetBytes(int64(len(car)))
	b.ResetTimer()
	for range b.N {
		p, err := repos.ParseRepoCAR(ctx, bytes.NewReader(car), int64(len(car)), nil)
		if err != nil {
			b.Fatal(err)
		}
		_ = p.Close()
	}
}

// cancelReader cancels its context once n bytes were read: the caller
// went away in the middle of an upload.
type cancelReader struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.n -= n; c.n <= 0 {
		c.cancel()
	}
	return n, err
}

// TestImportCancelledKeepsTheRepo: an import whose caller goes away
// (context cancelled while the CAR streams in) stops with the context's
// error and changes nothing, leaving no temporary file.
func TestImportCancelledKeepsTheRepo(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "cancel.test")
	did := syntax.DID(a.DID)
	old := generateRepo(t, a.DID, 200, 7).car(t, 7)
	if _, err := p.Engine.Repos.Import(ctx, did, bytes.NewReader(old), 0, nil); err != nil {
		t.Fatal(err)
	}
	before := testpds.VerifyRepoCAR(t, p.Dir, p.GetRepo(t, a.DID, ""))
	car := generateRepo(t, a.DID, 4000, 8).car(t, 8)
	for _, at := range []int{len(car) / 3, len(car) - 1} {
		cctx, cancel := context.WithCancel(ctx)
		_, err := p.Engine.Repos.Import(cctx, did, &cancelReader{r: bytes.NewReader(car), n: at, cancel: cancel}, 0, nil)
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled at byte %d: %v", at, err)
		}
		now := testpds.VerifyRepoCAR(t, p.Dir, p.GetRepo(t, a.DID, ""))
		if now.Commit.Rev != before.Commit.Rev || len(now.Records) != len(before.Records) {
			t.Fatalf("the cancelled import changed the repo")
		}
		noSpills(t, p.Config.DataDir)
	}
}

// TestImportThroughTheTunnelTakesABigCAR: through the server the tunnel
// uses (a stranger's request, with the public edge's body limits), a CAR
// bigger than the 5 MiB JSON body limit streams into importRepo.
func TestImportThroughTheTunnelTakesABigCAR(t *testing.T) {
	p := testpds.StartThroughTunnel(t, xrpc.Options{})
	a := p.CreateAccount(t, "tunnel.test")
	g := generateRepo(t, a.DID, 20000, 11)
	car := g.car(t, 11)
	if len(car) <= xrpc.MaxJSONBody {
		t.Fatalf("the CAR is only %d bytes", len(car))
	}
	if err := comatproto.RepoImportRepo(context.Background(), p.Login(t, a), bytes.NewReader(car)); err != nil {
		t.Fatalf("importRepo of %d bytes through the tunnel: %v", len(car), err)
	}
	v := testpds.VerifyRepoCAR(t, p.Dir, p.GetRepo(t, a.DID, ""))
	if v.Commit.Data != g.root || len(v.Records) != 20000 {
		t.Fatalf("after the import: root %s (want %s), %d records", v.Commit.Data, g.root, len(v.Records))
	}
}
