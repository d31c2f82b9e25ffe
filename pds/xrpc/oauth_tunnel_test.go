package xrpc_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/tunnel"
)

// TestOAuthThroughTunnel is the Statusphere-style flow through the loopback
// test tunnel, as a person publishing their PDS would see it: the issuer and
// resource are the tunnel's public URL (at the tunnel and at the local
// port alike), the sign-in, the code exchange and the DPoP-bound
// createRecord/getRecord all go through the tunnel with proofs for the
// public URL, and a proof for the local URL is refused there.
func TestOAuthThroughTunnel(t *testing.T) {
	p := testpds.Start(t, nil)
	alice := p.CreateAccount(t, "alice.test")
	online := make(chan string, 4)
	m := tunnel.NewManager(&tunnel.Loopback{SamePort: true}, p.Server, tunnel.Options{MinBackoff: 10 * time.Millisecond, OnStatus: func(s tunnel.Status) {
		if s.State == tunnel.Online {
			online <- s.URL
		}
	}})
	m.Start()
	defer m.Stop()
	var public string
	select {
	case public = <-online:
	case <-time.After(10 * time.Second):
		t.Fatal("the tunnel did not come online")
	}
	if public == p.URL {
		t.Fatalf("the tunnel's URL is the local one: %s", public)
	}
	// What app/publish.go does when the tunnel is online.
	if _, err := p.Engine.Identity.SetPublicURL(ctx, public); err != nil {
		t.Fatal(err)
	}

	// Metadata names the public URL wherever it is read from.
	for _, base := range []string{public, p.URL} {
		var as, pr map[string]any
		for path, into := range map[string]*map[string]any{"/.well-known/oauth-authorization-server": &as, "/.well-known/oauth-protected-resource": &pr} {
			status, _, b := raw(t, "GET", base+path, "", "", nil)
			if status != 200 || json.Unmarshal(b, into) != nil {
				t.Fatalf("%s%s: %d %s", base, path, status, b)
			}
		}
		if as["issuer"] != public || as["pushed_authorization_request_endpoint"] != public+"/oauth/par" ||
			as["token_endpoint"] != public+"/oauth/token" || pr["resource"] != public || pr["authorization_servers"].([]any)[0] != public {
			t.Fatalf("metadata read at %s: issuer %v, par %v, token %v, resource %v", base, as["issuer"],
				as["pushed_authorization_request_endpoint"], as["token_endpoint"], pr)
		}
	}

	scope := "atproto transition:generic"
	c := newDPoPClient(t, public, scope)
	reqURI, verifier := c.par(scope)
	u := c.approve(reqURI, "alice.test", alice.Password, "approve")
	if u.Query().Get("iss") != public || u.Query().Get("code") == "" {
		t.Fatalf("authorization response through the tunnel: %s", u)
	}
	st, body, _ := c.post("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")},
		"code_verifier": {verifier}, "redirect_uri": {c.redirect}, "client_id": {c.clientID}})
	if st != 200 || body["sub"] != alice.DID {
		t.Fatalf("token through the tunnel: %d %v", st, body)
	}
	access := body["access_token"].(string)
	rec := map[string]any{"$type": "xyz.statusphere.status", "status": "🏕", "createdAt": time.Now().UTC().Format(time.RFC3339)}
	status, out, _ := c.xrpc("POST", "com.atproto.repo.createRecord", access, map[string]any{"repo": alice.DID,
		"collection": "xyz.statusphere.status", "record": rec, "validate": false})
	if status != 200 {
		t.Fatalf("createRecord through the tunnel: %d %v", status, out)
	}
	status, out, _ = c.xrpc("GET", "com.atproto.repo.getRecord?repo="+alice.DID+"&collection=xyz.statusphere.status&rkey="+rkeyOf(out["uri"].(string)), access, nil)
	if status != 200 || out["value"].(map[string]any)["status"] != "🏕" {
		t.Fatalf("getRecord through the tunnel: %d %v", status, out)
	}

	// Through the tunnel, htu must be the public URL: a proof for the
	// local URL (what a request reaching the local port may use) is refused.
	req, _ := http.NewRequest("GET", public+"/xrpc/com.atproto.server.getSession", nil)
	req.Header.Set("Authorization", "DPoP "+access)
	req.Header.Set("DPoP", c.proof(c.key, "GET", p.URL+"/xrpc/com.atproto.server.getSession", access, randJTI()))
	status, out, h := c.do(req)
	if status != 401 || !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_dpop_proof"`) {
		t.Fatalf("proof for the local URL through the tunnel: %d %v %s", status, out, h.Get("WWW-Authenticate"))
	}
	// The same token keeps working at the local port with a proof for the
	// public URL (the issuer), as a local app of a publishing PDS uses it.
	local := *c
	local.base = p.URL
	req, _ = http.NewRequest("GET", p.URL+"/xrpc/com.atproto.server.getSession", nil)
	req.Header.Set("Authorization", "DPoP "+access)
	req.Header.Set("DPoP", local.proof(c.key, "GET", public+"/xrpc/com.atproto.server.getSession", access, randJTI()))
	if status, out, _ := local.do(req); status != 200 || out["did"] != alice.DID {
		t.Fatalf("getSession at the local port with a proof for the public URL: %d %v", status, out)
	}
}
