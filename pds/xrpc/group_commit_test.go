package xrpc_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/bluesky-social/indigo/atproto/repo"

	"github.com/hearth-pds/hearth/internal/testpds"
)

// TestConcurrentWritersCommitTogether: clients of several accounts write
// at once over HTTP, with refused writes mixed in, so that the store commits
// their writes in shared transactions. Every acknowledged record must be in
// its repo after a restart, every repo must export and verify, the refused
// writes must have left nothing, and every #commit frame must verify as a
// relay checks it (indigo's VerifyCommitMessage and the signature), in
// strictly increasing seq, each account's revs increasing.
func TestConcurrentWritersCommitTogether(t *testing.T) {
	p := testpds.Start(t, nil)
	const accounts, perAccount = 6, 20
	type acct struct {
		did  string
		uris map[string]string // uri -> cid
	}
	accts := make([]*acct, accounts)
	var wg sync.WaitGroup
	errs := make(chan error, accounts*perAccount)
	start := make(chan struct{}) // every client starts once all accounts exist
	for i := range accts {
		a := p.CreateAccount(t, fmt.Sprintf("w%d.test", i))
		c := p.Login(t, a)
		accts[i] = &acct{did: a.DID, uris: map[string]string{}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for j := range perAccount {
				if j%7 == 3 { // refused inside the write: the swap does not match
					err := c.Post(ctx, "com.atproto.repo.createRecord", map[string]any{"repo": a.DID, "collection": "app.bsky.feed.post",
						"record": post("refused"), "swapCommit": "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a"}, nil)
					if err == nil {
						errs <- fmt.Errorf("%s: a createRecord with a wrong swapCommit was accepted", a.DID)
					}
					continue
				}
				var out createOut
				if err := c.Post(ctx, "com.atproto.repo.createRecord", map[string]any{"repo": a.DID, "collection": "app.bsky.feed.post",
					"record": post(fmt.Sprintf("post %d of %s", j, a.DID))}, &out); err != nil {
					errs <- fmt.Errorf("%s write %d: %w", a.DID, j, err)
					return
				}
				accts[i].uris[out.URI] = out.CID
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	p = p.Restart(t)
	for _, a := range accts {
		v := mustVerify(t, p, a.did)
		// the profile-less new account holds only what was acknowledged
		if len(v.Records) != len(a.uris) {
			t.Fatalf("%s: exported %d records, %d were acknowledged", a.did, len(v.Records), len(a.uris))
		}
		for uri, c := range a.uris {
			path := uri[len("at://"+a.did+"/"):]
			if got, ok := v.Records[path]; !ok || got.String() != c {
				t.Fatalf("%s: acknowledged record %s (%s) exported as %v", a.did, path, c, got)
			}
		}
	}

	evs, err := p.Engine.Events.Range(ctx, 0, 10000, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	lastRev := map[string]string{}
	var lastSeq int64
	commits := 0
	for _, ev := range evs {
		if ev.Seq <= lastSeq {
			t.Fatalf("event seq %d after %d", ev.Seq, lastSeq)
		}
		lastSeq = ev.Seq
		if ev.Kind != "#commit" {
			continue
		}
		body := decodeCommitFrame(t, ev.Frame)
		if _, err := repo.VerifyCommitMessage(ctx, body); err != nil {
			t.Fatalf("event %d: %v", ev.Seq, err)
		}
		if err := repo.VerifyCommitSignature(ctx, p.Dir, body); err != nil {
			t.Fatalf("event %d signature: %v", ev.Seq, err)
		}
		if body.Rev <= lastRev[body.Repo] {
			t.Fatalf("event %d: rev %s of %s after %s", ev.Seq, body.Rev, body.Repo, lastRev[body.Repo])
		}
		lastRev[body.Repo] = body.Rev
		commits++
	}
	want := 0
	for _, a := range accts {
		want += 1 + len(a.uris) // the account's first commit, then one a create
	}
	if commits != want {
		t.Fatalf("%d #commit events, want %d", commits, want)
	}
	rep, err := p.Engine.Verify(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("Engine.Verify: %+v", rep)
	}
}
