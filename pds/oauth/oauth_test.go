package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/golang-jwt/jwt/v5"

	"github.com/hearth-pds/hearth/pds/accounts"
	"github.com/hearth-pds/hearth/pds/outbound"
	"github.com/hearth-pds/hearth/pds/secrets"
	"github.com/hearth-pds/hearth/pds/store"
)

type noAccounts struct{}

func (noAccounts) SignIn(context.Context, string, string, string) (*accounts.Account, error) {
	return nil, errors.New("no accounts here")
}
func (noAccounts) Lookup(context.Context, syntax.AtIdentifier) (*accounts.Account, error) {
	return nil, errors.New("no accounts here")
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func openServer(t *testing.T, fetch *http.Client) (*Server, *clock, *httptest.Server) {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	box, err := secrets.NewBox(make([]byte, 32), "test")
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Now()}
	var srv *httptest.Server
	s, err := Open(context.Background(), db, Config{Issuer: func() string { return srv.URL }, Accounts: noAccounts{}, Box: box,
		Fetch: fetch, Now: c.now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathPAR, s.HandlePAR)
	mux.HandleFunc(PathAuthorize, s.HandleAuthorize)
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return s, c, srv
}

func proofFor(t *testing.T, key *ecdsa.PrivateKey, htm, htu, nonce string, iat time.Time) string {
	t.Helper()
	tk := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"htm": htm, "htu": htu, "iat": iat.Unix(), "jti": randomToken(""), "nonce": nonce})
	pub, _ := key.PublicKey.Bytes()
	tk.Header["typ"] = "dpop+jwt"
	tk.Header["jwk"] = map[string]string{"kty": "EC", "crv": "P-256", "x": b64.EncodeToString(pub[1:33]), "y": b64.EncodeToString(pub[33:])}
	s, err := tk.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestExpiredRequest: a request_uri older than RequestLifetime gets the
// "expired" page, not the sign-in form.
func TestExpiredRequest(t *testing.T) {
	s, clk, srv := openServer(t, nil)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	clientID := "http://localhost?redirect_uri=" + url.QueryEscape("http://127.0.0.1/cb")
	form := url.Values{"client_id": {clientID}, "response_type": {"code"}, "scope": {"atproto"}, "state": {"s"},
		"code_challenge": {S256(strings.Repeat("v", 50))}, "code_challenge_method": {"S256"}}
	req, _ := http.NewRequest("POST", srv.URL+PathPAR, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("DPoP", proofFor(t, key, "POST", srv.URL+PathPAR, s.Nonce(), clk.t))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PAR: %d %s", resp.StatusCode, body)
	}
	reqURI := strings.Split(strings.Split(string(body), `"request_uri":"`)[1], `"`)[0]
	page := func() (int, string) {
		resp, err := http.Get(srv.URL + PathAuthorize + "?" + url.Values{"client_id": {clientID}, "request_uri": {reqURI}}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Fatalf("CSP %q", csp)
		}
		return resp.StatusCode, string(b)
	}
	if st, b := page(); st != 200 || !strings.Contains(b, `name="csrf"`) {
		t.Fatalf("fresh request: %d %s", st, b)
	}
	clk.t = clk.t.Add(RequestLifetime + time.Second)
	if st, b := page(); st != 400 || !strings.Contains(b, "expired") || strings.Contains(b, `name="password"`) {
		t.Fatalf("expired request: %d %s", st, b)
	}
}

func TestDPoPProofChecks(t *testing.T) {
	c := &clock{t: time.Now()}
	d := newDPoPChecker([]byte("secret"), c.now)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	const u = "https://pds.example/xrpc/a.b.c"
	for _, tc := range []struct {
		name     string
		proof    string
		useNonce bool
	}{
		{"old_iat", proofFor(t, key, "GET", u, d.Nonce(), c.t.Add(-ProofMaxAge-time.Second)), false},
		{"future_iat", proofFor(t, key, "GET", u, d.Nonce(), c.t.Add(ProofMaxSkew+5*time.Second)), false},
		{"wrong_method", proofFor(t, key, "POST", u, d.Nonce(), c.t), false},
		{"wrong_url", proofFor(t, key, "GET", "https://pds.example/xrpc/a.b.d", d.Nonce(), c.t), false},
		{"no_nonce", proofFor(t, key, "GET", u, "", c.t), true},
		{"garbage", "a.b.c", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.Verify(tc.proof, "GET", []string{u}, "")
			var pe *ProofError
			if !errors.As(err, &pe) || pe.UseNonce != tc.useNonce {
				t.Fatalf("got %v", err)
			}
		})
	}
	good := proofFor(t, key, "GET", u+"?x=1", d.Nonce(), c.t)
	if _, err := d.Verify(good, "GET", []string{u}, ""); err != nil {
		t.Fatalf("good proof (query ignored): %v", err)
	}
	if _, err := d.Verify(good, "GET", []string{u}, ""); err == nil {
		t.Fatal("replayed jti accepted")
	}
	// The nonce rotates; the previous one is still accepted, older ones not.
	old := d.Nonce()
	c.t = c.t.Add(NonceRotation)
	if !d.validNonce(old) {
		t.Fatal("previous nonce refused")
	}
	c.t = c.t.Add(2 * NonceRotation)
	if d.validNonce(old) {
		t.Fatal("stale nonce accepted")
	}
}

