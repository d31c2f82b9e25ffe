package xrpc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atclient"
	"github.com/bluesky-social/indigo/atproto/auth"
	"github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/golang-jwt/jwt/v5"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds"
	"github.com/hearth-pds/hearth/pds/xrpc"
)

// svcDID is a proxy target resolved through the (test) directory.
const svcDID = "did:web:svc.test"

// upstream is a service behind the proxy that records what reached it.
type upstream struct {
	srv     *httptest.Server
	plcURL  string
	aud     string // audience its validator expects
	mu      sync.Mutex
	got     []upReq
	handler func(w http.ResponseWriter, r *http.Request) // optional override
}

type upReq struct {
	Path, RawQuery string
	Header         http.Header
	Aud, Lxm, Iss  string
	Exp, Iat       int64
	ValidErr       string
}

func newUpstream(t *testing.T, tlsServer bool, aud string) *upstream {
	u := &upstream{aud: aud}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := upReq{Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone()}
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		var claims jwt.MapClaims
		if _, _, err := jwt.NewParser().ParseUnverified(tok, &claims); err == nil {
			rec.Aud, _ = claims["aud"].(string)
			rec.Lxm, _ = claims["lxm"].(string)
			rec.Iss, _ = claims["iss"].(string)
			if v, ok := claims["exp"].(float64); ok {
				rec.Exp = int64(v)
			}
			if v, ok := claims["iat"].(float64); ok {
				rec.Iat = int64(v)
			}
		}
		if u.plcURL != "" {
			val := &auth.ServiceAuthValidator{Audience: u.aud, Dir: &identity.BaseDirectory{PLCURL: u.plcURL, SkipHandleVerification: true}}
			lxm := syntax.NSID(strings.TrimPrefix(r.URL.Path, "/xrpc/"))
			if _, err := val.Validate(r.Context(), tok, &lxm); err != nil {
				rec.ValidErr = err.Error()
			}
		}
		u.mu.Lock()
		u.got = append(u.got, rec)
		u.mu.Unlock()
		if u.handler != nil {
			u.handler(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Atproto-Repo-Rev", "rev1")
		w.Header().Set("Set-Cookie", "upstream=secret")
		w.Header().Set("X-Internal-Host", "10.0.0.7")
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	if tlsServer {
		u.srv = httptest.NewTLSServer(h)
	} else {
		u.srv = httptest.NewServer(h)
	}
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) requests() []upReq {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]upReq(nil), u.got...)
}

func (u *upstream) last(t *testing.T) upReq {
	t.Helper()
	got := u.requests()
	if len(got) == 0 {
		t.Fatal("nothing reached the upstream")
	}
	return got[len(got)-1]
}

// testDir resolves svcDID to a document naming endpoint as #svc, refuses
// (and fails the test) for the DIDs in forbidden, and asks the local PLC
// for anything else.
type testDir struct {
	t         *testing.T
	base      *identity.BaseDirectory
	endpoint  string
	forbidden map[syntax.DID]bool
}

func (d *testDir) LookupDID(ctx context.Context, did syntax.DID) (*identity.Identity, error) {
	if d.forbidden[did] {
		d.t.Errorf("the DID %s was resolved; it must not be", did)
		return nil, fmt.Errorf("resolution of %s forbidden in this test", did)
	}
	if did == svcDID {
		return &identity.Identity{DID: did, Handle: syntax.HandleInvalid,
			Services: map[string]identity.ServiceEndpoint{"svc": {Type: "TestService", URL: d.endpoint}}}, nil
	}
	return d.base.LookupDID(ctx, did)
}

func (d *testDir) LookupHandle(ctx context.Context, h syntax.Handle) (*identity.Identity, error) {
	return d.base.LookupHandle(ctx, h)
}

func (d *testDir) Lookup(ctx context.Context, a syntax.AtIdentifier) (*identity.Identity, error) {
	if did, err := a.AsDID(); err == nil {
		return d.LookupDID(ctx, did)
	}
	h, _ := a.AsHandle()
	return d.LookupHandle(ctx, h)
}

func (d *testDir) Purge(context.Context, syntax.AtIdentifier) error { return nil }

type proxyEnv struct {
	p      *testpds.PDS
	access string
	c      *atclient.APIClient
	a      testpds.Account
}

// startProxyEnv starts a PDS whose directory knows svcDID at endpoint.
func startProxyEnv(t *testing.T, endpoint string, tweak func(*pds.Config), opts xrpc.Options) *proxyEnv {
	p := testpds.StartWithOptions(t, func(c *pds.Config) {
		c.Directory = &testDir{t: t, base: &identity.BaseDirectory{PLCURL: c.PLCURL, SkipHandleVerification: true}, endpoint: endpoint}
		if tweak != nil {
			tweak(c)
		}
	}, opts)
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	access, _ := tokens(c)
	return &proxyEnv{p: p, access: access, c: c, a: a}
}

