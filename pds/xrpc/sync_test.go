package xrpc_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	comatproto "github.com/bluesky-social/indigo/api/atproto"
	"github.com/bluesky-social/indigo/atproto/repo"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds/actorrepo"
)

func TestSyncReads(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	b := p.CreateAccount(t, "bob.test")
	c := p.Login(t, a)
	var outs []createOut
	for i := 0; i < 30; i++ {
		outs = append(outs, create(t, c, a.DID, "app.bsky.feed.post", post(fmt.Sprint("post ", i))))
	}
	mid := outs[19].Commit.Rev

	latest, err := comatproto.SyncGetLatestCommit(ctx, c, a.DID)
	if err != nil || latest.Cid != outs[29].Commit.CID || latest.Rev != outs[29].Commit.Rev {
		t.Fatalf("getLatestCommit = %+v %v", latest, err)
	}
	full := mustVerify(t, p, a.DID)
	if len(full.Records) != 30 {
		t.Fatalf("getRepo: %d records", len(full.Records))
	}

	// since: only records written after mid come with the commit and nodes.
	diff := p.GetRepo(t, a.DID, mid)
	cr, err := actorrepo.NewCARReader(bytes.NewReader(diff))
	if err != nil {
		t.Fatal(err)
	}
	recs := 0
	for {
		blk, err := cr.Next()
		if err != nil {
			break
		}
		for _, o := range outs {
			if o.CID == blk.CID.String() {
				recs++
			}
		}
	}
	if recs != 10 {
		t.Fatalf("getRepo since=%s carried %d records, want 10", mid, recs)
	}

	// sync.getRecord: a proof CAR indigo can walk to the record.
	target := outs[7]
	proof, err := comatproto.SyncGetRecord(ctx, c, "app.bsky.feed.post", a.DID, rkeyOf(target.URI))
	if err != nil {
		t.Fatal(err)
	}
	commit, r, err := repo.LoadRepoFromCAR(ctx, bytes.NewReader(proof))
	if err != nil {
		t.Fatalf("load proof: %v", err)
	}
	if commit.Rev != latest.Rev {
		t.Fatalf("proof commit rev %s", commit.Rev)
	}
	_, gotCID, err := r.GetRecordBytes(ctx, "app.bsky.feed.post", syntax.RecordKey(rkeyOf(target.URI)))
	if err != nil || gotCID.String() != target.CID {
		t.Fatalf("record via proof: %v %v", gotCID, err)
	}
	if _, err := comatproto.SyncGetRecord(ctx, c, "app.bsky.feed.post", a.DID, "3zzzzzzzzzzzz"); err == nil {
		t.Fatal("proof for a missing record")
	}

	// getBlocks: the commit and a record by CID; unknown CID is an error.
	blocks, err := comatproto.SyncGetBlocks(ctx, c, []string{latest.Cid, target.CID}, a.DID)
	if err != nil {
		t.Fatal(err)
	}
	cr, _ = actorrepo.NewCARReader(bytes.NewReader(blocks))
	var got []string
	for {
		blk, err := cr.Next()
		if err != nil {
			break
		}
		got = append(got, blk.CID.String())
	}
	if strings.Join(got, ",") != latest.Cid+","+target.CID {
		t.Fatalf("getBlocks returned %v", got)
	}
	nowhere, _ := cid.Decode("bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a")
	_, err = comatproto.SyncGetBlocks(ctx, c, []string{nowhere.String()}, a.DID)
	apiErr(t, err, 400, "BlockNotFound")

	st, err := comatproto.SyncGetRepoStatus(ctx, c, a.DID)
	if err != nil || !st.Active || st.Rev == nil || *st.Rev != latest.Rev {
		t.Fatalf("getRepoStatus = %+v %v", st, err)
	}
	_, err = comatproto.SyncGetRepoStatus(ctx, c, "did:plc:unknown0000000000000000")
	apiErr(t, err, 400, "RepoNotFound")
	lr, err := comatproto.SyncListRepos(ctx, c, "", 1)
	if err != nil || len(lr.Repos) != 1 || lr.Cursor == nil {
		t.Fatalf("listRepos page 1 = %+v %v", lr, err)
	}
	lr2, err := comatproto.SyncListRepos(ctx, c, *lr.Cursor, 1)
	if err != nil || len(lr2.Repos) != 1 || lr2.Repos[0].Did == lr.Repos[0].Did {
		t.Fatalf("listRepos page 2 = %+v %v", lr2, err)
	}
	seen := map[string]bool{lr.Repos[0].Did: true, lr2.Repos[0].Did: true}
	if !seen[a.DID] || !seen[b.DID] {
		t.Fatalf("listRepos missed an account: %v", seen)
	}
}

// TestCommitEventsVerify checks every #commit the engine logged the way a
// relay does (indigo's VerifyCommitMessage inverts the ops to prevData).
func TestCommitEventsVerify(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	var outs []createOut
	for i := 0; i < 40; i++ {
		outs = append(outs, create(t, c, a.DID, "app.bsky.feed.post", post(fmt.Sprint(i))))
	}
	for i := 0; i < 40; i += 3 {
		if _, err := comatproto.RepoDeleteRecord(ctx, c, &comatproto.RepoDeleteRecord_Input{Repo: a.DID, Collection: "app.bsky.feed.post", Rkey: rkeyOf(outs[i].URI)}); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := p.Engine.Events.Range(ctx, 0, 1000, 0, a.DID)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Kind != "#commit" {
			continue
		}
		body := decodeCommitFrame(t, ev.Frame)
		if body.Seq != ev.Seq {
			t.Fatalf("frame seq %d != row seq %d", body.Seq, ev.Seq)
		}
		if _, err := repo.VerifyCommitMessage(ctx, body); err != nil {
			t.Fatalf("event %d: %v", ev.Seq, err)
		}
		if err := repo.VerifyCommitSignature(ctx, p.Dir, body); err != nil {
			t.Fatalf("event %d signature: %v", ev.Seq, err)
		}
		n++
	}
	if n != 1+40+14 {
		t.Fatalf("verified %d commits", n)
	}
}
