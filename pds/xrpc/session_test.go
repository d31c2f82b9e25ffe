package xrpc_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	comatproto "github.com/bluesky-social/indigo/api/atproto"
	"github.com/bluesky-social/indigo/atproto/atclient"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds"
	"github.com/hearth-pds/hearth/pds/events"
)

func TestCreateAccountNeedsInvite(t *testing.T) {
	p := testpds.Start(t, nil)
	c := atclient.NewAPIClient(p.URL)
	in := map[string]any{"handle": "carol.test", "password": "long-enough-pw"}
	var out map[string]any
	apiErr(t, c.Post(ctx, "com.atproto.server.createAccount", in, &out), 400, "InvalidInviteCode")
	in["inviteCode"] = "bogus"
	apiErr(t, c.Post(ctx, "com.atproto.server.createAccount", in, &out), 400, "InvalidInviteCode")

	code, err := p.Engine.Accounts.CreateInviteCode(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	in["inviteCode"] = code
	if err := c.Post(ctx, "com.atproto.server.createAccount", in, &out); err != nil {
		t.Fatalf("createAccount with invite: %v", err)
	}
	did := out["did"].(string)
	if !strings.HasPrefix(did, "did:plc:") || out["accessJwt"] == "" {
		t.Fatalf("createAccount output %v", out)
	}
	// The invite is used up.
	in["handle"] = "dave.test"
	apiErr(t, c.Post(ctx, "com.atproto.server.createAccount", in, &out), 400, "InvalidInviteCode")

	// The genesis op was published to the PLC directory: the DID resolves
	// with the handle and this PDS's URL.
	id, err := p.Dir.LookupDID(ctx, syntax.DID(did))
	if err != nil {
		t.Fatalf("resolve new DID: %v", err)
	}
	if h, _ := id.DeclaredHandle(); h.String() != "carol.test" || id.PDSEndpoint() != p.URL {
		t.Fatalf("DID doc: handle %v endpoint %q", h, id.PDSEndpoint())
	}
	st, _ := p.Engine.Identity.PLCStatus(ctx, syntax.DID(did))
	if st.Pending != 0 || st.Published != 1 {
		t.Fatalf("PLC status %+v", st)
	}
	// A taken handle is refused.
	code2, _ := p.Engine.Accounts.CreateInviteCode(ctx, 1)
	in["inviteCode"], in["handle"] = code2, "carol.test"
	apiErr(t, c.Post(ctx, "com.atproto.server.createAccount", in, &out), 400, "HandleNotAvailable")
	in["handle"] = "not a handle"
	apiErr(t, c.Post(ctx, "com.atproto.server.createAccount", in, &out), 400, "InvalidHandle")
}

func TestGenesisPendingWhenPLCUnreachable(t *testing.T) {
	p := testpds.Start(t, func(c *pds.Config) { c.PLCURL = "http://127.0.0.1:9" })
	a := p.CreateAccount(t, "offline.test")
	st, err := p.Engine.Identity.PLCStatus(ctx, syntax.DID(a.DID))
	if err != nil || st.Pending != 1 || st.Published != 0 {
		t.Fatalf("PLC status %+v %v", st, err)
	}
	// The account works locally all the same.
	c, err := atclient.LoginWithPasswordHost(ctx, p.URL, a.Handle, a.Password, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	create(t, c, a.DID, "app.bsky.feed.post", post("offline first"))
}

func TestSessionLifecycle(t *testing.T) {
	p := testpds.Start(t, func(c *pds.Config) { c.RefreshGrace = 2 * time.Second }) // wide enough for a loaded -race run
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a) // resolves the PDS through the DID document

	sess, err := comatproto.ServerGetSession(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if sess.Did != a.DID || sess.Handle != a.Handle || sess.DidDoc == nil || sess.Email == nil || *sess.Email != "alice.test@example.com" {
		t.Fatalf("getSession = %+v", sess)
	}
	// Login by email and by handle too.
	for _, ident := range []string{a.Handle, "ALICE.test@example.com", a.DID} {
		if _, err := atclient.LoginWithPasswordHost(ctx, p.URL, ident, a.Password, "", nil); err != nil {
			t.Errorf("login as %s: %v", ident, err)
		}
	}
	_, err = atclient.LoginWithPasswordHost(ctx, p.URL, a.Handle, "wrong-password", "", nil)
	apiErr(t, err, 401, "AuthenticationRequired")

	// Refresh rotates; the old token still works once within the grace, then not.
	_, ref0 := tokens(c)
	st, _, b := raw(t, "POST", p.URL+"/xrpc/com.atproto.server.refreshSession", ref0, "", nil)
	if st != 200 {
		t.Fatalf("refresh: %d %s", st, b)
	}
	st, _, b = raw(t, "POST", p.URL+"/xrpc/com.atproto.server.refreshSession", ref0, "", nil)
	if st != 200 {
		t.Fatalf("retry within grace: %d %s", st, b)
	}
	time.Sleep(2100 * time.Millisecond)
	st, _, b = raw(t, "POST", p.URL+"/xrpc/com.atproto.server.refreshSession", ref0, "", nil)
	xrpcErr(t, st, b, 400, "ExpiredToken")

	// A fresh session: deleteSession revokes its refresh token.
	c2, err := atclient.LoginWithPasswordHost(ctx, p.URL, a.Handle, a.Password, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, ref2 := tokens(c2)
	if st, _, b := raw(t, "POST", p.URL+"/xrpc/com.atproto.server.deleteSession", ref2, "", nil); st != 200 {
		t.Fatalf("deleteSession: %d %s", st, b)
	}
	st, _, b = raw(t, "POST", p.URL+"/xrpc/com.atproto.server.refreshSession", ref2, "", nil)
	xrpcErr(t, st, b, 400, "ExpiredToken")
}

func TestBadTokens(t *testing.T) {
	// Default lifetimes here: with a one-second access token a slow (race-
	// enabled, loaded) run saw the token expire before these checks ran.
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	access, refresh := tokens(c)
	url := p.URL + "/xrpc/com.atproto.server.getSession"

	st, h, b := raw(t, "GET", url, "", "", nil)
	xrpcErr(t, st, b, 401, "AuthMissing")
	if h.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	for name, tok := range map[string]string{
		"garbage":           "not-a-jwt",
		"three garbage":     "abc.def.ghi",
		"refresh as access": refresh,
		"forged signature":  access[:strings.LastIndex(access, ".")+1] + "AAAA",
	} {
		st, _, b := raw(t, "GET", url, tok, "", nil)
		xrpcErr(t, st, b, 400, "InvalidToken")
		_ = name
	}
	// An access token is not a refresh token.
	st, _, b = raw(t, "POST", p.URL+"/xrpc/com.atproto.server.refreshSession", access, "", nil)
	xrpcErr(t, st, b, 400, "InvalidToken")
}

func TestExpiredToken(t *testing.T) {
	p := testpds.Start(t, func(c *pds.Config) { c.AccessTTL = time.Second })
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	access, _ := tokens(c)
	url := p.URL + "/xrpc/com.atproto.server.getSession"
	// Expired: a 400 ExpiredToken is what makes clients refresh.
	time.Sleep(2100 * time.Millisecond)
	st, _, b := raw(t, "GET", url, access, "", nil)
	xrpcErr(t, st, b, 400, "ExpiredToken")
	// indigo's client refreshes on ExpiredToken and carries on.
	if _, err := comatproto.ServerGetSession(ctx, c); err != nil {
		t.Fatalf("client did not recover from an expired token: %v", err)
	}
}

func TestAppPasswords(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	var ap struct{ Name, Password string }
	if err := c.Post(ctx, "com.atproto.server.createAppPassword", map[string]any{"name": "phone"}, &ap); err != nil {
		t.Fatal(err)
	}
	if len(ap.Password) != 19 {
		t.Fatalf("app password %q", ap.Password)
	}
	var dup map[string]any
	apiErr(t, c.Post(ctx, "com.atproto.server.createAppPassword", map[string]any{"name": "phone"}, &dup), 400, "InvalidRequest")

	appc, err := atclient.LoginWithPasswordHost(ctx, p.URL, a.Handle, ap.Password, "", nil)
	if err != nil {
		t.Fatalf("login with app password: %v", err)
	}
	// It can post…
	create(t, appc, a.DID, "app.bsky.feed.post", post("from my phone"))
	// …but not manage app passwords or the account.
	var out map[string]any
	apiErr(t, appc.Post(ctx, "com.atproto.server.createAppPassword", map[string]any{"name": "x"}, &out), 401, "AuthenticationRequired")
	apiErr(t, appc.Get(ctx, "com.atproto.server.listAppPasswords", nil, &out), 401, "AuthenticationRequired")
	apiErr(t, appc.Post(ctx, "com.atproto.identity.updateHandle", map[string]any{"handle": "x.test"}, &out), 401, "AuthenticationRequired")

	var list struct{ Passwords []map[string]any }
	if err := c.Get(ctx, "com.atproto.server.listAppPasswords", nil, &list); err != nil || len(list.Passwords) != 1 || list.Passwords[0]["name"] != "phone" {
		t.Fatalf("list = %v, %v", list, err)
	}
	if err := c.Post(ctx, "com.atproto.server.revokeAppPassword", map[string]any{"name": "phone"}, nil); err != nil {
		t.Fatal(err)
	}
	_, err = atclient.LoginWithPasswordHost(ctx, p.URL, a.Handle, ap.Password, "", nil)
	apiErr(t, err, 401, "AuthenticationRequired")
	_, appRefresh := tokens(appc)
	st, _, b := raw(t, "POST", p.URL+"/xrpc/com.atproto.server.refreshSession", appRefresh, "", nil)
	xrpcErr(t, st, b, 400, "ExpiredToken")
}

func TestLoginThrottle(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	c := atclient.NewAPIClient(p.URL)
	var out map[string]any
	for i := 0; i < 10; i++ {
		apiErr(t, c.Post(ctx, "com.atproto.server.createSession", map[string]any{"identifier": a.Handle, "password": "nope-nope"}, &out), 401, "AuthenticationRequired")
	}
	// Even the right password is refused while throttled.
	err := c.Post(ctx, "com.atproto.server.createSession", map[string]any{"identifier": a.Handle, "password": a.Password}, &out)
	apiErr(t, err, http.StatusTooManyRequests, "RateLimitExceeded")
}

func TestDeleteAccount(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	b := p.CreateAccount(t, "bob.test")
	c := p.Login(t, a)
	create(t, c, a.DID, "app.bsky.feed.post", post("bye"))
	if _, err := comatproto.RepoUploadBlob(ctx, c, strings.NewReader("\x89PNG\r\n\x1a\nxxxx")); err != nil {
		t.Fatal(err)
	}
	anon := atclient.NewAPIClient(p.URL)
	apiErr(t, anon.Post(ctx, "com.atproto.server.deleteAccount", map[string]any{"did": a.DID, "password": "wrong-password"}, nil), 401, "AuthenticationRequired")
	if err := anon.Post(ctx, "com.atproto.server.deleteAccount", map[string]any{"did": a.DID, "password": a.Password}, nil); err != nil {
		t.Fatal(err)
	}
	_, err := comatproto.SyncGetRepoStatus(ctx, anon, a.DID)
	apiErr(t, err, 400, "RepoNotFound")
	_, err = atclient.LoginWithPasswordHost(ctx, p.URL, a.Handle, a.Password, "", nil)
	apiErr(t, err, 401, "AuthenticationRequired")
	evs, _ := p.Engine.Events.Range(ctx, 0, 1000, 0, a.DID)
	f, err := events.Decode(evs[len(evs)-1].Frame)
	if err != nil || f.Account == nil || f.Account.Active || f.Account.Status == nil || *f.Account.Status != "deleted" {
		t.Fatalf("last event %+v %v", f, err)
	}
	// The other account is untouched; the handle is free again.
	mustVerify(t, p, b.DID)
	p.CreateAccount(t, "alice.test")
}
