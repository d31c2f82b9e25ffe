package app

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/pds/actorrepo"
	"github.com/hearth-pds/hearth/pds/repos"
)

// putProfile writes the account's profile record (create or update).
func putProfile(t *testing.T, a *App, name string) {
	t.Helper()
	e, acc, err := a.account(bg)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := decodeJSONRecord([]byte(`{"$type":"app.bsky.actor.profile","displayName":"` + name + `"}`))
	if err != nil {
		t.Fatal(err)
	}
	action := actorrepo.Create
	if _, err := e.Repos.GetRecord(bg, acc.DID, "app.bsky.actor.profile", "self", cid.Undef); err == nil {
		action = actorrepo.Update
	}
	if _, err := e.Repos.ApplyWrites(bg, acc.DID, []repos.Write{{Action: action, Collection: "app.bsky.actor.profile", Rkey: "self", Record: rec}}, repos.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
}

func postTexts(t *testing.T, a *App) []string {
	t.Helper()
	tl, err := a.Timeline("")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range tl.Records {
		out = append(out, r.Text)
	}
	return out
}

// TestImportShowsAndGuardsLoss: importing an older CAR shows what it would
// lose (counts per collection, the newest lost posts' texts) and is refused
// unless confirmed against the head that loss was measured at; a CAR that
// loses nothing imports in one call.
func TestImportShowsAndGuardsLoss(t *testing.T) {
	a, ui := startApp(t)
	if _, err := a.CreateAccount("me.test", "password123", ""); err != nil {
		t.Fatal(err)
	}
	for _, txt := range []string{"kept one", "kept two"} {
		if _, err := a.Post(PostInput{Text: txt}); err != nil {
			t.Fatal(err)
		}
	}
	putProfile(t, a, "Old name")
	ui.save = filepath.Join(t.TempDir(), "old.car")
	old, err := a.ExportCAR()
	if err != nil {
		t.Fatal(err)
	}
	// Written after the export: 11 posts and a new profile.
	for i := 1; i <= 11; i++ {
		if _, err := a.Post(PostInput{Text: fmt.Sprintf("newer %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	putProfile(t, a, "New name")

	ui.open = old
	info, err := a.InspectCAR()
	if err != nil {
		t.Fatal(err)
	}
	l := info.Loss
	if l == nil {
		t.Fatal("inspecting an older CAR shows no loss")
	}
	if !l.Older || l.Records != 12 || l.Missing != 11 || l.Changed != 1 || l.PostsLost != 11 {
		t.Fatalf("loss = %+v", l)
	}
	wantCols := []LostCollection{{Name: "app.bsky.actor.profile", Changed: 1}, {Name: "app.bsky.feed.post", Missing: 11}}
	if fmt.Sprint(l.Collections) != fmt.Sprint(wantCols) {
		t.Fatalf("collections = %+v, want %+v", l.Collections, wantCols)
	}
	if len(l.Posts) != repos.MaxLostPosts || l.Posts[0].Text != "newer 11" || l.Posts[9].Text != "newer 2" || l.Posts[0].CreatedAt == "" ||
		!strings.HasPrefix(l.Posts[0].URI, "at://did:plc:") {
		t.Fatalf("lost posts = %+v", l.Posts)
	}

	for _, tc := range []struct{ name, confirm string }{
		{"not confirmed", ""},
		{"confirmed against another head", "bafyreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.ImportCAR(old, tc.confirm)
			var le *repos.LossError
			if !errors.As(err, &le) || !strings.Contains(err.Error(), "would lose 12 records") {
				t.Fatalf("lossy import: %v", err)
			}
			if got := postTexts(t, a); len(got) != 13 {
				t.Fatalf("a refused import changed the repo: %d posts", len(got))
			}
		})
	}

	// A write after the inspection moves the head: the old confirmation no
	// longer covers what would be lost.
	if _, err := a.Post(PostInput{Text: "written after looking"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ImportCAR(old, l.Head); err == nil || !strings.Contains(err.Error(), "would lose 13 records") {
		t.Fatalf("import confirmed against a stale head: %v", err)
	}
	info, err = a.InspectCAR()
	if err != nil || info.Loss == nil || info.Loss.Records != 13 || info.Loss.Posts[0].Text != "written after looking" {
		t.Fatalf("inspect again = %+v %v", info, err)
	}
	res, err := a.ImportCAR(old, info.Loss.Head)
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != 3 || fmt.Sprint(postTexts(t, a)) != "[kept two kept one]" {
		t.Fatalf("after the confirmed import: %+v, posts %v", res, postTexts(t, a))
	}

	// Nothing to lose now: no loss shown, one call imports.
	info, err = a.InspectCAR()
	if err != nil || info.Loss != nil {
		t.Fatalf("inspect a CAR that loses nothing = %+v %v", info, err)
	}
	if _, err := a.ImportCAR(old, ""); err != nil {
		t.Fatalf("import that loses nothing: %v", err)
	}
}

// TestImportOfAnotherAccountsCARIsRefused: a CAR of another DID is shown
// as such (no import offered) and ImportCAR refuses it even when
// "confirmed": nothing of the repo changes.
func TestImportOfAnotherAccountsCARIsRefused(t *testing.T) {
	other, oui := startApp(t)
	if _, err := other.CreateAccount("other.test", "password123", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Post(PostInput{Text: "someone else's post"}); err != nil {
		t.Fatal(err)
	}
	oui.save = filepath.Join(t.TempDir(), "other.car")
	car, err := other.ExportCAR()
	if err != nil {
		t.Fatal(err)
	}

	a, ui := startApp(t)
	if _, err := a.CreateAccount("me.test", "password123", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Post(PostInput{Text: "mine"}); err != nil {
		t.Fatal(err)
	}
	ui.open = car
	info, err := a.InspectCAR()
	if err != nil || info.ForThisAcct || info.Loss != nil {
		t.Fatalf("inspect another account's CAR = %+v %v", info, err)
	}
	cur, err := a.CurrentCommit()
	if err != nil {
		t.Fatal(err)
	}
	for _, confirm := range []string{"", cur.CID} {
		if _, err := a.ImportCAR(car, confirm); err == nil || !strings.Contains(err.Error(), "not of") {
			t.Fatalf("import of another account's CAR (confirm %q): %v", confirm, err)
		}
	}
	if got := postTexts(t, a); fmt.Sprint(got) != "[mine]" {
		t.Fatalf("posts after refused imports: %v", got)
	}
}
