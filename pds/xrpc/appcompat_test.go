package xrpc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atclient"
	"github.com/bluesky-social/indigo/atproto/auth"
	"github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds"
)

// The Bluesky app's age-assurance calls are the AppView's: the reference
// PDS has no handler for app.bsky.ageassurance.* and pipes them through to
// the AppView with a service-auth token bound to the method. Hearth does
// the same.
func TestAgeAssuranceIsProxiedToTheAppView(t *testing.T) {
	var av *fakeAppView
	p := testpds.Start(t, func(c *pds.Config) {
		av = newFakeAppView(t, c.PLCURL)
		c.AppViewURL, c.AppViewDID = av.srv.URL, appViewDID
	})
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	for _, tc := range []struct {
		nsid string
		post bool
	}{
		{"app.bsky.ageassurance.getConfig", false},
		{"app.bsky.ageassurance.getState", false},
		{"app.bsky.ageassurance.begin", true},
	} {
		var out map[string]any
		var err error
		if tc.post {
			err = c.Post(ctx, syntax.NSID(tc.nsid), map[string]any{"email": "a@example.com", "language": "en", "countryCode": "GB"}, &out)
		} else {
			err = c.Get(ctx, syntax.NSID(tc.nsid), map[string]any{"countryCode": "GB"}, &out)
		}
		if err != nil {
			t.Fatalf("%s through Hearth: %v", tc.nsid, err)
		}
		got := av.last()
		if got.NSID != tc.nsid || got.Err != "" || got.Iss != a.DID || out["echo"] != tc.nsid {
			t.Fatalf("%s: AppView saw %+v, answer %v", tc.nsid, got, out)
		}
	}
}

// serviceAuth asks Hearth for a service-auth token.
func serviceAuth(t *testing.T, c *atclient.APIClient, params map[string]any) (string, error) {
	t.Helper()
	var out struct{ Token string }
	err := c.Get(ctx, "com.atproto.server.getServiceAuth", params, &out)
	return out.Token, err
}

func uploadWith(t *testing.T, base, token string, body []byte) (int, []byte) {
	t.Helper()
	st, _, b := raw(t, "POST", base+"/xrpc/com.atproto.repo.uploadBlob", token, "image/png", body)
	return st, b
}

// Video upload as the Bluesky app does it: a token for the video service
// to read the upload limits, and a token addressed to this PDS and bound
// to uploadBlob that the video service presents when it stores the
// processed video here.
func TestVideoUploadServiceAuth(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	u, _ := url.Parse(p.URL)

	// 1. getUploadLimits for did:web:video.bsky.app is delegable; the
	// token verifies with the key in the account's DID document.
	tok, err := serviceAuth(t, c, map[string]any{"aud": "did:web:video.bsky.app", "lxm": "app.bsky.video.getUploadLimits"})
	if err != nil {
		t.Fatalf("getServiceAuth for the video service: %v", err)
	}
	lxm := syntax.NSID("app.bsky.video.getUploadLimits")
	v := &auth.ServiceAuthValidator{Audience: "did:web:video.bsky.app", Dir: &identity.BaseDirectory{PLCURL: p.Config.PLCURL, SkipHandleVerification: true}}
	if iss, err := v.Validate(ctx, tok, &lxm); err != nil || iss.String() != a.DID {
		t.Fatalf("video service would refuse the token: %v (iss %s)", err, iss)
	}

	// 2. The uploadBlob callback, for both spellings of this PDS's did:web,
	// with the app's 30-minute expiry.
	png := []byte("\x89PNG\r\n\x1a\n" + strings.Repeat("video-frame", 50))
	exp := time.Now().Add(30 * time.Minute).Unix()
	for _, aud := range []string{"did:web:" + u.Hostname(), "did:web:" + u.Hostname() + "%3A" + u.Port()} {
		tok, err := serviceAuth(t, c, map[string]any{"aud": aud, "lxm": "com.atproto.repo.uploadBlob", "exp": exp})
		if err != nil {
			t.Fatalf("getServiceAuth aud=%s: %v", aud, err)
		}
		st, body := uploadWith(t, p.URL, tok, png)
		if st != 200 || !bytes.Contains(body, []byte(`"$type":"blob"`)) {
			t.Fatalf("uploadBlob with a service token for %s: %d %s", aud, st, body)
		}
	}

	// 3. What must be refused.
	selfAud := "did:web:" + u.Hostname()
	wrongMethod, _ := serviceAuth(t, c, map[string]any{"aud": selfAud, "lxm": "com.atproto.repo.createRecord"})
	otherAud, _ := serviceAuth(t, c, map[string]any{"aud": "did:web:elsewhere.test", "lxm": "com.atproto.repo.uploadBlob"})
	short, _ := serviceAuth(t, c, map[string]any{"aud": selfAud, "lxm": "com.atproto.repo.uploadBlob", "exp": time.Now().Add(time.Second).Unix()})
	good, _ := serviceAuth(t, c, map[string]any{"aud": selfAud, "lxm": "com.atproto.repo.uploadBlob"})
	forged := good[:strings.LastIndex(good, ".")+1] + "AAAA" + good[strings.LastIndex(good, ".")+5:]
	time.Sleep(7 * time.Second) // past exp plus the validator's 5 s leeway
	for name, tok := range map[string]string{"other method": wrongMethod, "other audience": otherAud, "expired": short, "bad signature": forged} {
		st, body := uploadWith(t, p.URL, tok, png)
		xrpcErr(t, st, body, 400, "InvalidToken")
		if strings.Contains(string(body), "jwt") || strings.Contains(string(body), "did:plc") {
			t.Fatalf("%s: error body carries internals: %s", name, body)
		}
	}
	// A service token opens nothing but the route that accepts it.
	good, _ = serviceAuth(t, c, map[string]any{"aud": selfAud, "lxm": "com.atproto.repo.createRecord"})
	st, _, body := raw(t, "POST", p.URL+"/xrpc/com.atproto.repo.createRecord", good, "application/json",
		mustJSON(t, map[string]any{"repo": a.DID, "collection": "app.bsky.feed.post", "record": post("hi")}))
	if st < 400 {
		t.Fatalf("createRecord accepted a service token: %d %s", st, body)
	}
}

