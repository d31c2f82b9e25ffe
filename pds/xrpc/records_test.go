package xrpc_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	comatproto "github.com/bluesky-social/indigo/api/atproto"
	"github.com/bluesky-social/indigo/api/bsky"
	lexutil "github.com/bluesky-social/indigo/lex/util"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds/actorrepo"
)

func TestRecordsCRUDWithIndigoClient(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)

	// Typed create through indigo's generated client.
	out, err := comatproto.RepoCreateRecord(ctx, c, &comatproto.RepoCreateRecord_Input{
		Repo: a.Handle, Collection: "app.bsky.feed.post",
		Record: &lexutil.LexiconTypeDecoder{Val: &bsky.FeedPost{Text: "hello world", CreatedAt: "2026-11-22T10:00:00Z", Langs: []string{"en"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.Uri, "at://"+a.DID+"/app.bsky.feed.post/") || out.ValidationStatus == nil || *out.ValidationStatus != "valid" {
		t.Fatalf("createRecord = %+v", out)
	}
	got, err := comatproto.RepoGetRecord(ctx, c, "", "app.bsky.feed.post", a.DID, rkeyOf(out.Uri))
	if err != nil {
		t.Fatal(err)
	}
	if fp, ok := got.Value.Val.(*bsky.FeedPost); !ok || fp.Text != "hello world" || *got.Cid != out.Cid {
		t.Fatalf("getRecord = %+v", got)
	}

	// putRecord creates, then updates; swapRecord guards it.
	rkey := "self"
	prof := func(name string) *lexutil.LexiconTypeDecoder {
		return &lexutil.LexiconTypeDecoder{Val: &bsky.ActorProfile{DisplayName: &name}}
	}
	put1, err := comatproto.RepoPutRecord(ctx, c, &comatproto.RepoPutRecord_Input{Repo: a.DID, Collection: "app.bsky.actor.profile", Rkey: rkey, Record: prof("Alice")})
	if err != nil {
		t.Fatal(err)
	}
	wrong := out.Cid
	_, err = comatproto.RepoPutRecord(ctx, c, &comatproto.RepoPutRecord_Input{Repo: a.DID, Collection: "app.bsky.actor.profile", Rkey: rkey, Record: prof("Mallory"), SwapRecord: &wrong})
	apiErr(t, err, 400, "InvalidSwap")
	put2, err := comatproto.RepoPutRecord(ctx, c, &comatproto.RepoPutRecord_Input{Repo: a.DID, Collection: "app.bsky.actor.profile", Rkey: rkey, Record: prof("Alice A."), SwapRecord: &put1.Cid})
	if err != nil || put2.Cid == put1.Cid {
		t.Fatalf("update with swap: %v", err)
	}
	// swapRecord null: only if absent.
	var o map[string]any
	apiErr(t, c.Post(ctx, "com.atproto.repo.putRecord", map[string]any{"repo": a.DID, "collection": "app.bsky.actor.profile", "rkey": rkey, "record": map[string]any{"displayName": "x"}, "swapRecord": nil}, &o), 400, "InvalidSwap")

	// swapCommit
	head, err := comatproto.SyncGetLatestCommit(ctx, c, a.DID)
	if err != nil {
		t.Fatal(err)
	}
	stale := out.Commit.Cid
	_, err = comatproto.RepoCreateRecord(ctx, c, &comatproto.RepoCreateRecord_Input{Repo: a.DID, Collection: "app.bsky.feed.post", SwapCommit: &stale,
		Record: &lexutil.LexiconTypeDecoder{Val: &bsky.FeedPost{Text: "x", CreatedAt: "2026-11-22T10:00:00Z"}}})
	apiErr(t, err, 400, "InvalidSwap")
	if _, err := comatproto.RepoCreateRecord(ctx, c, &comatproto.RepoCreateRecord_Input{Repo: a.DID, Collection: "app.bsky.feed.post", SwapCommit: &head.Cid,
		Record: &lexutil.LexiconTypeDecoder{Val: &bsky.FeedPost{Text: "x", CreatedAt: "2026-11-22T10:00:00Z"}}}); err != nil {
		t.Fatalf("create with current swapCommit: %v", err)
	}

	// deleteRecord, and deleting again is a no-op.
	if _, err := comatproto.RepoDeleteRecord(ctx, c, &comatproto.RepoDeleteRecord_Input{Repo: a.DID, Collection: "app.bsky.feed.post", Rkey: rkeyOf(out.Uri)}); err != nil {
		t.Fatal(err)
	}
	if _, err := comatproto.RepoDeleteRecord(ctx, c, &comatproto.RepoDeleteRecord_Input{Repo: a.DID, Collection: "app.bsky.feed.post", Rkey: rkeyOf(out.Uri)}); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	_, err = comatproto.RepoGetRecord(ctx, c, "", "app.bsky.feed.post", a.DID, rkeyOf(out.Uri))
	apiErr(t, err, 400, "RecordNotFound")

	desc, err := comatproto.RepoDescribeRepo(ctx, c, a.Handle)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Did != a.DID || strings.Join(desc.Collections, ",") != "app.bsky.actor.profile,app.bsky.feed.post" || desc.HandleIsCorrect {
		t.Fatalf("describeRepo = %+v", desc)
	}
	v := mustVerify(t, p, a.DID)
	if len(v.Records) != 2 {
		t.Fatalf("repo has %d records, want 2", len(v.Records))
	}
}

func TestListRecordsPaging(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	var rkeys []string
	for i := 0; i < 23; i++ {
		const tidChars = "234567abcdefghijklmnopqrstuvwxyz" // likes take TID keys, in key order
		rk := fmt.Sprintf("3kaaaaaaaaa%c%c", tidChars[i/len(tidChars)], tidChars[i%len(tidChars)])
		rkeys = append(rkeys, rk)
		if err := c.Post(ctx, "com.atproto.repo.createRecord", map[string]any{"repo": a.DID, "collection": "app.bsky.feed.like", "rkey": rk,
			"record": map[string]any{"subject": map[string]any{"uri": "at://did:plc:abc/app.bsky.feed.post/3k2", "cid": "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a"}, "createdAt": "2026-11-22T10:00:00Z"}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, reverse := range []bool{false, true} {
		var seen []string
		cursor := ""
		for page := 0; page < 10; page++ {
			res, err := comatproto.RepoListRecords(ctx, c, "app.bsky.feed.like", cursor, 10, a.DID, reverse)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res.Records {
				seen = append(seen, rkeyOf(r.Uri))
			}
			if res.Cursor == nil {
				break
			}
			cursor = *res.Cursor
		}
		if len(seen) != 23 {
			t.Fatalf("reverse=%v: saw %d records", reverse, len(seen))
		}
		for i := range seen {
			want := rkeys[len(rkeys)-1-i] // newest first by default
			if reverse {
				want = rkeys[i]
			}
			if seen[i] != want {
				t.Fatalf("reverse=%v: record %d is %s, want %s", reverse, i, seen[i], want)
			}
		}
	}
	st, _, b := raw(t, "GET", p.URL+"/xrpc/com.atproto.repo.listRecords?repo="+a.DID+"&collection=app.bsky.feed.like&limit=abc", "", "", nil)
	xrpcErr(t, st, b, 400, "InvalidRequest")
}

func TestApplyWrites(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	create(t, c, a.DID, "app.bsky.feed.post", post("keep"))
	old := create(t, c, a.DID, "app.bsky.feed.post", post("to delete"))
	upd := create(t, c, a.DID, "app.bsky.feed.post", post("to update"))
	var out struct {
		Commit  struct{ CID, Rev string }
		Results []map[string]any
	}
	err := c.Post(ctx, "com.atproto.repo.applyWrites", map[string]any{"repo": a.DID, "writes": []any{
		map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.feed.post", "value": post("new")},
		map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": "com.example.unknown", "rkey": "k1", "value": map[string]any{"anything": 1}},
		map[string]any{"$type": "com.atproto.repo.applyWrites#update", "collection": "app.bsky.feed.post", "rkey": rkeyOf(upd.URI), "value": post("updated")},
		map[string]any{"$type": "com.atproto.repo.applyWrites#delete", "collection": "app.bsky.feed.post", "rkey": rkeyOf(old.URI)},
	}}, &out)
	if err != nil {
		t.Fatal(err)
	}
	types := []string{}
	for _, r := range out.Results {
		types = append(types, fmt.Sprint(r["$type"], ":", r["validationStatus"]))
	}
	want := "com.atproto.repo.applyWrites#createResult:valid com.atproto.repo.applyWrites#createResult:unknown com.atproto.repo.applyWrites#updateResult:valid com.atproto.repo.applyWrites#deleteResult:<nil>"
	if strings.Join(types, " ") != want {
		t.Fatalf("results = %v", types)
	}
	v := mustVerify(t, p, a.DID)
	if len(v.Records) != 4 || v.Commit.Rev != out.Commit.Rev {
		t.Fatalf("after applyWrites: %d records, rev %s (want %s)", len(v.Records), v.Commit.Rev, out.Commit.Rev)
	}
	// The #commit event for it carries all four ops with prev CIDs.
	evs, err := p.Engine.Events.Range(ctx, 0, 100, 0, a.DID)
	if err != nil || len(evs) < 6 {
		t.Fatalf("events: %d %v", len(evs), err)
	}
	kinds := []string{}
	for _, e := range evs[:4] {
		kinds = append(kinds, e.Kind)
	}
	if strings.Join(kinds, ",") != "#identity,#account,#commit,#sync" {
		t.Fatalf("new account events = %v", kinds)
	}
}

func TestWriteRejections(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	b := p.CreateAccount(t, "bob.test")
	c := p.Login(t, a)
	create(t, c, a.DID, "app.bsky.feed.post", post("existing"))
	before := mustVerify(t, p, a.DID)
	access, _ := tokens(c)
	big := strings.Repeat("a", 1100*1024)
	manyWrites := []any{}
	for i := 0; i < 201; i++ {
		manyWrites = append(manyWrites, map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.feed.post", "value": post("x")})
	}
	// A batch big enough to be prepared on several cores, with one record
	// that is not atproto data (floats are not allowed).
	floatBatch := []any{}
	for i := 0; i < 40; i++ {
		v := post("x")
		if i == 35 {
			v["n"] = 1.5
		}
		floatBatch = append(floatBatch, map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.feed.post", "value": v})
	}
	cases := []struct {
		name   string
		nsid   string
		body   any
		status int
		errn   string
	}{
		{"text too long", "com.atproto.repo.createRecord", map[string]any{"repo": a.DID, "collection": "app.bsky.feed.post", "record": post(strings.Repeat("é", 301))}, 400, "InvalidRecord"},
		{"missing field", "com.atproto.repo.createRecord", map[string]any{"repo": a.DID, "collection": "app.bsky.feed.like", "record": map[string]any{"createdAt": "2026-11-22T10:00:00Z"}}, 400, "InvalidRecord"},
		{"wrong $type", "com.atproto.repo.createRecord", map[string]any{"repo": a.DID, "collection": "app.bsky.feed.post", "record": map[string]any{"$type": "app.bsky.feed.like", "text": "x"}}, 400, "InvalidRecord"},
		{"require unknown lexicon", "com.atproto.repo.createRecord", map[string]any{"repo": a.DID, "collection": "com.example.thing", "validate": true, "record": map[string]any{"a": 1}}, 400, "InvalidRecord"},
		{"bad collection", "com.atproto.repo.createRecord", map[string]any{"repo": a.DID, "collection": "not an nsid", "record": post("x")}, 400, "InvalidRequest"},
		{"bad rkey", "com.atproto.repo.createRecord", map[string]any{"repo": a.DID, "collection": "app.bsky.feed.post", "rkey": "../../etc", "record": post("x")}, 400, "InvalidRequest"},
		{"dot rkey", "com.atproto.repo.putRecord", map[string]any{"repo": a.DID, "collection": "app.bsky.feed.post", "rkey": "..", "record": post("x")}, 400, "InvalidRequest"},
		{"someone else's repo", "com.atproto.repo.createRecord", map[string]any{"repo": b.DID, "collection": "app.bsky.feed.post", "record": post("x")}, 403, "Forbidden"},
		{"unknown repo", "com.atproto.repo.createRecord", map[string]any{"repo": "did:plc:nobody", "collection": "app.bsky.feed.post", "record": post("x")}, 403, "Forbidden"},
		{"unknown handle", "com.atproto.repo.createRecord", map[string]any{"repo": "nobody.test", "collection": "app.bsky.feed.post", "record": post("x")}, 400, "InvalidRequest"},
		{"record over 1 MB", "com.atproto.repo.createRecord", map[string]any{"repo": a.DID, "collection": "com.example.big", "record": map[string]any{"blob": big}}, 400, "InvalidRecord"},
		{"float in a batch", "com.atproto.repo.applyWrites", map[string]any{"repo": a.DID, "writes": floatBatch}, 400, "InvalidRecord"},
		{"record not an object", "com.atproto.repo.createRecord", map[string]any{"repo": a.DID, "collection": "app.bsky.feed.post", "record": "just text"}, 400, "InvalidRecord"},
		{"201 ops", "com.atproto.repo.applyWrites", map[string]any{"repo": a.DID, "writes": manyWrites}, 400, "InvalidRequest"},
		{"unknown write type", "com.atproto.repo.applyWrites", map[string]any{"repo": a.DID, "writes": []any{map[string]any{"$type": "x", "collection": "app.bsky.feed.post"}}}, 400, "InvalidRequest"},
		{"delete missing in batch", "com.atproto.repo.applyWrites", map[string]any{"repo": a.DID, "writes": []any{map[string]any{"$type": "com.atproto.repo.applyWrites#delete", "collection": "app.bsky.feed.post", "rkey": "3kzzzzzzzzzzz"}}}, 400, "InvalidRequest"},
		{"bad cid link", "com.atproto.repo.createRecord", map[string]any{"repo": a.DID, "collection": "com.example.x", "record": map[string]any{"l": map[string]any{"$link": "../../etc/passwd"}}}, 400, "InvalidRecord"},
		{"unknown blob", "com.atproto.repo.createRecord", map[string]any{"repo": a.DID, "collection": "app.bsky.feed.post", "record": map[string]any{"text": "x", "createdAt": "2026-11-22T10:00:00Z",
			"embed": map[string]any{"$type": "app.bsky.embed.images", "images": []any{map[string]any{"alt": "", "image": map[string]any{"$type": "blob", "ref": map[string]any{"$link": "bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy"}, "mimeType": "image/png", "size": 10}}}}}}, 400, "BlobNotFound"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, _, body := raw(t, "POST", p.URL+"/xrpc/"+tc.nsid, access, "application/json", mustJSON(t, tc.body))
			xrpcErr(t, st, body, tc.status, tc.errn)
			if tc.name == "float in a batch" && !bytes.Contains(body, []byte("write 35: record is not valid atproto data")) {
				t.Errorf("the message does not name the bad write: %s", body)
			}
		})
	}
	// Malformed and oversize bodies.
	for name, body := range map[string][]byte{"malformed": []byte(`{"repo": `), "empty": nil, "trailing": []byte(`{} {}`), "not an object": []byte(`[1,2]`)} {
		st, _, b := raw(t, "POST", p.URL+"/xrpc/com.atproto.repo.createRecord", access, "application/json", body)
		if st != 400 {
			t.Errorf("%s body: %d %s", name, st, b)
		}
	}
	st, _, body := raw(t, "POST", p.URL+"/xrpc/com.atproto.repo.createRecord", access, "application/json", []byte(`{"repo":"`+strings.Repeat("x", 6<<20)+`"}`))
	xrpcErr(t, st, body, http.StatusRequestEntityTooLarge, "PayloadTooLarge")
	st, _, body = raw(t, "GET", p.URL+"/xrpc/com.atproto.repo.createRecord", access, "", nil)
	xrpcErr(t, st, body, http.StatusMethodNotAllowed, "InvalidRequest")
	st, _, body = raw(t, "GET", p.URL+"/xrpc/com.example.nothing.here", access, "", nil)
	xrpcErr(t, st, body, http.StatusNotImplemented, "MethodNotImplemented")

	after := mustVerify(t, p, a.DID)
	if after.Commit.Rev != before.Commit.Rev || len(after.Records) != len(before.Records) {
		t.Fatalf("rejected writes changed the repo: rev %s -> %s", before.Commit.Rev, after.Commit.Rev)
	}
}

// TestApplyWritesLargeBatches drives the multi-row record storage: batch
// sizes that need every statement size (50, 10 and single rows), mixed with
// updates, deletes and blob references, checked against the exported repo.
func TestApplyWritesLargeBatches(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	up, err := comatproto.RepoUploadBlob(ctx, c, bytes.NewReader(pngBytes))
	if err != nil {
		t.Fatal(err)
	}
	withImage := func(text string) map[string]any {
		r := post(text)
		r["embed"] = map[string]any{"$type": "app.bsky.embed.images", "images": []any{map[string]any{"alt": "", "image": map[string]any{
			"$type": "blob", "ref": map[string]any{"$link": up.Blob.Ref.String()}, "mimeType": up.Blob.MimeType, "size": up.Blob.Size}}}}
		return r
	}
	type result struct{ URI, CID string }
	apply := func(writes []any) []result {
		t.Helper()
		var out struct{ Results []result }
		if err := c.Post(ctx, "com.atproto.repo.applyWrites", map[string]any{"repo": a.DID, "writes": writes}, &out); err != nil {
			t.Fatal(err)
		}
		return out.Results
	}
	blobListed := func() bool {
		t.Helper()
		lb, err := comatproto.SyncListBlobs(ctx, c, "", a.DID, 100, "")
		if err != nil {
			t.Fatal(err)
		}
		return len(lb.Cids) == 1 && lb.Cids[0] == up.Blob.Ref.String()
	}
	want := map[string]string{} // path -> cid
	path := func(uri string) string { return strings.TrimPrefix(uri, "at://"+a.DID+"/") }

	// 127 creates: 50 + 50 + 10 + 10 + 7 single rows.
	var writes []any
	for i := 0; i < 127; i++ {
		writes = append(writes, map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.feed.post", "value": post(fmt.Sprint("first ", i))})
	}
	first := apply(writes)
	for _, r := range first {
		want[path(r.URI)] = r.CID
	}

	// 60 updates, 40 deletes and 100 creates, one of them with an image.
	writes = nil
	for i, r := range first[:100] {
		if i < 60 {
			writes = append(writes, map[string]any{"$type": "com.atproto.repo.applyWrites#update", "collection": "app.bsky.feed.post", "rkey": rkeyOf(r.URI), "value": post(fmt.Sprint("updated ", i))})
		} else {
			writes = append(writes, map[string]any{"$type": "com.atproto.repo.applyWrites#delete", "collection": "app.bsky.feed.post", "rkey": rkeyOf(r.URI)})
		}
	}
	for i := 0; i < 100; i++ {
		v := post(fmt.Sprint("second ", i))
		if i == 77 {
			v = withImage("with an image")
		}
		writes = append(writes, map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.feed.post", "value": v})
	}
	second := apply(writes)
	for i, r := range second {
		if i >= 60 && i < 100 {
			delete(want, path(first[i].URI))
			continue
		}
		want[path(r.URI)] = r.CID
	}
	check := func(stage string) {
		t.Helper()
		v := mustVerify(t, p, a.DID)
		if len(v.Records) != len(want) {
			t.Fatalf("%s: the repo has %d records, want %d", stage, len(v.Records), len(want))
		}
		for pth, c := range v.Records {
			if want[pth] != c.String() {
				t.Fatalf("%s: %s is %s, want %q", stage, pth, c, want[pth])
			}
		}
	}
	check("after the mixed batch")
	if !blobListed() {
		t.Fatal("the image referenced from the big batch is not listed by listBlobs")
	}

	// Updating the record with the image to one without drops the reference.
	imagePath := path(second[177].URI)
	writes = []any{map[string]any{"$type": "com.atproto.repo.applyWrites#update", "collection": "app.bsky.feed.post", "rkey": rkeyOf(second[177].URI), "value": post("no image now")}}
	for i := 0; i < 45; i++ {
		writes = append(writes, map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.feed.post", "value": post(fmt.Sprint("third ", i))})
	}
	for _, r := range apply(writes) {
		want[path(r.URI)] = r.CID
	}
	if _, ok := want[imagePath]; !ok {
		t.Fatal("lost track of the image record")
	}
	check("after dropping the image")
	if blobListed() {
		t.Fatal("the image is still listed after the only record referencing it changed")
	}
}

// TestExportSharesEqualRecords: records with equal content have one CID, and
// the exported CAR holds their block once.
func TestExportSharesEqualRecords(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	like := map[string]any{"$type": "com.example.same", "n": 7}
	first := create(t, c, a.DID, "com.example.same", like)
	second := create(t, c, a.DID, "com.example.same", like)
	if first.CID != second.CID {
		t.Fatalf("equal records got CIDs %s and %s", first.CID, second.CID)
	}
	car := p.GetRepo(t, a.DID, "")
	r, err := actorrepo.NewCARReader(bytes.NewReader(car))
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for {
		b, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		counts[b.CID.String()]++
	}
	if counts[first.CID] != 1 {
		t.Fatalf("the shared record block is in the CAR %d times", counts[first.CID])
	}
	for c, n := range counts {
		if n != 1 {
			t.Errorf("block %s is in the CAR %d times", c, n)
		}
	}
	if v := mustVerify(t, p, a.DID); len(v.Records) != 2 {
		t.Fatalf("the repo has %d records, want 2", len(v.Records))
	}
}
