package xrpc_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds/oauth"
)

var b64u = base64.RawURLEncoding

// dpopClient is a minimal atproto OAuth client: a P-256 key, DPoP proofs
// with the server's nonce, PKCE.
type dpopClient struct {
	t        *testing.T
	base     string
	key      *ecdsa.PrivateKey
	nonce    string
	clientID string
	redirect string
	http     *http.Client
}

func newDPoPClient(t *testing.T, base, scope string) *dpopClient {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	redirect := "http://127.0.0.1:9/callback"
	jar, _ := cookiejar.New(nil)
	return &dpopClient{t: t, base: base, key: key, redirect: redirect,
		clientID: "http://localhost?" + url.Values{"redirect_uri": {redirect}, "scope": {scope}}.Encode(),
		http:     &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func jwkOf(k *ecdsa.PublicKey) map[string]string {
	b, _ := k.Bytes() // uncompressed point
	return map[string]string{"kty": "EC", "crv": "P-256", "x": b64u.EncodeToString(b[1:33]), "y": b64u.EncodeToString(b[33:])}
}

func (c *dpopClient) proof(key *ecdsa.PrivateKey, method, htu, token, jti string) string {
	c.t.Helper()
	claims := jwt.MapClaims{"htm": method, "htu": htu, "iat": time.Now().Unix(), "jti": jti}
	if c.nonce != "" {
		claims["nonce"] = c.nonce
	}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		claims["ath"] = b64u.EncodeToString(sum[:])
	}
	tk := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tk.Header["typ"] = "dpop+jwt"
	tk.Header["jwk"] = jwkOf(&key.PublicKey)
	s, err := tk.SignedString(key)
	if err != nil {
		c.t.Fatal(err)
	}
	return s
}

func randJTI() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return b64u.EncodeToString(b)
}

