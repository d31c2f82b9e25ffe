package xrpc_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	comatproto "github.com/bluesky-social/indigo/api/atproto"

	"github.com/hearth-pds/hearth/internal/testpds"
)

// Writing to a repo that is not the caller's is 403 Forbidden (as the
// reference PDS answers), whether the repo is another local account (by DID
// or handle) or a DID hosted elsewhere; nothing is written.
func TestWritesToAnotherRepoAreForbidden(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	b := p.CreateAccount(t, "bob.test")
	cb := p.Login(t, b)
	bobPost := create(t, cb, b.DID, "app.bsky.feed.post", post("bob's"))
	c := p.Login(t, a)
	access, _ := tokens(c)
	before := mustVerify(t, p, b.DID)
	for _, repo := range []string{b.DID, "bob.test", "did:plc:abcdefghijklmnopqrstuvwx", "did:web:elsewhere.example"} {
		for _, tc := range []struct {
			nsid string
			body map[string]any
		}{
			{"com.atproto.repo.createRecord", map[string]any{"repo": repo, "collection": "app.bsky.feed.post", "record": post("x")}},
			{"com.atproto.repo.putRecord", map[string]any{"repo": repo, "collection": "app.bsky.actor.profile", "rkey": "self", "record": map[string]any{"displayName": "x"}}},
			{"com.atproto.repo.deleteRecord", map[string]any{"repo": repo, "collection": "app.bsky.feed.post", "rkey": rkeyOf(bobPost.URI)}},
			{"com.atproto.repo.applyWrites", map[string]any{"repo": repo, "writes": []any{map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.feed.post", "value": post("x")}}}},
		} {
			t.Run(tc.nsid+" "+repo, func(t *testing.T) {
				st, _, body := raw(t, "POST", p.URL+"/xrpc/"+tc.nsid, access, "application/json", mustJSON(t, tc.body))
				xrpcErr(t, st, body, http.StatusForbidden, "Forbidden")
			})
		}
	}
	after := mustVerify(t, p, b.DID)
	if after.Commit.Rev != before.Commit.Rev {
		t.Fatalf("bob's repo changed: %s -> %s", before.Commit.Rev, after.Commit.Rev)
	}
}

// A CORS preflight names the request headers atproto clients send: "*" does
// not cover Authorization in the Fetch standard.
func TestCORSPreflightListsClientHeaders(t *testing.T) {
	p := testpds.Start(t, nil)
	req, _ := http.NewRequest(http.MethodOptions, p.URL+"/xrpc/com.atproto.repo.createRecord", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,dpop,atproto-proxy,atproto-accept-labelers")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("preflight status %d", resp.StatusCode)
	}
	allowed := map[string]bool{}
	for _, h := range strings.Split(resp.Header.Get("Access-Control-Allow-Headers"), ",") {
		allowed[strings.ToLower(strings.TrimSpace(h))] = true
	}
	if allowed["*"] {
		t.Errorf("Allow-Headers uses the wildcard: %q", resp.Header.Get("Access-Control-Allow-Headers"))
	}
	for _, h := range []string{"authorization", "content-type", "dpop", "atproto-proxy", "atproto-accept-labelers", "content-encoding", "accept-language"} {
		if !allowed[h] {
			t.Errorf("Allow-Headers lacks %s: %q", h, resp.Header.Get("Access-Control-Allow-Headers"))
		}
	}
	methods := resp.Header.Get("Access-Control-Allow-Methods")
	for _, m := range []string{"GET", "POST"} {
		if !strings.Contains(methods, m) {
			t.Errorf("Allow-Methods lacks %s: %q", m, methods)
		}
	}
	if resp.Header.Get("Access-Control-Max-Age") == "" || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("preflight headers: %v", resp.Header)
	}
}

// getBlob answers a download that the browser neither renders nor sniffs.
func TestGetBlobIsAnAttachment(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	html := []byte("<html><script>alert(document.cookie)</script></html>")
	up, err := comatproto.RepoUploadBlob(ctx, c, bytes.NewReader(html))
	if err != nil {
		t.Fatal(err)
	}
	cid := up.Blob.Ref.String()
	st, h, body := raw(t, "GET", p.URL+"/xrpc/com.atproto.sync.getBlob?did="+a.DID+"&cid="+cid, "", "", nil)
	if st != 200 || !bytes.Equal(body, html) {
		t.Fatalf("getBlob: %d %q", st, body)
	}
	for name, want := range map[string]string{
		"Content-Disposition":     `attachment; filename="` + cid + `"`,
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "default-src 'none'; sandbox",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

// An empty byte string is valid atproto data: it is stored and read back
// as {"$bytes":""} by getRecord and listRecords (it used to answer 500).
func TestEmptyBytesRoundTrip(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	rec := map[string]any{"$type": "com.example.bytes", "empty": map[string]any{"$bytes": ""},
		"list": []any{map[string]any{"$bytes": ""}, map[string]any{"$bytes": "aGk"}}}
	out := create(t, c, a.DID, "com.example.bytes", rec)
	st, _, body := raw(t, "GET", p.URL+"/xrpc/com.atproto.repo.getRecord?repo="+a.DID+"&collection=com.example.bytes&rkey="+rkeyOf(out.URI), "", "", nil)
	if st != 200 {
		t.Fatalf("getRecord: %d %s", st, body)
	}
	var got struct {
		CID   string         `json:"cid"`
		Value map[string]any `json:"value"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.CID != out.CID || string(mustJSON(t, got.Value)) != string(mustJSON(t, rec)) {
		t.Fatalf("getRecord value %s (cid %s), want %s (cid %s)", mustJSON(t, got.Value), got.CID, mustJSON(t, rec), out.CID)
	}
	st, _, body = raw(t, "GET", p.URL+"/xrpc/com.atproto.repo.listRecords?repo="+a.DID+"&collection=com.example.bytes", "", "", nil)
	if st != 200 || !bytes.Contains(body, []byte(`"empty":{"$bytes":""}`)) {
		t.Fatalf("listRecords: %d %s", st, body)
	}
}

// A stored record that is not atproto data (written by an older version,
// before writes and imports were checked) never makes a read answer 500:
// getRecord refuses it with a clear RecordNotFound, listRecords skips it and
// still returns the others.
func TestUnreadableStoredRecordIsAnsweredGracefully(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	good := create(t, c, a.DID, "com.example.thing", map[string]any{"n": 1})
	bad := create(t, c, a.DID, "com.example.thing", map[string]any{"n": 2})
	db, err := sql.Open("sqlite", filepath.Join(p.Config.DataDir, "hearth.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }() // read-write handle of a test database
	// {"n": 1.5}: well-formed CBOR, but a float, which atproto data forbids.
	floatRecord := []byte{0xa1, 0x61, 'n', 0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0}
	if _, err := db.Exec("UPDATE record SET bytes = ? WHERE did = ? AND rkey = ?", floatRecord, a.DID, rkeyOf(bad.URI)); err != nil {
		t.Fatal(err)
	}
	st, _, body := raw(t, "GET", p.URL+"/xrpc/com.atproto.repo.getRecord?repo="+a.DID+"&collection=com.example.thing&rkey="+rkeyOf(bad.URI), "", "", nil)
	xrpcErr(t, st, body, 400, "RecordNotFound")
	if !bytes.Contains(body, []byte("not valid atproto data")) {
		t.Errorf("getRecord message: %s", body)
	}
	st, _, body = raw(t, "GET", p.URL+"/xrpc/com.atproto.repo.listRecords?repo="+a.DID+"&collection=com.example.thing", "", "", nil)
	if st != 200 || !bytes.Contains(body, []byte(good.CID)) || bytes.Contains(body, []byte(bad.CID)) {
		t.Fatalf("listRecords: %d %s", st, body)
	}
}

func nested(depth int) map[string]any {
	v := map[string]any{"leaf": true}
	for i := 1; i < depth; i++ {
		v = map[string]any{"n": v}
	}
	return v
}

// Every write is checked against the atproto data model; what it refuses is
// 400 InvalidRecord, and what it accepts reads back unchanged.
func TestWritesCheckTheDataModel(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	access, _ := tokens(c)
	const link = "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a"
	for _, tc := range []struct {
		name  string
		value any
		ok    bool
	}{
		{"float", 1.5, false},
		{"integral float is an integer", 2.0, true},
		{"integer beyond 2^53", json.Number("9007199254740993"), false},
		{"largest safe integer", json.Number("9007199254740991"), true},
		{"empty bytes", map[string]any{"$bytes": ""}, true},
		{"bytes", map[string]any{"$bytes": "aGVsbG8"}, true},
		{"bytes not base64", map[string]any{"$bytes": "not base64!"}, false},
		{"bytes with padding", map[string]any{"$bytes": "aGk="}, false},
		{"bytes not a string", map[string]any{"$bytes": 12}, false},
		{"bytes with another field", map[string]any{"$bytes": "aGk", "x": 1}, false},
		{"link", map[string]any{"$link": link}, true},
		{"link not a CID", map[string]any{"$link": "hello"}, false},
		{"link with another field", map[string]any{"$link": link, "x": 1}, false},
		{"empty nested $type", map[string]any{"$type": "", "a": 1}, false},
		{"nested $type not a string", map[string]any{"$type": 7}, false},
		{"nested 30 deep", nested(30), true},
		{"nested 40 deep", nested(40), false},
		{"arrays nested 40 deep", func() any {
			var v any = 1
			for range 40 {
				v = []any{v}
			}
			return v
		}(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := mustJSON(t, map[string]any{"repo": a.DID, "collection": "com.example.data", "record": map[string]any{"v": tc.value}})
			st, _, resp := raw(t, "POST", p.URL+"/xrpc/com.atproto.repo.createRecord", access, "application/json", body)
			if !tc.ok {
				xrpcErr(t, st, resp, 400, "InvalidRecord")
				return
			}
			var out createOut
			if st != 200 || json.Unmarshal(resp, &out) != nil {
				t.Fatalf("createRecord: %d %s", st, resp)
			}
			st, _, got := raw(t, "GET", p.URL+"/xrpc/com.atproto.repo.getRecord?repo="+a.DID+"&collection=com.example.data&rkey="+rkeyOf(out.URI), "", "", nil)
			if st != 200 || !bytes.Contains(got, mustJSON(t, map[string]any{"v": tc.value})[1:]) && !bytes.Contains(got, []byte(`"v":2`)) {
				t.Fatalf("getRecord: %d %s", st, got)
			}
		})
	}
}

// Record keys follow the key type of the collection's Lexicon (a post takes
// a TID, a profile "self"), refused with InvalidRequest as the reference PDS
// does; unknown collections take any valid key.
func TestRecordKeysFollowTheLexicon(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	access, _ := tokens(c)
	profile := map[string]any{"$type": "app.bsky.actor.profile", "displayName": "Alice"}
	for _, tc := range []struct {
		name, nsid, collection, rkey string
		record                       map[string]any
		ok                           bool
	}{
		{"post with a word key", "com.atproto.repo.createRecord", "app.bsky.feed.post", "hello", post("x"), false},
		{"post put with a word key", "com.atproto.repo.putRecord", "app.bsky.feed.post", "hello", post("x"), false},
		{"post with a TID", "com.atproto.repo.createRecord", "app.bsky.feed.post", "3kabcdefghijk", post("x"), true},
		{"post with no key", "com.atproto.repo.createRecord", "app.bsky.feed.post", "", post("x"), true},
		{"post without validation", "com.atproto.repo.createRecord", "app.bsky.feed.post", "hello2", post("x"), false},
		{"profile under self", "com.atproto.repo.putRecord", "app.bsky.actor.profile", "self", profile, true},
		{"profile under a TID", "com.atproto.repo.putRecord", "app.bsky.actor.profile", "3kabcdefghijl", profile, false},
		{"unknown collection, any key", "com.atproto.repo.putRecord", "com.example.thing", "any-key:here~1", map[string]any{"a": 1}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := map[string]any{"repo": a.DID, "collection": tc.collection, "record": tc.record}
			if tc.rkey != "" {
				in["rkey"] = tc.rkey
			}
			if tc.name == "post without validation" {
				in["validate"] = false
			}
			st, _, resp := raw(t, "POST", p.URL+"/xrpc/"+tc.nsid, access, "application/json", mustJSON(t, in))
			if tc.ok {
				if st != 200 {
					t.Fatalf("%d %s", st, resp)
				}
				return
			}
			xrpcErr(t, st, resp, 400, "InvalidRequest")
		})
	}
	// The same rule holds inside applyWrites.
	st, _, resp := raw(t, "POST", p.URL+"/xrpc/com.atproto.repo.applyWrites", access, "application/json", mustJSON(t, map[string]any{"repo": a.DID, "writes": []any{
		map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.feed.post", "rkey": "hello", "value": post("x")}}}))
	xrpcErr(t, st, resp, 400, "InvalidRequest")
}