// describeServer reports the handle domains and the policy links, and a
// handle under one of those domains is taken without asking DNS (goat's
// update-handle to another .test handle).
func TestUserDomainsAndUpdateHandle(t *testing.T) {
	p := testpds.Start(t, func(c *pds.Config) {
		c.HandleResolver = txtRecords{} // no handle resolves outside
		c.UserDomains = []string{"test"}
		c.PrivacyPolicyURL, c.TermsOfServiceURL, c.ContactEmail = "https://example.com/privacy", "https://example.com/tos", "admin@example.com"
	})
	resp, err := http.Get(p.URL + "/xrpc/com.atproto.server.describeServer")
	if err != nil {
		t.Fatal(err)
	}
	var ds struct {
		DID                  string            `json:"did"`
		AvailableUserDomains []string          `json:"availableUserDomains"`
		Links                map[string]string `json:"links"`
		Contact              map[string]string `json:"contact"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ds); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(ds.AvailableUserDomains) != 1 || ds.AvailableUserDomains[0] != ".test" ||
		ds.Links["privacyPolicy"] != "https://example.com/privacy" || ds.Links["termsOfService"] != "https://example.com/tos" ||
		ds.Contact["email"] != "admin@example.com" || ds.DID != "did:web:localhost" {
		t.Fatalf("describeServer: %+v", ds)
	}

	a := p.CreateAccount(t, "alice.test")
	p.CreateAccount(t, "bob.test")
	c := p.Login(t, a)
	if err := c.Post(ctx, "com.atproto.identity.updateHandle", map[string]any{"handle": "alice2.test"}, nil); err != nil {
		t.Fatalf("updateHandle under a user domain: %v", err)
	}
	var rh struct{ DID string }
	if err := c.Get(ctx, "com.atproto.identity.resolveHandle", map[string]any{"handle": "alice2.test"}, &rh); err != nil || rh.DID != a.DID {
		t.Fatalf("resolveHandle alice2.test = %v, %v", rh, err)
	}
	apiErr(t, c.Post(ctx, "com.atproto.identity.updateHandle", map[string]any{"handle": "bob.test"}, nil), 400, "HandleNotAvailable")
	apiErr(t, c.Post(ctx, "com.atproto.identity.updateHandle", map[string]any{"handle": "alice.example.com"}, nil), 400, "InvalidHandle")
	apiErr(t, c.Post(ctx, "com.atproto.identity.updateHandle", map[string]any{"handle": "test"}, nil), 400, "InvalidHandle")
}

// An account whose did:web includes the port (did:web:localhost%3APORT,
// allowed for testing) has its document served at that host and port.
func TestDIDWebWithPort(t *testing.T) {
	p := testpds.Start(t, nil)
	u, _ := url.Parse(p.URL)
	acc, err := p.Engine.CreateAccount(context.Background(), pds.NewAccount{Handle: "web.test", Password: "password-web", DIDWeb: "localhost:" + u.Port()})
	if err != nil {
		t.Fatalf("create did:web account with a port: %v", err)
	}
	want := "did:web:localhost%3A" + u.Port()
	if acc.DID.String() != want {
		t.Fatalf("DID %s, want %s", acc.DID, want)
	}
	st, _, body := rawHost(t, p.URL+"/.well-known/did.json", u.Host)
	var doc struct {
		ID      string `json:"id"`
		Service []struct {
			ServiceEndpoint string `json:"serviceEndpoint"`
		} `json:"service"`
	}
	if st != 200 || json.Unmarshal(body, &doc) != nil || doc.ID != want || len(doc.Service) != 1 || doc.Service[0].ServiceEndpoint != p.URL {
		t.Fatalf("did.json at %s: %d %s", u.Host, st, body)
	}
	for _, bad := range []string{"example.com:8080", "localhost:0", "localhost:99999", "localhost:x"} {
		if _, err := p.Engine.CreateAccount(context.Background(), pds.NewAccount{Handle: "x" + strings.NewReplacer(":", "", ".", "").Replace(bad) + ".test", Password: "password-web", DIDWeb: bad}); err == nil {
			t.Fatalf("did:web %q accepted", bad)
		}
	}
}
