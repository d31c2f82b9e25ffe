package xrpc_test

import (
	"bytes"
	"fmt"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"testing"

	comatproto "github.com/bluesky-social/indigo/api/atproto"
	"github.com/bluesky-social/indigo/atproto/atclient"

	"github.com/hearth-pds/hearth/internal/testpds"
)

func TestImportRepo(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	b := p.CreateAccount(t, "bob.test")
	c := p.Login(t, a)
	access, _ := tokens(c)
	var outs []createOut
	for i := 0; i < 25; i++ {
		outs = append(outs, create(t, c, a.DID, "app.bsky.feed.post", post(fmt.Sprint("p", i))))
	}
	create(t, c, a.DID, "app.bsky.graph.follow", map[string]any{"subject": b.DID, "createdAt": "2026-11-22T10:00:00Z"})
	exported := p.GetRepo(t, a.DID, "")
	orig := testpds.VerifyRepoCAR(t, p.Dir, exported)

	// Change the repo, then import the export: the old state comes back.
	for _, o := range outs[:5] {
		if _, err := comatproto.RepoDeleteRecord(ctx, c, &comatproto.RepoDeleteRecord_Input{Repo: a.DID, Collection: "app.bsky.feed.post", Rkey: rkeyOf(o.URI)}); err != nil {
			t.Fatal(err)
		}
	}
	create(t, c, a.DID, "app.bsky.feed.post", post("after export"))
	before := mustVerify(t, p, a.DID)

	bad := map[string][]byte{
		"garbage":        []byte("this is not a CAR"),
		"empty":          {},
		"truncated":      exported[:len(exported)/2],
		"tampered block": tamper(exported),
		"other account":  p.GetRepo(t, b.DID, ""),
	}
	for name, car := range bad {
		st, _, body := raw(t, "POST", p.URL+"/xrpc/com.atproto.repo.importRepo", access, "application/vnd.ipld.car", car)
		xrpcErr(t, st, body, 400, "InvalidRequest")
		_ = name
		still := mustVerify(t, p, a.DID)
		if still.Commit.Rev != before.Commit.Rev || len(still.Records) != len(before.Records) {
			t.Fatalf("%s import changed the repo", name)
		}
	}
	// An app-password session may not import.
	var ap struct{ Password string }
	if err := c.Post(ctx, "com.atproto.server.createAppPassword", map[string]any{"name": "app"}, &ap); err != nil {
		t.Fatal(err)
	}
	appc, err := atclient.LoginWithPasswordHost(ctx, p.URL, a.Handle, ap.Password, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	apiErr(t, comatproto.RepoImportRepo(ctx, appc, bytes.NewReader(exported)), 401, "AuthenticationRequired")

	if err := comatproto.RepoImportRepo(ctx, c, bytes.NewReader(exported)); err != nil {
		t.Fatalf("importRepo: %v", err)
	}
	after := mustVerify(t, p, a.DID)
	if len(after.Records) != len(orig.Records) {
		t.Fatalf("after import: %d records, want %d", len(after.Records), len(orig.Records))
	}
	for k, v := range orig.Records {
		if !after.Records[k].Equals(v) {
			t.Fatalf("record %s differs after import", k)
		}
	}
	if after.Commit.Data != orig.Commit.Data {
		t.Fatal("same records but a different MST root")
	}
	if after.Commit.Rev <= before.Commit.Rev {
		t.Fatalf("import rev %s is not after %s", after.Commit.Rev, before.Commit.Rev)
	}
	// The import emitted #sync, and writes continue on top of it.
	evs, _ := p.Engine.Events.Range(ctx, 0, 1000, 0, a.DID)
	if evs[len(evs)-1].Kind != "#sync" {
		t.Fatalf("last event after import is %s", evs[len(evs)-1].Kind)
	}
	create(t, c, a.DID, "app.bsky.feed.post", post("after import"))
	if n := len(mustVerify(t, p, a.DID).Records); n != len(orig.Records)+1 {
		t.Fatalf("after import + post: %d records", n)
	}
}

// tamper flips a byte near the end of the CAR (inside a record block).
func tamper(car []byte) []byte {
	out := append([]byte(nil), car...)
	out[len(out)-3] ^= 0xff
	return out
}

func TestHandles(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	p.CreateAccount(t, "bob.test")
	c := p.Login(t, a)

	res, err := comatproto.IdentityResolveHandle(ctx, c, "Alice.Test")
	if err != nil || res.Did != a.DID {
		t.Fatalf("resolveHandle = %+v %v", res, err)
	}
	_, err = comatproto.IdentityResolveHandle(ctx, c, "nobody.test")
	apiErr(t, err, 400, "HandleNotFound")

	// /.well-known/atproto-did answers for the Host header.
	req := func(host string) (int, string) {
		st, _, body := rawHost(t, p.URL+"/.well-known/atproto-did", host)
		return st, string(body)
	}
	if st, body := req("alice.test"); st != 200 || body != a.DID {
		t.Fatalf("well-known for alice.test: %d %q", st, body)
	}
	if st, _ := req("nobody.test"); st != 404 {
		t.Fatalf("well-known for unknown host: %d", st)
	}

	if err := comatproto.IdentityUpdateHandle(ctx, c, &comatproto.IdentityUpdateHandle_Input{Handle: "alice2.test"}); err != nil {
		t.Fatal(err)
	}
	// Published to the PLC directory.
	id, err := p.Dir.LookupDID(ctx, syntaxDID(a.DID))
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := id.DeclaredHandle(); h.String() != "alice2.test" {
		t.Fatalf("PLC doc handle = %s", h)
	}
	st, _ := p.Engine.Identity.PLCStatus(ctx, syntax.DID(a.DID))
	if st.Pending != 0 || st.Published != 2 {
		t.Fatalf("PLC status %+v", st)
	}
	evs, _ := p.Engine.Events.Range(ctx, 0, 100, 0, a.DID)
	if evs[len(evs)-1].Kind != "#identity" {
		t.Fatalf("last event %s", evs[len(evs)-1].Kind)
	}
	apiErr(t, comatproto.IdentityUpdateHandle(ctx, c, &comatproto.IdentityUpdateHandle_Input{Handle: "bob.test"}), 400, "HandleNotAvailable")
	apiErr(t, comatproto.IdentityUpdateHandle(ctx, c, &comatproto.IdentityUpdateHandle_Input{Handle: "no_underscores.test"}), 400, "InvalidHandle")
	apiErr(t, comatproto.IdentityUpdateHandle(ctx, c, &comatproto.IdentityUpdateHandle_Input{Handle: "x.local"}), 400, "UnsupportedDomain")
}
