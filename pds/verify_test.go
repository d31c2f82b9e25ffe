package pds_test

import (
	"bytes"
	"database/sql"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds/repos"
)

// Verify passes a sound folder and names each kind of damage: a blob whose
// bytes changed, a record row that disagrees with the signed tree, and a
// gap in the event log.
func TestVerifyFindsDamage(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	did := syntax.DID(a.DID)
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{3}, 500)...)
	info, err := p.Engine.Blobs.Upload(ctx, did, "image/png", bytes.NewReader(png))
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"one", "two", "three"} {
		rec := map[string]any{"$type": "app.bsky.feed.post", "text": text, "createdAt": syntax.DatetimeNow().String()}
		if _, err := p.Engine.Repos.ApplyWrites(ctx, did, []repos.Write{{Action: "create", Collection: "app.bsky.feed.post", Rkey: syntax.RecordKey(syntax.NewTIDNow(0).String()), Record: rec}}, repos.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := p.Engine.Verify(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || len(rep.Accounts) != 1 || rep.Accounts[0].Records != 3 || rep.Accounts[0].Blobs != 1 || rep.Events.Count == 0 {
		t.Fatalf("sound folder: %+v\n%s", rep, rep)
	}

	// A blob's bytes change on disk.
	var blobPath string
	_ = filepath.WalkDir(p.Config.DataDir, func(pth string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == info.CID {
			blobPath = pth
		}
		return err
	})
	if err := os.WriteFile(blobPath, append(png, 0), 0o600); err != nil {
		t.Fatal(err)
	}
	// A record row disagrees with the signed tree, and one event is lost.
	db, err := sql.Open("sqlite", filepath.Join(p.Config.DataDir, "hearth.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }() // read-only use after the writes above
	if _, err := db.Exec("UPDATE record SET cid = 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' WHERE rkey = (SELECT min(rkey) FROM record)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("DELETE FROM event WHERE seq = (SELECT min(seq) + 1 FROM event)"); err != nil {
		t.Fatal(err)
	}
	rep, err = p.Engine.Verify(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	text := rep.String()
	if rep.OK || len(rep.Accounts[0].Damaged) != 1 || len(rep.Accounts[0].RepoProblems) == 0 || len(rep.Events.Gaps) != 1 {
		t.Fatalf("damaged folder passed or was misreported:\n%s", text)
	}
	if testing.Verbose() {
		t.Log(text)
	}
	for _, want := range []string{info.CID, "do not match its CID", "gaps", "restore"} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
}
