package xrpc_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds"
	"github.com/hearth-pds/hearth/pds/oauth"
)

// confidentialApp is a web app with a private_key_jwt client: its metadata
// document and JWKS served over TLS at https://example.com (the test
// certificate's name), reached through pds.Config.OAuthFetch, a client that
// trusts that certificate and dials the test server for any address.
type confidentialApp struct {
	clientID string
	key      *ecdsa.PrivateKey
	kid      string
	srv      *httptest.Server
	jwksHits int
}

const confidentialOrigin = "https://example.com"

func newConfidentialApp(t *testing.T) *confidentialApp {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a := &confidentialApp{clientID: confidentialOrigin + "/client-metadata.json", key: key, kid: "app-key-1"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /client-metadata.json", func(w http.ResponseWriter, _ *http.Request) {
		writeTestJSON(w, map[string]any{
			"client_id": a.clientID, "client_name": "Statusphere (confidential)", "client_uri": confidentialOrigin,
			"redirect_uris": []string{confidentialOrigin + "/oauth/callback"}, "scope": "atproto transition:generic",
			"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
			"application_type": "web", "dpop_bound_access_tokens": true,
			"token_endpoint_auth_method": "private_key_jwt", "token_endpoint_auth_signing_alg": "ES256",
			"jwks_uri": confidentialOrigin + "/jwks.json",
		})
	})
	mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		a.jwksHits++
		jwk := jwkOf(&key.PublicKey)
		jwk["kid"], jwk["alg"], jwk["use"] = a.kid, "ES256", "sig"
		writeTestJSON(w, map[string]any{"keys": []any{jwk}})
	})
	a.srv = httptest.NewTLSServer(mux)
	t.Cleanup(a.srv.Close)
	return a
}

func writeTestJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// fetchClient trusts the test server's certificate and dials it whatever
// the URL's host (the PDS refuses IP-address client_ids).
func (a *confidentialApp) fetchClient() *http.Client {
	tr := a.srv.Client().Transport.(*http.Transport).Clone()
	addr := a.srv.Listener.Addr().String()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// assertion is a client assertion for the PDS at issuer.
func (a *confidentialApp) assertion(t *testing.T, key *ecdsa.PrivateKey, aud, jti string) string {
	t.Helper()
	now := time.Now()
	tk := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss": a.clientID, "sub": a.clientID, "aud": aud, "jti": jti,
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
	})
	tk.Header["kid"] = a.kid
	s, err := tk.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func withAssertion(form url.Values, assertion string) url.Values {
	form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	form.Set("client_assertion", assertion)
	return form
}

// TestOAuthConfidentialClient signs a private_key_jwt client in: metadata
// and JWKS fetched over TLS, an assertion on PAR, token and refresh, the
// confidential lifetime, and every bad assertion refused with
// invalid_client, a reused one included.
func TestOAuthConfidentialClient(t *testing.T) {
	app := newConfidentialApp(t)
	p := testpds.Start(t, func(c *pds.Config) { c.OAuthFetch = app.fetchClient() })
	did := p.CreateAccount(t, "alice.test").DID
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	c := &dpopClient{t: t, base: p.URL, key: key, clientID: app.clientID, redirect: confidentialOrigin + "/oauth/callback",
		http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}

	scope := "atproto transition:generic"
	parForm := func(verifier string) url.Values {
		return url.Values{"client_id": {c.clientID}, "response_type": {"code"}, "redirect_uri": {c.redirect}, "scope": {scope},
			"state": {"st-1"}, "code_challenge": {oauth.S256(verifier)}, "code_challenge_method": {"S256"}}
	}
	// c.post retries once for the DPoP nonce with the same body, as
	// @atproto/oauth-client does: the server must check the nonce before it
	// spends the assertion's jti.
	verifier := randJTI() + randJTI()
	status, body, _ := c.post("/oauth/par", withAssertion(parForm(verifier), app.assertion(t, app.key, p.URL, randJTI())))
	if status != http.StatusCreated {
		t.Fatalf("PAR: %d %v", status, body)
	}
	if app.jwksHits == 0 {
		t.Fatal("the JWKS was never fetched")
	}
	u := c.approve(body["request_uri"].(string), "alice.test", "password-alice.test", "approve")
	q := u.Query()
	if u.Scheme+"://"+u.Host != confidentialOrigin || q.Get("iss") != p.URL || q.Get("code") == "" {
		t.Fatalf("authorization response: %s", u)
	}
	tokenAssertion := app.assertion(t, app.key, p.URL, randJTI())
	status, body, _ = c.post("/oauth/token", withAssertion(url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"code_verifier": {verifier}, "redirect_uri": {c.redirect}, "client_id": {c.clientID}}, tokenAssertion))
	if status != 200 || body["token_type"] != "DPoP" || body["sub"] != did {
		t.Fatalf("token: %d %v", status, body)
	}
	access, refresh := body["access_token"].(string), body["refresh_token"].(string)
	st, out, _ := c.xrpc("POST", "com.atproto.repo.createRecord", access, map[string]any{"repo": did, "collection": "xyz.statusphere.status",
		"record": map[string]any{"$type": "xyz.statusphere.status", "status": "🔐", "createdAt": time.Now().UTC().Format(time.RFC3339)}, "validate": false})
	if st != 200 {
		t.Fatalf("createRecord: %d %v", st, out)
	}

	// A confidential client's grant outlives a public one's (14 days).
	grants, err := p.Engine.OAuth.Grants(ctx)
	if err != nil || len(grants) != 1 {
		t.Fatalf("grants: %v %v", grants, err)
	}
	if g := grants[0]; g.ClientID != app.clientID || g.ClientName != "Statusphere (confidential)" ||
		g.ExpiresAt.Before(time.Now().Add(oauth.PublicSessionLifetime+24*time.Hour)) {
		t.Fatalf("grant: %+v", g)
	}

	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	refreshForm := func() url.Values {
		return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {c.clientID}}
	}
	for _, tc := range []struct {
		name string
		form url.Values
	}{
		{"reused_assertion", withAssertion(refreshForm(), tokenAssertion)},
		{"no_assertion", refreshForm()},
		{"signed_by_another_key", withAssertion(refreshForm(), app.assertion(t, other, p.URL, randJTI()))},
		{"for_another_server", withAssertion(refreshForm(), app.assertion(t, app.key, "https://pds.example", randJTI()))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := c.post("/oauth/token", tc.form)
			if status != http.StatusBadRequest || body["error"] != "invalid_client" {
				t.Fatalf("got %d %v, want 400 invalid_client", status, body)
			}
		})
	}
	t.Run("reused_assertion_on_par", func(t *testing.T) {
		status, body, _ := c.post("/oauth/par", withAssertion(parForm(randJTI()+randJTI()), tokenAssertion))
		if status != http.StatusBadRequest || body["error"] != "invalid_client" {
			t.Fatalf("got %d %v, want 400 invalid_client", status, body)
		}
	})

	// The refused attempts spent nothing: the refresh token still works once.
	status, body, _ = c.post("/oauth/token", withAssertion(refreshForm(), app.assertion(t, app.key, p.URL, randJTI())))
	if status != 200 || body["refresh_token"] == refresh {
		t.Fatalf("refresh: %d %v", status, body)
	}
}