// do sends a request to the PDS with extra headers.
func (e *proxyEnv) do(t *testing.T, method, path, token string, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.p.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

var toSvc = map[string]string{"atproto-proxy": svcDID + "#svc"}

func TestProxyRefusesUnauthenticated(t *testing.T) {
	up := newUpstream(t, false, svcDID)
	env := startProxyEnv(t, up.srv.URL, func(c *pds.Config) {
		c.AllowPrivateNetwork = true
		c.AppViewURL, c.AppViewDID = up.srv.URL, appViewDID
	}, xrpc.Options{})
	for _, tc := range []struct {
		name, token string
		hdr         map[string]string
		status      int
		errName     string
	}{
		{"AppView, no token", "", nil, 401, "AuthMissing"},
		{"service, no token", "", toSvc, 401, "AuthMissing"},
		{"service, garbage token", "not-a-jwt", toSvc, 400, "InvalidToken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _, b := env.do(t, "GET", "/xrpc/app.bsky.feed.getTimeline", tc.token, tc.hdr)
			xrpcErr(t, st, b, tc.status, tc.errName)
		})
	}
	if n := len(up.requests()); n != 0 {
		t.Fatalf("%d unauthenticated requests reached the upstream", n)
	}
}

func TestProxyServiceAuthAudienceAndMethod(t *testing.T) {
	up := newUpstream(t, false, svcDID)
	env := startProxyEnv(t, up.srv.URL, func(c *pds.Config) {
		c.AllowPrivateNetwork = true
		up.plcURL = c.PLCURL
	}, xrpc.Options{})
	st, _, b := env.do(t, "GET", "/xrpc/com.example.svc.getThing?a=1", env.access, toSvc)
	if st != 200 {
		t.Fatalf("proxied call: %d %s", st, b)
	}
	got := up.last(t)
	if got.Aud != svcDID || got.Lxm != "com.example.svc.getThing" || got.Iss != env.a.DID || got.ValidErr != "" {
		t.Fatalf("service auth aud %q lxm %q iss %q (validator: %s)", got.Aud, got.Lxm, got.Iss, got.ValidErr)
	}
	if got.Exp-got.Iat > 60 || got.Exp <= got.Iat {
		t.Fatalf("service auth lives %d s", got.Exp-got.Iat)
	}
	if got.Path != "/xrpc/com.example.svc.getThing" || got.RawQuery != "a=1" {
		t.Fatalf("upstream saw %s?%s", got.Path, got.RawQuery)
	}
}

func TestProxyForwardsOnlyAllowedHeaders(t *testing.T) {
	up := newUpstream(t, false, svcDID)
	env := startProxyEnv(t, up.srv.URL, func(c *pds.Config) { c.AllowPrivateNetwork = true }, xrpc.Options{})
	st, hdr, b := env.do(t, "GET", "/xrpc/com.example.svc.getThing", env.access, map[string]string{
		"atproto-proxy":           svcDID + "#svc",
		"Cookie":                  "session=owner",
		"User-Agent":              "client-ua/1.0",
		"X-Forwarded-For":         "203.0.113.9",
		"X-Custom":                "private",
		"Accept-Language":         "fr",
		"Atproto-Accept-Labelers": "did:plc:mod",
		"X-Bsky-Topics":           "dev",
		"If-None-Match":           `"v1"`,
		"Accept-Encoding":         "br",
	})
	if st != 200 {
		t.Fatalf("proxied call: %d %s", st, b)
	}
	got := up.last(t).Header
	for _, h := range []string{"Cookie", "X-Forwarded-For", "X-Custom", "Atproto-Proxy"} {
		if v := got.Get(h); v != "" {
			t.Errorf("%s forwarded: %q", h, v)
		}
	}
	if ua := got.Get("User-Agent"); ua == "" || strings.Contains(ua, "client-ua") {
		t.Errorf("User-Agent upstream: %q", ua)
	}
	if a := got.Get("Authorization"); strings.Contains(a, env.access) || !strings.HasPrefix(a, "Bearer ") {
		t.Errorf("Authorization upstream is not a fresh service token: %q", a)
	}
	for h, want := range map[string]string{"Accept-Language": "fr", "Atproto-Accept-Labelers": "did:plc:mod", "X-Bsky-Topics": "dev", "If-None-Match": `"v1"`, "Accept-Encoding": "br"} {
		if v := got.Get(h); v != want {
			t.Errorf("%s upstream = %q, want %q", h, v, want)
		}
	}
	if hdr.Get("Set-Cookie") != "" || hdr.Get("X-Internal-Host") != "" || hdr.Get("Atproto-Repo-Rev") != "rev1" {
		t.Errorf("response headers passed back: %v", hdr)
	}
}

