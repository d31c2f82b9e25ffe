package xrpc_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds"
	"github.com/hearth-pds/hearth/pds/oauth"
)

// txtTable is a fixed DNS TXT table: the one seam of permission-set
// resolution (everything else, the PLC directory, the publisher's DID
// document and its PDS's record proof, goes over loopback HTTP).
type txtTable struct {
	mu      sync.Mutex
	records map[string][]string
}

func (d *txtTable) set(name string, txt ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.records[name] = txt
}

func (d *txtTable) lookup(_ context.Context, name string) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if txt, ok := d.records[name]; ok {
		return txt, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// publishLexicon writes a lexicon document as the publisher's
// com.atproto.lexicon.schema record (rkey = its NSID).
func publishLexicon(t *testing.T, p *testpds.PDS, publisher testpds.Account, doc map[string]any) {
	t.Helper()
	err := p.Login(t, publisher).Post(ctx, "com.atproto.repo.putRecord", map[string]any{"repo": publisher.DID,
		"collection": "com.atproto.lexicon.schema", "rkey": doc["id"], "record": doc, "validate": false}, nil)
	if err != nil {
		t.Fatalf("publish %s: %v", doc["id"], err)
	}
}

func permissionSetLexicon(id string, perms ...map[string]any) map[string]any {
	return map[string]any{"$type": "com.atproto.lexicon.schema", "lexicon": 1, "id": id, "defs": map[string]any{
		"main": map[string]any{"type": "permission-set", "title": "Statusphere", "detail": "Set and clear your status", "permissions": perms}}}
}

// TestOAuthPermissionSet: an include: scope is resolved at PAR time through
// DNS (a fixed table), the local PLC directory and the publisher's PDS
// (a verified sync.getRecord proof), and the grant holds exactly the
// granular permissions of the set that it may: repo: and rpc: within the
// set's namespace, rpc: taking the include:'s aud only when it inherits it.
// The token then writes the granted collection and nothing else.
func TestOAuthPermissionSet(t *testing.T) {
	dns := &txtTable{records: map[string][]string{}}
	p := testpds.Start(t, func(c *pds.Config) {
		c.LexiconTXT = dns.lookup
		// The publisher's PDS is this loopback server.
		c.AllowPrivateNetwork = true
	})
	alice := p.CreateAccount(t, "alice.test")
	publisher := p.CreateAccount(t, "lexicons.test")
	dns.set("_lexicon.status.example.com", "did="+publisher.DID)
	publishLexicon(t, p, publisher, permissionSetLexicon("com.example.status.authFull",
		map[string]any{"type": "permission", "resource": "repo", "collection": []any{"com.example.status.post"}, "action": []any{"create", "delete"}},
		map[string]any{"type": "permission", "resource": "repo", "collection": []any{"app.bsky.feed.post"}},
		map[string]any{"type": "permission", "resource": "repo", "collection": []any{"*"}},
		map[string]any{"type": "permission", "resource": "rpc", "lxm": []any{"com.example.status.getFeed"}, "inheritAud": true},
		map[string]any{"type": "permission", "resource": "rpc", "lxm": []any{"com.example.status.getOther"}, "aud": "did:web:elsewhere.example#x"},
		map[string]any{"type": "permission", "resource": "blob", "accept": []any{"*/*"}},
		map[string]any{"type": "permission", "resource": "account", "attr": "email", "action": []any{"manage"}},
	))
	publishLexicon(t, p, publisher, map[string]any{"$type": "com.atproto.lexicon.schema", "lexicon": 1, "id": "com.example.status.getFeed",
		"defs": map[string]any{"main": map[string]any{"type": "query"}}})

	scope := "atproto include:com.example.status.authFull?aud=did:web:api.example.com%23status"
	c := newDPoPClient(t, p.URL, scope)
	reqURI, verifier := c.par(scope)
	// The consent page names the set as its lexicon does.
	resp, err := c.http.Get(p.URL + "/oauth/authorize?" + url.Values{"client_id": {c.clientID}, "request_uri": {reqURI}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "Statusphere (com.example.status.authFull): Set and clear your status") {
		t.Fatalf("consent page does not name the permission set: %s", page)
	}
	u := c.approve(reqURI, "alice.test", alice.Password, "approve")
	st, body, _ := c.post("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")},
		"code_verifier": {verifier}, "redirect_uri": {c.redirect}, "client_id": {c.clientID}})
	if st != 200 {
		t.Fatalf("token: %d %v", st, body)
	}
	want := "atproto repo:com.example.status.post?action=create&action=delete rpc:com.example.status.getFeed?aud=did%3Aweb%3Aapi.example.com%23status"
	if body["scope"] != want {
		t.Fatalf("granted scope\n got %v\nwant %s", body["scope"], want)
	}
	access := body["access_token"].(string)
	write := func(nsid, col, rkey string) (int, map[string]any) {
		st, out, _ := c.xrpc("POST", nsid, access, map[string]any{"repo": alice.DID, "collection": col, "rkey": rkey,
			"record": map[string]any{"status": "x", "text": "x", "createdAt": time.Now().UTC().Format(time.RFC3339)}, "validate": false})
		return st, out
	}
	for _, tc := range []struct {
		nsid, col string
		status    int
	}{
		{"com.atproto.repo.createRecord", "com.example.status.post", 200},
		{"com.atproto.repo.putRecord", "com.example.status.post", 403}, // update was not in the set
		{"com.atproto.repo.deleteRecord", "com.example.status.post", 200},
		{"com.atproto.repo.createRecord", "app.bsky.feed.post", 403}, // outside the set's namespace
	} {
		if st, out := write(tc.nsid, tc.col, "3kstatus2222a"); st != tc.status {
			t.Errorf("%s %s: %d %v, want %d", tc.nsid, tc.col, st, out, tc.status)
		}
	}
}