// post sends a form with a DPoP proof, retrying once for the nonce.
func (c *dpopClient) post(path string, form url.Values) (int, map[string]any, http.Header) {
	c.t.Helper()
	for range 2 {
		req, _ := http.NewRequest("POST", c.base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("DPoP", c.proof(c.key, "POST", c.base+path, "", randJTI()))
		status, body, h := c.do(req)
		if n := h.Get("DPoP-Nonce"); n != "" {
			c.nonce = n
		}
		if status == 400 && body["error"] == "use_dpop_nonce" {
			continue
		}
		return status, body, h
	}
	c.t.Fatal("nonce retry loop")
	return 0, nil, nil
}

func (c *dpopClient) do(req *http.Request) (int, map[string]any, http.Header) {
	c.t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m, resp.Header
}

// session is the outcome of a sign-in.
type session struct {
	access, refresh, sub, scope string
	verifier                    string
}

// par pushes a request and returns its request_uri and PKCE verifier.
func (c *dpopClient) par(scope string) (string, string) {
	c.t.Helper()
	verifier := randJTI() + randJTI()
	status, body, _ := c.post("/oauth/par", url.Values{
		"client_id": {c.clientID}, "response_type": {"code"}, "redirect_uri": {c.redirect}, "scope": {scope},
		"state": {"st-1"}, "code_challenge": {oauth.S256(verifier)}, "code_challenge_method": {"S256"},
	})
	if status != http.StatusCreated {
		c.t.Fatalf("PAR: %d %v", status, body)
	}
	return body["request_uri"].(string), verifier
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// approve loads the consent page and signs in, returning the redirect.
func (c *dpopClient) approve(requestURI, identifier, password, decision string) *url.URL {
	c.t.Helper()
	q := url.Values{"client_id": {c.clientID}, "request_uri": {requestURI}}
	resp, err := c.http.Get(c.base + "/oauth/authorize?" + q.Encode())
	if err != nil {
		c.t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		c.t.Fatalf("authorize page: %d %s", resp.StatusCode, page)
	}
	m := csrfRe.FindSubmatch(page)
	if m == nil {
		c.t.Fatalf("no CSRF token on the page: %s", page)
	}
	form := url.Values{"client_id": {c.clientID}, "request_uri": {requestURI}, "csrf": {string(m[1])},
		"identifier": {identifier}, "password": {password}, "decision": {decision}}
	resp, err = c.http.PostForm(c.base+"/oauth/authorize", form)
	if err != nil {
		c.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		c.t.Fatalf("decision: %d %s", resp.StatusCode, body)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		c.t.Fatal(err)
	}
	return u
}

func (c *dpopClient) signIn(p *testpds.PDS, handle, scope string) *session {
	c.t.Helper()
	reqURI, verifier := c.par(scope)
	u := c.approve(reqURI, handle, "password-alice.test", "approve")
	q := u.Query()
	if q.Get("iss") != p.URL || q.Get("state") != "st-1" || q.Get("code") == "" {
		c.t.Fatalf("authorization response %s", u)
	}
	status, body, _ := c.post("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"code_verifier": {verifier}, "redirect_uri": {c.redirect}, "client_id": {c.clientID}})
	if status != 200 || body["token_type"] != "DPoP" {
		c.t.Fatalf("token: %d %v", status, body)
	}
	return &session{access: body["access_token"].(string), refresh: body["refresh_token"].(string), sub: body["sub"].(string), scope: body["scope"].(string), verifier: verifier}
}

// xrpc calls a method with the DPoP-bound token, retrying once for the nonce.
func (c *dpopClient) xrpc(method, nsid, token string, body any) (int, map[string]any, http.Header) {
	c.t.Helper()
	for range 2 {
		status, out, h := c.xrpcWith(c.key, method, nsid, token, body, randJTI(), "DPoP")
		if status == 401 && strings.Contains(h.Get("WWW-Authenticate"), `error="use_dpop_nonce"`) {
			continue
		}
		return status, out, h
	}
	c.t.Fatal("nonce retry loop")
	return 0, nil, nil
}

func (c *dpopClient) xrpcWith(key *ecdsa.PrivateKey, method, nsid, token string, body any, jti, scheme string) (int, map[string]any, http.Header) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	full := c.base + "/xrpc/" + nsid
	req, _ := http.NewRequest(method, full, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", scheme+" "+token)
	if key != nil {
		req.Header.Set("DPoP", c.proof(key, method, full, token, jti))
	}
	status, out, h := c.do(req)
	if n := h.Get("DPoP-Nonce"); n != "" {
		c.nonce = n
	}
	return status, out, h
}

func startOAuthPDS(t *testing.T) (*testpds.PDS, string) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	return p, a.DID
}

func TestOAuthMetadata(t *testing.T) {
	p := testpds.Start(t, nil)
	var as, pr map[string]any
	for path, into := range map[string]*map[string]any{"/.well-known/oauth-authorization-server": &as, "/.well-known/oauth-protected-resource": &pr} {
		status, _, b := raw(t, "GET", p.URL+path, "", "", nil)
		if status != 200 || json.Unmarshal(b, into) != nil {
			t.Fatalf("%s: %d %s", path, status, b)
		}
	}
	if as["issuer"] != p.URL || pr["resource"] != p.URL || pr["authorization_servers"].([]any)[0] != p.URL {
		t.Fatalf("issuer/resource: %v %v", as["issuer"], pr)
	}
	for k, want := range map[string]string{
		"require_pushed_authorization_requests": "true", "client_id_metadata_document_supported": "true",
		"authorization_response_iss_parameter_supported": "true", "code_challenge_methods_supported": `["S256"]`,
		"response_types_supported": `["code"]`, "grant_types_supported": `["authorization_code","refresh_token"]`,
		"token_endpoint_auth_methods_supported": `["none","private_key_jwt"]`, "dpop_signing_alg_values_supported": `["ES256"]`,
		"scopes_supported":                      `["atproto","transition:generic","transition:chat.bsky","transition:email"]`,
		"pushed_authorization_request_endpoint": `"` + p.URL + `/oauth/par"`,
	} {
		got, _ := json.Marshal(as[k])
		if string(got) != want {
			t.Errorf("%s = %s, want %s", k, got, want)
		}
	}
}

// TestOAuthFlow signs a loopback client in, writes a record with the
// DPoP-bound token, refreshes, and revokes.
func TestOAuthFlow(t *testing.T) {
	p, did := startOAuthPDS(t)
	c := newDPoPClient(t, p.URL, "atproto transition:generic")
	s := c.signIn(p, "alice.test", "atproto transition:generic")
	if s.sub != did || s.scope != "atproto transition:generic" {
		t.Fatalf("sub %s scope %s", s.sub, s.scope)
	}
	rec := map[string]any{"$type": "xyz.statusphere.status", "status": "🔥", "createdAt": time.Now().UTC().Format(time.RFC3339)}
	status, out, _ := c.xrpc("POST", "com.atproto.repo.createRecord", s.access, map[string]any{"repo": did, "collection": "xyz.statusphere.status", "record": rec, "validate": false})
	if status != 200 {
		t.Fatalf("createRecord: %d %v", status, out)
	}
	uri := out["uri"].(string)
	status, out, _ = c.xrpc("GET", "com.atproto.repo.getRecord?repo="+did+"&collection=xyz.statusphere.status&rkey="+rkeyOf(uri), s.access, nil)
	if status != 200 || out["value"].(map[string]any)["status"] != "🔥" {
		t.Fatalf("getRecord: %d %v", status, out)
	}
	status, out, _ = c.xrpc("GET", "com.atproto.server.getSession", s.access, nil)
	if status != 200 || out["did"] != did {
		t.Fatalf("getSession: %d %v", status, out)
	}
	// A full-session method is refused to an app.
	status, out, _ = c.xrpc("POST", "com.atproto.server.createAppPassword", s.access, map[string]any{"name": "x"})
	if status != 403 || out["error"] != "InsufficientScope" {
		t.Fatalf("createAppPassword: %d %v", status, out)
	}
	// Refresh rotates; the old refresh token then revokes the grant.
	st, body, _ := c.post("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {s.refresh}, "client_id": {c.clientID}})
	if st != 200 || body["refresh_token"] == s.refresh {
		t.Fatalf("refresh: %d %v", st, body)
	}
	next := body["access_token"].(string)
	if status, out, _ = c.xrpc("GET", "com.atproto.server.getSession", next, nil); status != 200 {
		t.Fatalf("getSession after refresh: %d %v", status, out)
	}
	st, body, _ = c.post("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {s.refresh}, "client_id": {c.clientID}})
	if st != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("reused refresh token: %d %v", st, body)
	}
	status, out, h := c.xrpc("GET", "com.atproto.server.getSession", next, nil)
	if status != 401 || !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("token of a revoked grant: %d %v %s", status, out, h.Get("WWW-Authenticate"))
	}
	// Revocation ends a fresh grant.
	s2 := c.signIn(p, "alice.test", "atproto transition:generic")
	if st, body, _ := c.post("/oauth/revoke", url.Values{"token": {s2.refresh}, "client_id": {c.clientID}}); st != 200 {
		t.Fatalf("revoke: %d %v", st, body)
	}
	if status, _, _ := c.xrpc("GET", "com.atproto.server.getSession", s2.access, nil); status != 401 {
		t.Fatalf("revoked token still works: %d", status)
	}
	// Legacy sessions keep working.
	if err := p.Login(t, testpds.Account{DID: did, Password: "password-alice.test"}).Get(ctx, "com.atproto.server.getSession", nil, nil); err != nil {
		t.Fatal(err)
	}
}

// TestOAuthRefusals is every negative case of the issue, each refused with
// the spec's error.
func TestOAuthRefusals(t *testing.T) {
	p, did := startOAuthPDS(t)
	c := newDPoPClient(t, p.URL, "atproto transition:generic")
	s := c.signIn(p, "alice.test", "atproto transition:generic")
	call := func(t *testing.T, req func() (int, map[string]any, http.Header), status int, wwwErr string) {
		t.Helper()
		st, out, h := req()
		if st != status || !strings.Contains(h.Get("WWW-Authenticate"), `error="`+wwwErr+`"`) {
			t.Fatalf("got %d %v %q, want %d %s", st, out, h.Get("WWW-Authenticate"), status, wwwErr)
		}
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	t.Run("no_proof", func(t *testing.T) {
		call(t, func() (int, map[string]any, http.Header) {
			return c.xrpcWith(nil, "GET", "com.atproto.server.getSession", s.access, nil, "", "DPoP")
		}, 401, "invalid_dpop_proof")
	})
	t.Run("token_as_bearer", func(t *testing.T) {
		call(t, func() (int, map[string]any, http.Header) {
			return c.xrpcWith(nil, "GET", "com.atproto.server.getSession", s.access, nil, "", "Bearer")
		}, 401, "invalid_token")
	})
	t.Run("proof_for_another_method", func(t *testing.T) {
		call(t, func() (int, map[string]any, http.Header) {
			req, _ := http.NewRequest("GET", p.URL+"/xrpc/com.atproto.server.getSession", nil)
			req.Header.Set("Authorization", "DPoP "+s.access)
			req.Header.Set("DPoP", c.proof(c.key, "POST", p.URL+"/xrpc/com.atproto.server.getSession", s.access, randJTI()))
			return c.do(req)
		}, 401, "invalid_dpop_proof")
	})
	t.Run("proof_for_another_url", func(t *testing.T) {
		call(t, func() (int, map[string]any, http.Header) {
			req, _ := http.NewRequest("GET", p.URL+"/xrpc/com.atproto.server.getSession", nil)
			req.Header.Set("Authorization", "DPoP "+s.access)
			req.Header.Set("DPoP", c.proof(c.key, "GET", p.URL+"/xrpc/com.atproto.repo.listMissingBlobs", s.access, randJTI()))
			return c.do(req)
		}, 401, "invalid_dpop_proof")
	})
	t.Run("proof_by_another_key", func(t *testing.T) {
		call(t, func() (int, map[string]any, http.Header) {
			return c.xrpcWith(other, "GET", "com.atproto.server.getSession", s.access, nil, randJTI(), "DPoP")
		}, 401, "invalid_dpop_proof")
	})
	t.Run("replayed_jti", func(t *testing.T) {
		jti := randJTI()
		if st, out, _ := c.xrpcWith(c.key, "GET", "com.atproto.server.getSession", s.access, nil, jti, "DPoP"); st != 200 {
			t.Fatalf("first use: %d %v", st, out)
		}
		call(t, func() (int, map[string]any, http.Header) {
			return c.xrpcWith(c.key, "GET", "com.atproto.server.getSession", s.access, nil, jti, "DPoP")
		}, 401, "invalid_dpop_proof")
	})
	t.Run("stale_nonce", func(t *testing.T) {
		saved := c.nonce
		c.nonce = "not-a-nonce"
		defer func() { c.nonce = saved }()
		call(t, func() (int, map[string]any, http.Header) {
			return c.xrpcWith(c.key, "GET", "com.atproto.server.getSession", s.access, nil, randJTI(), "DPoP")
		}, 401, "use_dpop_nonce")
	})
	tokenErr := func(t *testing.T, form url.Values, wantErr string) {
		t.Helper()
		st, body, _ := c.post("/oauth/token", form)
		if st != 400 || body["error"] != wantErr {
			t.Fatalf("token: got %d %v, want 400 %s", st, body, wantErr)
		}
	}
	t.Run("reused_code", func(t *testing.T) {
		reqURI, verifier := c.par("atproto transition:generic")
		code := c.approve(reqURI, "alice.test", "password-alice.test", "approve").Query().Get("code")
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {c.redirect}, "client_id": {c.clientID}}
		st, body, _ := c.post("/oauth/token", form)
		if st != 200 {
			t.Fatalf("first exchange: %d %v", st, body)
		}
		tokenErr(t, form, "invalid_grant")
		// ...and the tokens the code produced are revoked.
		if st, _, _ := c.xrpc("GET", "com.atproto.server.getSession", body["access_token"].(string), nil); st != 401 {
			t.Fatalf("token of a replayed code still works: %d", st)
		}
	})
	t.Run("pkce_mismatch", func(t *testing.T) {
		reqURI, _ := c.par("atproto transition:generic")
		code := c.approve(reqURI, "alice.test", "password-alice.test", "approve").Query().Get("code")
		tokenErr(t, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {randJTI() + randJTI()}, "redirect_uri": {c.redirect}, "client_id": {c.clientID}}, "invalid_grant")
	})
	t.Run("code_with_another_key", func(t *testing.T) {
		reqURI, verifier := c.par("atproto transition:generic")
		code := c.approve(reqURI, "alice.test", "password-alice.test", "approve").Query().Get("code")
		saved := c.key
		c.key = other
		defer func() { c.key = saved }()
		tokenErr(t, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {c.redirect}, "client_id": {c.clientID}}, "invalid_dpop_proof")
	})
	t.Run("denied", func(t *testing.T) {
		reqURI, _ := c.par("atproto transition:generic")
		q := c.approve(reqURI, "", "", "deny").Query()
		if q.Get("error") != "access_denied" || q.Get("iss") != p.URL || q.Get("state") != "st-1" {
			t.Fatalf("deny: %v", q)
		}
	})
	t.Run("unknown_request", func(t *testing.T) {
		status, _, b := raw(t, "GET", p.URL+"/oauth/authorize?client_id=x&request_uri=urn:ietf:params:oauth:request_uri:req-nope", "", "", nil)
		if status != 400 || !strings.Contains(string(b), "Unknown sign-in request") {
			t.Fatalf("%d %s", status, b)
		}
	})
	t.Run("scope_beyond_client", func(t *testing.T) {
		st, body, _ := c.post("/oauth/par", url.Values{"client_id": {c.clientID}, "response_type": {"code"}, "redirect_uri": {c.redirect},
			"scope": {"atproto transition:chat.bsky"}, "state": {"s"}, "code_challenge": {oauth.S256(randJTI() + randJTI())}, "code_challenge_method": {"S256"}})
		if st != 400 || body["error"] != "invalid_scope" {
			t.Fatalf("%d %v", st, body)
		}
	})
	t.Run("plain_pkce", func(t *testing.T) {
		st, body, _ := c.post("/oauth/par", url.Values{"client_id": {c.clientID}, "response_type": {"code"}, "redirect_uri": {c.redirect},
			"scope": {"atproto"}, "state": {"s"}, "code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"plain"}})
		if st != 400 || body["error"] != "invalid_request" {
			t.Fatalf("%d %v", st, body)
		}
	})
	t.Run("scope_the_grant_lacks", func(t *testing.T) {
		c2 := newDPoPClient(t, p.URL, "atproto")
		s2 := c2.signIn(p, "alice.test", "atproto")
		st, out, _ := c2.xrpc("POST", "com.atproto.repo.createRecord", s2.access, map[string]any{"repo": did, "collection": "xyz.statusphere.status",
			"record": map[string]any{"status": "x"}, "validate": false})
		if st != 403 || out["error"] != "InsufficientScope" {
			t.Fatalf("createRecord with only atproto: %d %v", st, out)
		}
		req, _ := http.NewRequest("GET", p.URL+"/xrpc/chat.bsky.convo.listConvos", nil)
		req.Header.Set("Authorization", "DPoP "+s2.access)
		req.Header.Set("Atproto-Proxy", "did:web:api.bsky.chat#bsky_chat")
		req.Header.Set("DPoP", c2.proof(c2.key, "GET", p.URL+"/xrpc/chat.bsky.convo.listConvos", s2.access, randJTI()))
		st, out, _ = c2.do(req)
		if st != 403 || out["error"] != "InsufficientScope" {
			t.Fatalf("chat without transition:chat.bsky: %d %v", st, out)
		}
	})
	t.Run("granular_repo_scope", func(t *testing.T) {
		scope := "atproto repo:xyz.statusphere.status"
		c3 := newDPoPClient(t, p.URL, scope)
		s3 := c3.signIn(p, "alice.test", scope)
		write := func(col string) (int, map[string]any) {
			st, out, _ := c3.xrpc("POST", "com.atproto.repo.createRecord", s3.access, map[string]any{"repo": did, "collection": col,
				"record": map[string]any{"status": "x", "text": "x", "createdAt": time.Now().UTC().Format(time.RFC3339)}, "validate": false})
			return st, out
		}
		if st, out := write("xyz.statusphere.status"); st != 200 {
			t.Fatalf("granted collection: %d %v", st, out)
		}
		if st, out := write("app.bsky.feed.post"); st != 403 || out["error"] != "InsufficientScope" {
			t.Fatalf("other collection: %d %v", st, out)
		}
	})
}