// The upstream path is built from the validated NSID only; the query is
// passed as a query and can never become part of the path.
func TestProxyQueryCannotChangePath(t *testing.T) {
	up := newUpstream(t, false, svcDID)
	env := startProxyEnv(t, up.srv.URL, func(c *pds.Config) { c.AllowPrivateNetwork = true }, xrpc.Options{})
	for _, tc := range []struct {
		rawQuery string
		status   int // 200: forwarded with the same query; else refused
	}{
		{"x=../../admin", 200},
		{"x=%2F..%2F..%2Fadmin", 200},
		{"../../admin", 200},
		{"x=1&y=/etc/passwd", 200},
		{"x=1#/../../admin", 400},
		{"x=%23frag", 200},
		{"x=a%20b", 200},
	} {
		t.Run(tc.rawQuery, func(t *testing.T) {
			req, err := http.NewRequest("GET", env.p.URL+"/xrpc/com.example.svc.getThing", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.URL.RawQuery = tc.rawQuery // sent verbatim in the request line
			req.Header.Set("Authorization", "Bearer "+env.access)
			req.Header.Set("atproto-proxy", svcDID+"#svc")
			before := len(up.requests())
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d %s", resp.StatusCode, b)
			}
			reqs := up.requests()
			if tc.status != 200 {
				if len(reqs) != before {
					t.Fatalf("refused query reached the upstream as %s?%s", reqs[len(reqs)-1].Path, reqs[len(reqs)-1].RawQuery)
				}
				return
			}
			got := reqs[len(reqs)-1]
			if got.Path != "/xrpc/com.example.svc.getThing" || got.RawQuery != tc.rawQuery {
				t.Fatalf("upstream saw path %q query %q", got.Path, got.RawQuery)
			}
		})
	}
	// A path that is not an NSID is never proxied.
	for _, path := range []string{"/xrpc/..%2F..%2Fadmin", "/xrpc/com.example%2F..%2Fx", "/xrpc/com.example.svc.get%3Fx"} {
		st, _, b := env.do(t, "GET", path, env.access, toSvc)
		if st == 200 {
			t.Errorf("%s proxied: %s", path, b)
		}
	}
	for _, r := range up.requests() {
		if r.Path != "/xrpc/com.example.svc.getThing" {
			t.Errorf("upstream saw path %q", r.Path)
		}
	}
}

// The configured AppView is served from its configured URL, its DID
// given bare or with #bsky_appview, without resolving that DID (the test
// directory fails the test if it is asked).
func TestProxyConfiguredAppViewNeedsNoResolution(t *testing.T) {
	for _, tc := range []struct {
		name, configured, header string
	}{
		{"bare DID, default route", appViewAud, ""},
		{"bare DID, explicit header", appViewAud, appViewAud + "#bsky_appview"},
		{"DID with id, default route", appViewDID, ""},
		{"DID with id, explicit header", appViewDID, appViewDID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newUpstream(t, false, appViewAud)
			env := startProxyEnv(t, "https://unused.invalid", func(c *pds.Config) {
				c.AppViewURL, c.AppViewDID = up.srv.URL, tc.configured // loopback: trusted, no flag needed
				c.Directory.(*testDir).forbidden = map[syntax.DID]bool{appViewAud: true}
				up.plcURL = c.PLCURL
			}, xrpc.Options{})
			hdr := map[string]string{}
			if tc.header != "" {
				hdr["atproto-proxy"] = tc.header
			}
			st, _, b := env.do(t, "GET", "/xrpc/app.bsky.actor.getProfile?actor=bob.test", env.access, hdr)
			if st != 200 {
				t.Fatalf("AppView call: %d %s", st, b)
			}
			got := up.last(t)
			if got.Aud != appViewAud || got.Lxm != "app.bsky.actor.getProfile" || got.ValidErr != "" {
				t.Fatalf("AppView saw aud %q lxm %q (%s)", got.Aud, got.Lxm, got.ValidErr)
			}
		})
	}
}

