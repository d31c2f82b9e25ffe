package xrpc_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/hearth-pds/hearth/internal/testpds"
)

// fuzzedQueries are the public GET routes whose parameters come straight
// from strangers (resolveHandle is left out: it may go to the network).
var fuzzedQueries = []string{
	"com.atproto.repo.getRecord", "com.atproto.repo.listRecords", "com.atproto.repo.describeRepo",
	"com.atproto.sync.getRepo", "com.atproto.sync.getBlocks", "com.atproto.sync.getLatestCommit",
	"com.atproto.sync.getRecord", "com.atproto.sync.getRepoStatus", "com.atproto.sync.listRepos",
	"com.atproto.sync.getBlob", "com.atproto.sync.listBlobs", "com.atproto.server.describeServer",
}

// FuzzXRPCQuery sends arbitrary query strings to the public GET routes of a
// real server holding one account with a record. No parameter may make it
// answer 5xx or a body that is not an XRPC error, and no query may crash it.
func FuzzXRPCQuery(f *testing.F) {
	p := testpds.Start(f, nil)
	a := p.CreateAccount(f, "fuzz.test")
	c := p.Login(f, a)
	var out struct{ URI, CID string }
	if err := c.Post(ctx, "com.atproto.repo.createRecord", map[string]any{"repo": a.DID, "collection": "app.bsky.feed.post", "record": post("fuzz")}, &out); err != nil {
		f.Fatal(err)
	}
	seeds := []string{
		"repo=" + a.DID + "&collection=app.bsky.feed.post&rkey=" + out.URI[len(out.URI)-13:],
		"repo=fuzz.test&collection=app.bsky.feed.post&limit=100&cursor=zzz&reverse=true",
		"did=" + a.DID + "&cids=" + out.CID + "&cids=bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm",
		"did=" + a.DID + "&since=3jzfcijpj2z2a&limit=-1",
		"did=" + a.DID + "&cid=" + out.CID,
		"repo=%00&collection=..&rkey=../../x",
		"limit=99999999999999999999&cursor=%ff%fe",
		"did=did:web:[::1]&cid=bafkqaaa",
		"repo=did:plc:" + "a&repo=b",
	}
	for i, s := range seeds {
		f.Add(uint8(i), s)
	}
	f.Fuzz(func(t *testing.T, route uint8, query string) {
		nsid := fuzzedQueries[int(route)%len(fuzzedQueries)]
		u := &url.URL{Path: "/xrpc/" + nsid, RawQuery: query}
		req := httptest.NewRequest(http.MethodGet, "http://pds.test/", nil)
		req.URL = u
		req.RequestURI = u.RequestURI()
		w := httptest.NewRecorder()
		p.Server.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s?%s answered %d: %s", nsid, query, w.Code, w.Body.String())
		}
		if w.Code >= 400 {
			var e struct{ Error, Message string }
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("%s?%s answered %d with a body that is not an XRPC error: %q", nsid, query, w.Code, w.Body.String())
			}
		}
	})
}
