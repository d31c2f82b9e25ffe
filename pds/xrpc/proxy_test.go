package xrpc_test

import (
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
)

// appViewDID is the configured AppView (with its #id, as hearthd also
// accepts); appViewAud is the bare DID service-auth tokens are for.
const (
	appViewDID = "did:web:appview.test#bsky_appview"
	appViewAud = "did:web:appview.test"
)

// fakeAppView checks every request's service-auth JWT with indigo's
// validator (key from the DID document in the local PLC) and echoes what
// it saw.
type fakeAppView struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []seenReq
}

type seenReq struct {
	NSID, Iss, Labelers, Query, Body string
	Err                              string
	Exp, Iat                         int64
	Jti                              string
}

func newFakeAppView(t *testing.T, plcURL string) *fakeAppView {
	f := &fakeAppView{}
	dir := &identity.BaseDirectory{PLCURL: plcURL, SkipHandleVerification: true}
	val := &auth.ServiceAuthValidator{Audience: appViewAud, Dir: dir}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nsid := strings.TrimPrefix(r.URL.Path, "/xrpc/")
		sr := seenReq{NSID: nsid, Labelers: r.Header.Get("atproto-accept-labelers"), Query: r.URL.RawQuery}
		b, _ := io.ReadAll(r.Body)
		sr.Body = string(b)
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		lxm := syntax.NSID(nsid)
		if iss, err := val.Validate(r.Context(), tok, &lxm); err != nil {
			sr.Err = err.Error()
		} else {
			sr.Iss = iss.String()
		}
		var claims jwt.MapClaims
		// A token that validated must parse; record a failure where the
		// test looks (no t.Fatal on the server's goroutine).
		if _, _, err := jwt.NewParser().ParseUnverified(tok, &claims); err != nil && sr.Err == "" {
			sr.Err = "parse claims: " + err.Error()
		}
		if v, ok := claims["exp"].(float64); ok {
			sr.Exp = int64(v)
		}
		if v, ok := claims["iat"].(float64); ok {
			sr.Iat = int64(v)
		}
		sr.Jti, _ = claims["jti"].(string)
		f.mu.Lock()
		f.seen = append(f.seen, sr)
		f.mu.Unlock()
		if sr.Err != "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			_, _ = w.Write([]byte(`{"error":"AuthenticationRequired","message":"` + sr.Err + `"}`)) // a failed write is the client's to see
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("atproto-content-labelers", "did:plc:labeler")
		_ = json.NewEncoder(w).Encode(map[string]any{"did": sr.Iss, "handle": "someone.test", "feed": []any{}, "echo": nsid}) // likewise
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAppView) last() seenReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen[len(f.seen)-1]
}

func TestAppViewProxying(t *testing.T) {
	var av *fakeAppView
	p := testpds.Start(t, func(c *pds.Config) {
		av = newFakeAppView(t, c.PLCURL)
		c.AppViewURL, c.AppViewDID = av.srv.URL, appViewDID
	})
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)

	var prof map[string]any
	if err := c.Get(ctx, "app.bsky.actor.getProfile", map[string]any{"actor": "someone.test"}, &prof); err != nil {
		t.Fatalf("getProfile through Hearth: %v", err)
	}
	got := av.last()
	if got.Err != "" || got.Iss != a.DID || got.NSID != "app.bsky.actor.getProfile" || got.Query != "actor=someone.test" {
		t.Fatalf("AppView saw %+v", got)
	}
	if got.Exp-got.Iat < 30 || got.Exp-got.Iat > 120 || got.Jti == "" {
		t.Fatalf("service auth exp/iat/jti = %d/%d/%q", got.Exp, got.Iat, got.Jti)
	}
	if prof["did"] != a.DID {
		t.Fatalf("response not passed through: %v", prof)
	}
	// Labelers header both ways.
	req, _ := http.NewRequest("GET", p.URL+"/xrpc/app.bsky.feed.getTimeline?limit=5", nil)
	access, _ := tokens(c)
	req.Header.Set("Authorization", "Bearer "+access)
	req.Header.Set("atproto-accept-labelers", "did:plc:mod;redact")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("atproto-content-labelers") != "did:plc:labeler" || av.last().Labelers != "did:plc:mod;redact" {
		t.Fatalf("timeline: %d %v; AppView saw %+v", resp.StatusCode, resp.Header, av.last())
	}
	// POST bodies pass through.
	if err := c.Post(ctx, "app.bsky.graph.muteActor", map[string]any{"actor": "did:plc:x"}, nil); err != nil {
		t.Fatal(err)
	}
	if av.last().Body != `{"actor":"did:plc:x"}` || av.last().Err != "" {
		t.Fatalf("POST proxied as %+v", av.last())
	}
	// An explicit atproto-proxy header to a DID that does not resolve.
	req, _ = http.NewRequest("GET", p.URL+"/xrpc/app.bsky.feed.getFeed", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	req.Header.Set("atproto-proxy", "did:plc:nosuchservice00000000000#bsky_fg")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("unresolvable proxy target: %d", resp.StatusCode)
	}
	// Unknown methods without a target are still not implemented.
	st, _, b := raw(t, "GET", p.URL+"/xrpc/com.example.unknown", access, "", nil)
	xrpcErr(t, st, b, 501, "MethodNotImplemented")

	// A token for another audience or method is refused by the validator.
	var sa struct{ Token string }
	if err := c.Get(ctx, "com.atproto.server.getServiceAuth", map[string]any{"aud": "did:web:elsewhere.test", "lxm": "app.bsky.feed.getTimeline"}, &sa); err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest("GET", av.srv.URL+"/xrpc/app.bsky.feed.getTimeline", nil)
	req.Header.Set("Authorization", "Bearer "+sa.Token)
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(av.last().Err, "aud") {
		t.Fatalf("wrong-aud token: %d %+v", resp.StatusCode, av.last())
	}
	if err := c.Get(ctx, "com.atproto.server.getServiceAuth", map[string]any{"aud": appViewAud, "lxm": "app.bsky.actor.getProfile"}, &sa); err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest("GET", av.srv.URL+"/xrpc/app.bsky.feed.getTimeline", nil)
	req.Header.Set("Authorization", "Bearer "+sa.Token)
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(av.last().Err, "LXM") {
		t.Fatalf("wrong-lxm token: %d %+v", resp.StatusCode, av.last())
	}
	var e map[string]any
	apiErr(t, c.Get(ctx, "com.atproto.server.getServiceAuth", map[string]any{"aud": appViewDID, "exp": time.Now().Add(2 * time.Hour).Unix()}, &e), 400, "BadExpiration")
}

