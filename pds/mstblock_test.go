package pds_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds/actorrepo"
	"github.com/hearth-pds/hearth/pds/repos"
)

// postBatch creates n posts in one commit.
func postBatch(t *testing.T, p *testpds.PDS, did syntax.DID, n int, tag string) []repos.WriteResult {
	t.Helper()
	var ws []repos.Write
	for i := 0; i < n; i++ {
		ws = append(ws, repos.Write{Action: actorrepo.Create, Collection: "app.bsky.feed.post",
			Record: map[string]any{"$type": "app.bsky.feed.post", "text": fmt.Sprint(tag, i), "createdAt": syntax.DatetimeNow().String()}})
	}
	res, err := p.Engine.Repos.ApplyWrites(context.Background(), did, ws, repos.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Results
}

// mstNodes counts did's rows in the block tables.
func mstNodes(t *testing.T, dir, did string) int {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, "hearth.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	var n int
	if err := db.QueryRow("SELECT (SELECT count(*) FROM mst_block WHERE did = ?1) + (SELECT count(*) FROM mst_block_recent WHERE did = ?1)", did).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// checkRepo downloads the repo over HTTP, verifies it with indigo (the
// signature, the MST rebuilt from the records) and checks the block table
// holds exactly the tree's nodes; Engine.Verify must pass too.
func checkRepo(t *testing.T, p *testpds.PDS, did string, records int) {
	t.Helper()
	car := p.GetRepo(t, did, "")
	v := testpds.VerifyRepoCAR(t, p.Dir, car)
	if len(v.Records) != records {
		t.Fatalf("the exported repo has %d records, want %d", len(v.Records), records)
	}
	rep, err := p.Engine.Verify(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("verify:\n%s", rep)
	}
	// The block table holds every node of the tree once, nothing more.
	parsed, err := repos.ParseRepoCAR(context.Background(), bytes.NewReader(car), int64(len(car)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if nodes := mstNodes(t, p.Config.DataDir, did); nodes != parsed.NodeCount() {
		t.Fatalf("the block table holds %d nodes, the tree %d", nodes, parsed.NodeCount())
	}
}

// TestMSTBlocksPersistAcrossRestart: writes, deletes and updates keep the
// block table exactly the current tree; after a restart the next writes
// open the tree from it and every export verifies.
func TestMSTBlocksPersistAcrossRestart(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "blocks.test")
	did := syntax.DID(a.DID)
	var made []repos.WriteResult
	for i := 0; i < 6; i++ {
		made = append(made, postBatch(t, p, did, 150, fmt.Sprint("b", i))...)
	}
	checkRepo(t, p, a.DID, 900)

	p = p.Restart(t)
	// Deletes (merging nodes), an update, creates: after the restart.
	var ws []repos.Write
	for i := 0; i < 120; i += 2 {
		u, _ := syntax.ParseATURI(made[i*7].URI)
		ws = append(ws, repos.Write{Action: actorrepo.Delete, Collection: u.Collection(), Rkey: u.RecordKey()})
	}
	u, _ := syntax.ParseATURI(made[1].URI)
	ws = append(ws, repos.Write{Action: actorrepo.Update, Collection: u.Collection(), Rkey: u.RecordKey(),
		Record: map[string]any{"$type": "app.bsky.feed.post", "text": "edited", "createdAt": syntax.DatetimeNow().String()}})
	if _, err := p.Engine.Repos.ApplyWrites(context.Background(), did, ws, repos.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	postBatch(t, p, did, 1, "after")
	checkRepo(t, p, a.DID, 900-60+1)

}

// TestMSTBlocksFilledForOlderRepos: a folder written before the block
// table existed (no rows) is filled once on first use, from the record
// table checked against the signed head, and then works as any other.
func TestMSTBlocksFilledForOlderRepos(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "older.test")
	did := syntax.DID(a.DID)
	postBatch(t, p, did, 200, "x")
	p.Stop()
	sqlOn(t, p.Config.DataDir, "DELETE FROM mst_block; DELETE FROM mst_block_recent")
	p = p.Restart(t)
	// An export first (fills the table), then a write on top.
	checkRepo(t, p, a.DID, 200)
	p.Stop()
	sqlOn(t, p.Config.DataDir, "DELETE FROM mst_block; DELETE FROM mst_block_recent")
	p = p.Restart(t)
	postBatch(t, p, did, 3, "y")
	checkRepo(t, p, a.DID, 203)
}
