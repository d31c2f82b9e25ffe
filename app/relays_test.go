package app

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hearth-pds/hearth/pds/crawl"
)

func TestCheckRelays(t *testing.T) {
	for _, tc := range []struct {
		in      []string
		want    []string
		wantErr string
	}{
		{nil, []string{}, ""},
		{[]string{" ", ""}, []string{}, ""},
		{[]string{"bsky.network", "https://BSKY.network/", "http://127.0.0.1:2470"}, []string{"https://bsky.network", "http://127.0.0.1:2470"}, ""},
		{[]string{"ftp://relay.example.com"}, nil, "ftp://relay.example.com"},
		{[]string{"https://relay.example.com/xrpc"}, nil, "not a relay address"},
		{[]string{"https://relay.example.com?x=1"}, nil, "not a relay address"},
		{[]string{"https://"}, nil, "not a relay address"},
	} {
		got, err := CheckRelays(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("CheckRelays(%q) = %v, %v; want an error about %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("CheckRelays(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// Relays edited in Settings are the ones the Publish screen shows and
// StartPublishing uses, and the other way round; while publishing, a relay
// added in Settings is asked to crawl at once, without a restart.
func TestRelaysOneSourceOfTruth(t *testing.T) {
	relay, asked := crawlRecorder(t)

	a, _ := startApp(t)
	if _, err := a.CreateAccount("me.test", "password123", ""); err != nil {
		t.Fatal(err)
	}
	s, err := a.GetAppSettings()
	if err != nil || !s.RelaysDefault || !slices.Equal(s.Relays, crawl.DefaultRelays) {
		t.Fatalf("fresh: %+v %v", s, err)
	}
	if _, err := a.SetRelays([]string{"ftp://nope"}); err == nil {
		t.Fatal("a bad relay was accepted")
	}
	s, err = a.SetRelays([]string{"relay-one.example.com", "https://relay-two.example.com/"})
	want := []string{"https://relay-one.example.com", "https://relay-two.example.com"}
	if err != nil || s.RelaysDefault || !slices.Equal(s.Relays, want) {
		t.Fatalf("after SetRelays: %+v %v", s, err)
	}
	// The Publish screen's form starts from the same list.
	if ps, err := a.PublishingStatus(); err != nil || !slices.Equal(ps.Config.Relays, want) {
		t.Fatalf("Publish screen shows %+v %v", ps, err)
	}

	// Publish saves its list where Settings reads it.
	if _, err := a.StartPublishing(PublishConfig{Kind: "loopback", Relays: []string{crawl.DefaultRelays[0]}}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := a.StopPublishing(); err != nil {
			t.Error(err)
		}
	}()
	waitOnline(t, a)
	if s, err := a.GetAppSettings(); err != nil || !slices.Equal(s.Relays, crawl.DefaultRelays) {
		t.Fatalf("Settings after Publish: %+v %v", s, err)
	}

	// Added in Settings while publishing: asked at once.
	if _, err := a.SetRelays([]string{crawl.DefaultRelays[0], relay.URL}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-asked:
	case <-time.After(30 * time.Second): // safety net
		st, _ := a.PublishingStatus()
		t.Fatalf("the relay added in Settings was never asked: %+v", st)
	}
	ps, err := a.PublishingStatus()
	if err != nil || !slices.Equal(ps.Config.Relays, []string{crawl.DefaultRelays[0], relay.URL}) || len(ps.Relays) != 2 || ps.Relays[1].Relay != relay.URL {
		t.Fatalf("Publish screen while publishing: %+v %v", ps, err)
	}

	// Emptied: back to the defaults, the named relay no longer supervised.
	if s, err := a.SetRelays(nil); err != nil || !s.RelaysDefault {
		t.Fatalf("reset: %+v %v", s, err)
	}
	if ps, err := a.PublishingStatus(); err != nil || len(ps.Relays) != 1 || ps.Relays[0].Relay != crawl.DefaultRelays[0] {
		t.Fatalf("after the reset: %+v %v", ps, err)
	}
}
