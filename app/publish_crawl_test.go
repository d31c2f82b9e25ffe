package app

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hearth-pds/hearth/pds/crawl"
	"github.com/hearth-pds/hearth/pds/reach"
)

func TestRelaysFor(t *testing.T) {
	got := relaysFor([]string{crawl.DefaultRelays[0], "bsky.network/", "https://relay.example.com"})
	want := []bool{false, false, true} // the defaults, however written, are not "named"
	for i, r := range got {
		if r.Explicit != want[i] {
			t.Errorf("relaysFor[%d] = %+v, want explicit %v", i, r, want[i])
		}
	}
}

// TestPublishingCrawlPolicy: with a local public URL (the loopback tunnel)
// the default relay is not asked to crawl, a relay the user named is.
func TestPublishingCrawlPolicy(t *testing.T) {
	relay, asked := crawlRecorder(t)

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
			if r.State != reach.StateIdle || r.Attempts != 0 || r.Explicit {
				t.Errorf("default relay was asked to crawl a local URL: %+v", r)
			}
		case relay.URL:
			if r.State == reach.StateIdle || r.Hostname != host || !r.Explicit {
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

// crawlRecorder is a relay that only answers requestCrawl and hands on
// each hostname it is asked to crawl.
func crawlRecorder(t *testing.T) (*httptest.Server, <-chan string) {
	t.Helper()
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
	return relay, asked
}