// Without --allow-private-network a DID document cannot point the proxy
// at the owner's own machine or network; the caller learns nothing about
// addresses or dial errors.
func TestProxyRefusesPrivateTargets(t *testing.T) {
	tlsUp := newUpstream(t, true, svcDID)
	plainUp := newUpstream(t, false, svcDID)
	port := tlsUp.srv.URL[strings.LastIndex(tlsUp.srv.URL, ":")+1:]
	for _, tc := range []struct {
		name     string
		endpoint string
		allow    bool
		status   int
		errName  string
	}{
		{"https loopback IP", tlsUp.srv.URL, false, 502, "UpstreamFailure"},
		{"https name resolving to loopback", "https://localhost:" + port, false, 502, "UpstreamFailure"},
		{"http endpoint", plainUp.srv.URL, false, 400, "InvalidRequest"},
		{"http loopback with the flag", plainUp.srv.URL, true, 200, ""},
		{"closed port with the flag", "http://127.0.0.1:1", true, 502, "UpstreamFailure"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(tlsUp.requests()) + len(plainUp.requests())
			env := startProxyEnv(t, tc.endpoint, func(c *pds.Config) { c.AllowPrivateNetwork = tc.allow }, xrpc.Options{})
			st, _, b := env.do(t, "GET", "/xrpc/com.example.svc.getThing", env.access, toSvc)
			if tc.status == 200 {
				if st != 200 {
					t.Fatalf("%d %s", st, b)
				}
				return
			}
			xrpcErr(t, st, b, tc.status, tc.errName)
			for _, leak := range []string{"127.0.0.1", "localhost", port, "dial", "refus", "tcp", "::1"} {
				if bytes.Contains(b, []byte(leak)) {
					t.Errorf("error body leaks %q: %s", leak, b)
				}
			}
			if after := len(tlsUp.requests()) + len(plainUp.requests()); after != before {
				t.Errorf("the private upstream was reached")
			}
		})
	}
}

func TestProxyBoundsResponse(t *testing.T) {
	const limit = 64 << 10
	up := newUpstream(t, false, svcDID)
	up.handler = func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("x"), 32<<10)
		if r.URL.Query().Get("length") != "" {
			w.Header().Set("Content-Length", fmt.Sprint(32*len(chunk)))
		}
		for range 32 { // 1 MiB
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}
	env := startProxyEnv(t, up.srv.URL, func(c *pds.Config) { c.AllowPrivateNetwork = true }, xrpc.Options{ProxyMaxResponse: limit})
	// Announced length over the limit: refused before anything is sent.
	st, _, b := env.do(t, "GET", "/xrpc/com.example.svc.getThing?length=1", env.access, toSvc)
	xrpcErr(t, st, b, 502, "UpstreamFailure")
	// Streamed without a length: cut at the limit.
	req, _ := http.NewRequest("GET", env.p.URL+"/xrpc/com.example.svc.getThing", nil)
	req.Header.Set("Authorization", "Bearer "+env.access)
	req.Header.Set("atproto-proxy", svcDID+"#svc")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body) // the cut shows as a short or broken body
	resp.Body.Close()
	if n > limit {
		t.Fatalf("proxied %d bytes, limit %d", n, limit)
	}
}

// appPasswordSession logs in with a new app password (privileged or not).
func appPasswordSession(t *testing.T, env *proxyEnv, name string, privileged bool) string {
	t.Helper()
	var ap struct{ Password string }
	if err := env.c.Post(ctx, "com.atproto.server.createAppPassword", map[string]any{"name": name, "privileged": privileged}, &ap); err != nil {
		t.Fatal(err)
	}
	c, err := atclient.LoginWithPasswordHost(ctx, env.p.URL, env.a.Handle, ap.Password, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	access, _ := tokens(c)
	return access
}

func TestProxyDelegationRules(t *testing.T) {
	up := newUpstream(t, false, svcDID)
	env := startProxyEnv(t, up.srv.URL, func(c *pds.Config) { c.AllowPrivateNetwork = true }, xrpc.Options{})
	plain := appPasswordSession(t, env, "plain", false)
	priv := appPasswordSession(t, env, "priv", true)
	for _, tc := range []struct {
		name, token, nsid string
		status            int
	}{
		{"protected method, full session", env.access, "com.atproto.admin.sendEmail", 400},
		{"protected method, privileged app password", priv, "com.atproto.admin.sendEmail", 400},
		{"chat, plain app password", plain, "chat.bsky.convo.listConvos", 400},
		{"chat, privileged app password", priv, "chat.bsky.convo.listConvos", 200},
		{"chat, full session", env.access, "chat.bsky.convo.listConvos", 200},
		{"ordinary method, plain app password", plain, "com.example.svc.getThing", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(up.requests())
			st, _, b := env.do(t, "GET", "/xrpc/"+tc.nsid, tc.token, toSvc)
			if tc.status != 200 {
				xrpcErr(t, st, b, tc.status, "InvalidToken")
				if len(up.requests()) != before {
					t.Fatal("refused call reached the upstream")
				}
				return
			}
			if st != 200 || up.last(t).Lxm != tc.nsid {
				t.Fatalf("%d %s", st, b)
			}
		})
	}
}