// TestOAuthPermissionSetRefusals: a permission set that cannot be resolved
// is refused at PAR with invalid_scope and a reason, never granted.
func TestOAuthPermissionSetRefusals(t *testing.T) {
	dns := &txtTable{records: map[string][]string{}}
	p := testpds.Start(t, func(c *pds.Config) {
		c.LexiconTXT = dns.lookup
		c.AllowPrivateNetwork = true
	})
	publisher := p.CreateAccount(t, "lexicons.test")
	other := p.CreateAccount(t, "other.test")
	dns.set("_lexicon.status.example.com", "did="+publisher.DID)
	dns.set("_lexicon.two.example.com", "did="+publisher.DID, "did="+other.DID)
	dns.set("_lexicon.bad.example.com", "did=not-a-did")
	dns.set("_lexicon.unknown.example.com", "did=did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")
	publishLexicon(t, p, publisher, map[string]any{"$type": "com.atproto.lexicon.schema", "lexicon": 1, "id": "com.example.status.getFeed",
		"defs": map[string]any{"main": map[string]any{"type": "query"}}})
	publishLexicon(t, p, publisher, map[string]any{"$type": "com.atproto.lexicon.schema", "lexicon": 1, "id": "com.example.status.wrongId",
		"defs": map[string]any{"main": map[string]any{"type": "permission-set", "permissions": []any{}}}})
	// The record is published under another rkey than its id says.
	if err := p.Login(t, publisher).Post(ctx, "com.atproto.repo.putRecord", map[string]any{"repo": publisher.DID,
		"collection": "com.atproto.lexicon.schema", "rkey": "com.example.status.renamed", "validate": false,
		"record": permissionSetLexicon("com.example.status.authFull")}, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, nsid, reason string
	}{
		{"no_dns_record", "com.example.nowhere.authFull", "no DNS TXT record at _lexicon.nowhere.example.com"},
		{"two_dids", "com.example.two.authFull", "name 2 DIDs"},
		{"invalid_did", "com.example.bad.authFull", "invalid DID"},
		{"unknown_did", "com.example.unknown.authFull", "could not be resolved"},
		{"no_record", "com.example.status.authMissing", "could not be fetched"},
		{"not_a_permission_set", "com.example.status.getFeed", "not a permission-set"},
		{"id_mismatch", "com.example.status.renamed", `id is "com.example.status.authFull"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scope := "atproto include:" + tc.nsid
			c := newDPoPClient(t, p.URL, scope)
			st, body, _ := c.post("/oauth/par", url.Values{"client_id": {c.clientID}, "response_type": {"code"}, "redirect_uri": {c.redirect},
				"scope": {scope}, "state": {"s"}, "code_challenge": {oauth.S256(randJTI() + randJTI())}, "code_challenge_method": {"S256"}})
			desc, _ := body["error_description"].(string)
			if st != http.StatusBadRequest || body["error"] != "invalid_scope" || !strings.Contains(desc, tc.nsid) || !strings.Contains(desc, tc.reason) {
				t.Fatalf("PAR: %d %v, want invalid_scope naming %s and %q", st, body, tc.nsid, tc.reason)
			}
		})
	}
}