func TestPreferencesAndChatNeedsPrivilege(t *testing.T) {
	p := testpds.Start(t, func(c *pds.Config) { c.AppViewURL = "http://127.0.0.1:9" })
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	var got struct{ Preferences []map[string]any }
	if err := c.Get(ctx, "app.bsky.actor.getPreferences", nil, &got); err != nil || len(got.Preferences) != 0 {
		t.Fatalf("empty prefs = %v %v", got, err)
	}
	prefs := []any{map[string]any{"$type": "app.bsky.actor.defs#adultContentPref", "enabled": false}}
	if err := c.Post(ctx, "app.bsky.actor.putPreferences", map[string]any{"preferences": prefs}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, "app.bsky.actor.getPreferences", nil, &got); err != nil || len(got.Preferences) != 1 || got.Preferences[0]["$type"] != "app.bsky.actor.defs#adultContentPref" {
		t.Fatalf("prefs = %v %v", got, err)
	}
	apiErr(t, c.Post(ctx, "app.bsky.actor.putPreferences", map[string]any{"preferences": []any{map[string]any{"x": 1}}}, nil), 400, "InvalidRequest")

	var ap struct{ Password string }
	if err := c.Post(ctx, "com.atproto.server.createAppPassword", map[string]any{"name": "plain"}, &ap); err != nil {
		t.Fatal(err)
	}
	appc, err := atclient.LoginWithPasswordHost(ctx, p.URL, a.Handle, ap.Password, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	// As the reference: 400 InvalidToken "Bad token method".
	apiErr(t, appc.WithService("did:web:api.bsky.chat#bsky_chat").Get(ctx, "chat.bsky.convo.listConvos", nil, &out), 400, "InvalidToken")
}

type txtRecords map[string]string

func (d txtRecords) ResolveHandle(_ context.Context, h string) (string, error) {
	if did, ok := d[h]; ok {
		return did, nil
	}
	return "", fmt.Errorf("no _atproto TXT record for %s", h)
}

// With a handle resolver configured (as hearthd has), updateHandle only
// accepts a domain handle that resolves to the account's DID.
func TestUpdateHandleVerifiesDomain(t *testing.T) {
	dns := txtRecords{}
	p := testpds.Start(t, func(c *pds.Config) { c.HandleResolver = dns })
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	in := map[string]any{"handle": "alice.example.com"}
	apiErr(t, c.Post(ctx, "com.atproto.identity.updateHandle", in, nil), 400, "InvalidHandle")
	dns["alice.example.com"] = "did:plc:someoneelse"
	apiErr(t, c.Post(ctx, "com.atproto.identity.updateHandle", in, nil), 400, "InvalidHandle")
	dns["alice.example.com"] = a.DID
	if err := c.Post(ctx, "com.atproto.identity.updateHandle", in, nil); err != nil {
		t.Fatal(err)
	}
	if acc, _ := p.Engine.Accounts.Get(ctx, syntax.DID(a.DID)); acc.Handle != "alice.example.com" {
		t.Fatalf("handle is %s", acc.Handle)
	}
}