func TestGetServiceAuthRules(t *testing.T) {
	env := startProxyEnv(t, "https://unused.invalid", nil, xrpc.Options{})
	sessions := map[string]string{
		"full":  env.access,
		"plain": appPasswordSession(t, env, "plain", false),
		"priv":  appPasswordSession(t, env, "priv", true),
	}
	const minute = 60
	for _, tc := range []struct {
		session, lxm string
		exp          int64 // seconds from now; 0 = not given
		status       int
		errName      string
		maxLife      int64 // for 200: the token's exp-iat at most
	}{
		{"full", "", 0, 200, "", minute},
		{"full", "", 30, 200, "", minute},
		{"full", "", 10 * minute, 400, "BadExpiration", 0}, // longer needs lxm
		{"full", "", 59 * minute, 400, "BadExpiration", 0},
		{"full", "app.bsky.feed.getTimeline", 0, 200, "", minute},
		{"full", "app.bsky.feed.getTimeline", 59 * minute, 200, "", 60 * minute},
		{"full", "app.bsky.feed.getTimeline", 2 * 60 * minute, 400, "BadExpiration", 0},
		{"full", "app.bsky.feed.getTimeline", -10, 400, "BadExpiration", 0},
		{"full", "not an nsid", 0, 400, "InvalidRequest", 0},
		{"full", "chat.bsky.convo.sendMessage", 0, 200, "", minute},
		{"full", "com.atproto.server.createAccount", 0, 200, "", minute},
		{"full", "com.atproto.identity.signPlcOperation", 0, 400, "InvalidRequest", 0},
		{"full", "com.atproto.identity.requestPlcOperationSignature", 0, 400, "InvalidRequest", 0},
		{"full", "com.atproto.server.updateEmail", 0, 400, "InvalidRequest", 0},
		{"full", "com.atproto.server.createAppPassword", 0, 400, "InvalidRequest", 0},
		{"full", "com.atproto.server.deactivateAccount", 0, 400, "InvalidRequest", 0},
		{"plain", "", 0, 400, "InvalidRequest", 0}, // app passwords must name the method
		{"plain", "app.bsky.feed.getTimeline", 0, 200, "", minute},
		{"plain", "chat.bsky.convo.listConvos", 0, 400, "InvalidRequest", 0},
		{"plain", "com.atproto.server.createAccount", 0, 400, "InvalidRequest", 0},
		{"plain", "com.atproto.identity.signPlcOperation", 0, 400, "InvalidRequest", 0},
		{"priv", "", 0, 400, "InvalidRequest", 0},
		{"priv", "chat.bsky.convo.listConvos", 0, 200, "", minute},
		{"priv", "com.atproto.server.createAccount", 0, 200, "", minute},
		{"priv", "com.atproto.server.revokeAppPassword", 0, 400, "InvalidRequest", 0},
	} {
		t.Run(fmt.Sprintf("%s/%s/%d", tc.session, tc.lxm, tc.exp), func(t *testing.T) {
			q := "aud=" + svcDID
			if tc.lxm != "" {
				q += "&lxm=" + strings.ReplaceAll(tc.lxm, " ", "%20")
			}
			if tc.exp != 0 {
				q += fmt.Sprintf("&exp=%d", nowUnix()+tc.exp)
			}
			st, _, b := raw(t, "GET", env.p.URL+"/xrpc/com.atproto.server.getServiceAuth?"+q, sessions[tc.session], "", nil)
			if tc.status != 200 {
				xrpcErr(t, st, b, tc.status, tc.errName)
				return
			}
			var out struct{ Token string }
			if st != 200 || json.Unmarshal(b, &out) != nil {
				t.Fatalf("%d %s", st, b)
			}
			var claims jwt.MapClaims
			if _, _, err := jwt.NewParser().ParseUnverified(out.Token, &claims); err != nil {
				t.Fatal(err)
			}
			exp, _ := claims["exp"].(float64)
			iat, _ := claims["iat"].(float64)
			lxm, _ := claims["lxm"].(string)
			if life := int64(exp - iat); life <= 0 || life > tc.maxLife+1 || lxm != tc.lxm || claims["aud"] != svcDID {
				t.Fatalf("token lives %d s (max %d), lxm %q, aud %v", life, tc.maxLife, lxm, claims["aud"])
			}
		})
	}
}

func nowUnix() int64 { return time.Now().Unix() }
