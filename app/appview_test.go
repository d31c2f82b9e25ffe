package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// audienceRecorder is an AppView that records each call's method and
// service-auth audience.
type audienceRecorder struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []string // "nsid aud"
}

func newAudienceRecorder(t *testing.T) *audienceRecorder {
	r := &audienceRecorder{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var claims jwt.MapClaims
		tok := strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
		aud := "unparsable"
		if _, _, err := jwt.NewParser().ParseUnverified(tok, &claims); err == nil {
			aud, _ = claims["aud"].(string)
		}
		r.mu.Lock()
		r.seen = append(r.seen, strings.TrimPrefix(req.URL.Path, "/xrpc/")+" "+aud)
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true}) // a failed write is the client's to see
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *audienceRecorder) calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

func TestCheckAppView(t *testing.T) {
	for _, tc := range []struct {
		url, did     string
		allowPrivate bool
		wantURL      string
		wantErr      string
	}{
		{"https://api.bsky.app", "did:web:api.bsky.app", false, "https://api.bsky.app", ""},
		{" https://appview.example.com/ ", "did:web:appview.example.com#bsky_appview", false, "https://appview.example.com", ""},
		{"https://appview.example.com:8443", "did:plc:ewvi7nxzyoun6zhxrhs64oiz", false, "https://appview.example.com:8443", ""},
		{"http://127.0.0.1:2584", "did:web:localhost%3A2584", true, "http://127.0.0.1:2584", ""},
		{"http://localhost:2584", "did:web:localhost", true, "http://localhost:2584", ""},
		{"http://[::1]:2584", "did:web:localhost", true, "http://[::1]:2584", ""},
		{"http://127.0.0.1:2584", "did:web:localhost", false, "", "https://"},
		{"http://appview.lan", "did:web:appview.lan", true, "", "on this computer"},
		{"ftp://appview.example.com", "did:web:x.example", false, "", "https://"},
		{"https://appview.example.com/xrpc", "did:web:x.example", false, "", "no path"},
		{"https://appview.example.com?x=1", "did:web:x.example", false, "", "no path"},
		{"https://user@appview.example.com", "did:web:x.example", false, "", "no path"},
		{"appview.example.com", "did:web:x.example", false, "", "no path"},
		{"", "did:web:x.example", false, "", "no path"},
		{"https://appview.example.com", "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme", false, "", "did:web or did:plc"},
		{"https://appview.example.com", "appview.example.com", false, "", "did:web or did:plc"},
		{"https://appview.example.com", "did:web:x.example#", false, "", "service id"},
		{"https://appview.example.com", "did:web:x.example#a#b", false, "", "service id"},
	} {
		u, d, err := CheckAppView(tc.url, tc.did, tc.allowPrivate)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("CheckAppView(%q, %q, %v) = %q, %q, %v; want an error about %q", tc.url, tc.did, tc.allowPrivate, u, d, err, tc.wantErr)
			}
			continue
		}
		if err != nil || u != tc.wantURL || d != strings.TrimSpace(tc.did) {
			t.Errorf("CheckAppView(%q, %q, %v) = %q, %q, %v", tc.url, tc.did, tc.allowPrivate, u, d, err)
		}
	}
}