func TestLoopbackMetadata(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"http://localhost", true},
		{"http://localhost?redirect_uri=" + url.QueryEscape("http://127.0.0.1:8080/cb") + "&scope=" + url.QueryEscape("atproto transition:generic"), true},
		{"http://localhost:3000", false},
		{"http://localhost/app", false},
		{"http://localhost?redirect_uri=" + url.QueryEscape("http://localhost/cb"), false},
		{"http://localhost?redirect_uri=" + url.QueryEscape("https://evil.example/cb"), false},
		{"http://localhost?foo=bar", false},
	} {
		m, err := loopbackMetadata(tc.id)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v", tc.id, err)
		}
		if err == nil && (m.TokenEndpointAuthMethod != "none" || !m.DPoPBoundAccessTokens || len(m.RedirectURIs) == 0) {
			t.Errorf("%s: metadata %+v", tc.id, m)
		}
	}
	m, _ := loopbackMetadata("http://localhost?redirect_uri=" + url.QueryEscape("http://127.0.0.1/cb"))
	for raw, ok := range map[string]bool{"http://127.0.0.1/cb": true, "http://127.0.0.1:5555/cb": true, "http://127.0.0.1/other": false, "http://[::1]/cb": false} {
		if redirectAllowed(m, raw) != ok {
			t.Errorf("redirect %s: want %v", raw, ok)
		}
	}
}

func TestScopes(t *testing.T) {
	for _, tc := range []struct {
		scope string
		ok    bool
	}{
		{"atproto transition:generic", true},
		{"atproto repo:xyz.statusphere.status?action=create", true},
		{"atproto rpc:app.bsky.feed.getTimeline?aud=did:web:api.bsky.app%23bsky_appview", true},
		{"atproto blob:image/*", true},
		{"atproto include:com.example.perms", true},
		{"atproto include:com.example.perms?aud=did:web:api.example.com%23svc", true},
		{"atproto include?nsid=com.example.perms", true},
		{"atproto include:com.example.perms?aud=did:web:api.example.com", false},
		{"atproto include:not-an-nsid", false},
		{"atproto account:email?action=manage", true},
		{"atproto account:email?action=delete", false},
		{"atproto identity:email", false},
		{"atproto include:com.example.perms?lxm=com.example.x", false},
		{"atproto rpc:*?aud=*", false},
		{"atproto repo:not-an-nsid", false},
		{"atproto something:else", false},
	} {
		if _, err := ParseScopes(tc.scope); (err == nil) != tc.ok {
			t.Errorf("%q: %v", tc.scope, err)
		}
	}
	sc, _ := ParseScopes("atproto repo:xyz.statusphere.status?action=create blob:image/*")
	if sc.AllowsWrite("xyz.statusphere.status", "create") != nil || sc.AllowsWrite("xyz.statusphere.status", "delete") == nil || sc.AllowsWrite("app.bsky.feed.post", "create") == nil {
		t.Error("repo: permission checks")
	}
	if sc.AllowsBlob("image/png") != nil || sc.AllowsBlob("video/mp4") == nil {
		t.Error("blob: permission checks")
	}
	if sc.AllowsCall("app.bsky.feed.getTimeline", "did:web:api.bsky.app#bsky_appview") == nil {
		t.Error("rpc call allowed without an rpc: permission")
	}
	rpc, _ := ParseScopes("atproto rpc:app.bsky.feed.getTimeline?aud=did:web:api.bsky.app%23bsky_appview")
	if rpc.AllowsCall("app.bsky.feed.getTimeline", "did:web:api.bsky.app#bsky_appview") != nil || rpc.AllowsCall("app.bsky.feed.getTimeline", "did:web:other#x") == nil {
		t.Error("rpc: aud checks")
	}
}

// TestClientMetadataFetchPolicy: a client_id whose host is not public is
// refused by the outbound policy, with a reason and no internals.
func TestClientMetadataFetchPolicy(t *testing.T) {
	pol := outbound.Policy{MaxBody: MetadataMaxBytes, Timeout: 2 * time.Second}
	cs := &clientStore{http: pol.Client(), now: time.Now, cache: map[string]cachedDoc{}}
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "{}") }))
	defer ts.Close()
	u, _ := url.Parse(ts.URL)
	_, err := cs.Resolve(context.Background(), "https://localhost:"+u.Port()+"/client-metadata.json")
	var ce *ClientError
	if !errors.As(err, &ce) || !strings.Contains(ce.Reason, "not on the public internet") {
		t.Fatalf("private host: want a ClientError about the address, got %v", err)
	}
	_, err = cs.Resolve(context.Background(), "https://127.0.0.1/client-metadata.json")
	if !errors.As(err, &ce) || !strings.Contains(ce.Reason, "IP address") {
		t.Fatalf("IP client_id: %v", err)
	}
}
