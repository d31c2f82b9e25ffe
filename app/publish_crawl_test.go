package app

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hearth-pds/hearth/pds/crawl"
)

func TestAskRelay(t *testing.T) {
	const named = "https://relay.example.com"
	for _, tt := range []struct {
		host          string
		defaultAsked  bool
		namedAsked    bool
		defaultsNamed bool // the default relay as saved by earlier versions
	}{
		{"pds.example.com", true, true, true},
		{"abc.ngrok-free.app", true, true, true},
		{"localhost:2583", false, true, false},
		{"127.0.0.1:2583", false, true, false},
		{"192.168.1.20:2583", false, true, false},
		{"mybox.local", false, true, false},
	} {
		ask := askRelay(tt.host)
		if got := ask(crawl.DefaultRelays[0]); got != tt.defaultAsked {
			t.Errorf("%s: default relay asked = %v, want %v", tt.host, got, tt.defaultAsked)
		}
		if got := ask("bsky.network/"); got != tt.defaultsNamed {
			t.Errorf("%s: default relay (written differently) asked = %v, want %v", tt.host, got, tt.defaultsNamed)
		}
		if got := ask(named); got != tt.namedAsked {
			t.Errorf("%s: named relay asked = %v, want %v", tt.host, got, tt.namedAsked)
		}
	}
}

// TestPublishingCrawlPolicy: with a local public URL (the loopback tunnel)
// the default relay is not asked to crawl, a relay the user named is.
func TestPublishingCrawlPolicy(t *testing.T) {
	asked := make(chan string, 16)
	relay := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/xrpc/com.atproto.sync.requestCrawl" {
			http.NotFound(w, r)
			return
		}
		var in struct{ Hostname string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		select {
		case asked <- in.Hostname:
		default:
		}
	}))
	t.Cleanup(relay.Close)

	a, _ := startApp(t)
	if _, err := a.CreateAccount("me.test", "password123", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := a.StartPublishing(PublishConfig{Kind: "loopback", Relays: append([]string{relay.URL}, crawl.DefaultRelays...)}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := a.StopPublishing(); err != nil {
			t.Error(err)
		}
	}()
	var host string
	select {
	case host = <-asked:
	case <-time.After(30 * time.Second): // safety net
		st, _ := a.PublishingStatus()
		t.Fatalf("the named relay was never asked to crawl: %+v", st)
	}
	st := waitOnline(t, a)
	if want := strings.TrimPrefix(st.Tunnel.URL, "http://"); host != want {
		t.Fatalf("named relay asked to crawl %q, want %q", host, want)
	}
	// The request that reached the relay was made, with every relay's
	// state, in one step: the default relay's state is final here.
	for _, r := range st.Relays {
		switch r.Relay {
		case crawl.DefaultRelays[0]:
			if r.State != crawl.StateIdle || r.Attempts != 0 {
				t.Errorf("default relay was asked to crawl a local URL: %+v", r)
			}
		case relay.URL:
			if r.State == crawl.StateIdle || r.Hostname != host {
				t.Errorf("named relay status %+v", r)
			}
		default:
			t.Errorf("unexpected relay %+v", r)
		}
	}
	if len(st.Relays) != 2 {
		t.Errorf("relays %+v, want 2", st.Relays)
	}
}