// The AppView chosen in Settings applies to the running PDS at once (the
// next app.bsky.* call goes there with service auth for its DID), is saved
// for the next start, and the reset brings back Bluesky's.
func TestSetAppViewFromSettings(t *testing.T) {
	av := newAudienceRecorder(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	a := startAppWith(t, func(c *Config) { c.DataDir, c.AllowPrivateNetwork = dataDir, true })
	if _, err := a.CreateAccount("me.test", "password123", ""); err != nil {
		t.Fatal(err)
	}
	_, tok := login(t, a, "me.test", "password123")

	// Refused values change nothing and save nothing.
	for _, bad := range [][2]string{{"http://appview.lan", "did:web:appview.lan"}, {av.srv.URL, "did:key:z6Mk"}, {av.srv.URL + "/x", "did:web:a.test"}} {
		if _, err := a.SetAppView(bad[0], bad[1]); err == nil {
			t.Fatalf("SetAppView(%q, %q) accepted", bad[0], bad[1])
		}
	}
	if st, _ := loadSettings(dataDir); st.AppViewURL != "" || st.AppViewDID != "" {
		t.Fatalf("a refused AppView was saved: %+v", st)
	}

	s, err := a.SetAppView(av.srv.URL+"/", "did:web:appview.test")
	if err != nil {
		t.Fatal(err)
	}
	if s.AppView.URL != av.srv.URL || s.AppView.DID != "did:web:appview.test" || s.AppView.Source != AppViewSettings || s.AppView.Locked != "" {
		t.Fatalf("after SetAppView: %+v", s.AppView)
	}
	if code, _ := xrpcCall(t, a, "GET", "app.bsky.actor.getProfile?actor=me.test", tok, nil); code != 200 {
		t.Fatalf("proxied call: %d", code)
	}
	if got := av.calls(); len(got) != 1 || got[0] != "app.bsky.actor.getProfile did:web:appview.test" {
		t.Fatalf("the AppView saw %v", got)
	}
	b, err := os.ReadFile(filepath.Join(dataDir, settingsFile))
	if err != nil || !strings.Contains(string(b), `"appViewURL": "`+av.srv.URL+`"`) || !strings.Contains(string(b), `"appViewDID": "did:web:appview.test"`) {
		t.Fatalf("desktop.json: %s %v", b, err)
	}

	// The next start uses it.
	Shutdown(context.Background(), a)
	a2 := startAppWith(t, func(c *Config) { c.DataDir, c.AllowPrivateNetwork = dataDir, true })
	if s, err := a2.GetAppSettings(); err != nil || s.AppView.URL != av.srv.URL || s.AppView.Source != AppViewSettings {
		t.Fatalf("after a restart: %+v %v", s, err)
	}
	_, tok = login(t, a2, "me.test", "password123")
	if code, _ := xrpcCall(t, a2, "GET", "app.bsky.feed.getTimeline", tok, nil); code != 200 || len(av.calls()) != 2 {
		t.Fatalf("after a restart the call went elsewhere: %d %v", code, av.calls())
	}

	s, err = a2.ResetAppView()
	if err != nil || s.AppView.URL != "https://api.bsky.app" || s.AppView.DID != "did:web:api.bsky.app" || s.AppView.Source != AppViewDefault {
		t.Fatalf("reset: %+v %v", s, err)
	}
	if st, _ := loadSettings(dataDir); st.AppViewURL != "" || st.AppViewDID != "" || st.Port == 0 {
		t.Fatalf("after the reset desktop.json keeps %+v", st)
	}
}

// Where the environment names the AppView, it wins: the screen shows it
// locked and SetAppView refuses; a saved AppView that no longer passes the
// checks (hand-edited, or saved with the developer option since turned
// off) is ignored at start, not fatal.
func TestAppViewEnvironmentWinsAndBadSavedValue(t *testing.T) {
	a := startAppWith(t, func(c *Config) {
		c.AppViewURL, c.AppViewDID = "https://appview.example.com", "did:web:appview.example.com"
	})
	s, err := a.GetAppSettings()
	if err != nil || s.AppView.URL != "https://appview.example.com" || s.AppView.Source != AppViewEnv || !strings.Contains(s.AppView.Locked, "HEARTH_APPVIEW_URL") {
		t.Fatalf("%+v %v", s, err)
	}
	if _, err := a.SetAppView("https://other.example.com", "did:web:other.example.com"); err == nil || !strings.Contains(err.Error(), "HEARTH_APPVIEW_URL") {
		t.Fatalf("SetAppView under the environment: %v", err)
	}

	dataDir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := saveSettings(dataDir, settings{AppViewURL: "http://127.0.0.1:9", AppViewDID: "did:web:dev.test"}); err != nil {
		t.Fatal(err)
	}
	b := startAppWith(t, func(c *Config) { c.DataDir = dataDir }) // no developer option now
	if s, err := b.GetAppSettings(); err != nil || s.AppView.URL != "https://api.bsky.app" {
		t.Fatalf("bad saved AppView: %+v %v", s, err)
	}
}
