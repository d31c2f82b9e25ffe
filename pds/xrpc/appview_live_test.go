package xrpc_test

import (
	"sync"
	"testing"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds"
	"github.com/hearth-pds/hearth/pds/identity"
	"github.com/hearth-pds/hearth/pds/xrpc"
)

// The AppView can change while the PDS runs (the Settings screen): the
// next app.bsky.* call goes to the new one, with service auth for its
// DID, and the proxy trusts its (loopback) origin without
// --allow-private-network; a refused value changes nothing.
func TestSetAppViewAppliesLive(t *testing.T) {
	const audA, audB = "did:web:a.appview.test", "did:web:b.appview.test"
	upA, upB := newUpstream(t, false, audA), newUpstream(t, false, audB)
	env := startProxyEnv(t, "https://unused.invalid", func(c *pds.Config) {
		c.AppViewURL, c.AppViewDID = upA.srv.URL, audA
		c.Directory.(*testDir).forbidden = map[syntax.DID]bool{audA: true, audB: true}
		upA.plcURL, upB.plcURL = c.PLCURL, c.PLCURL
	}, xrpc.Options{})
	e := env.p.Engine
	call := func() int {
		st, _, _ := env.do(t, "GET", "/xrpc/app.bsky.actor.getProfile?actor=bob.test", env.access, nil)
		return st
	}
	if st := call(); st != 200 {
		t.Fatalf("first AppView call: %d", st)
	}
	if got := upA.last(t); got.Aud != audA || got.ValidErr != "" {
		t.Fatalf("AppView A saw aud %q (%s)", got.Aud, got.ValidErr)
	}

	for _, bad := range []struct{ url, did string }{
		{"ftp://" + upB.srv.Listener.Addr().String(), audB},
		{upB.srv.URL + "/path", audB},
		{upB.srv.URL, "not a did"},
		{upB.srv.URL, audB + "#"},
	} {
		if _, err := e.SetAppView(bad.url, bad.did); err == nil {
			t.Errorf("SetAppView(%q, %q) accepted", bad.url, bad.did)
		}
	}
	if av, err := e.AppView(); err != nil || av.URL != upA.srv.URL || av.DID != audA+"#bsky_appview" {
		t.Fatalf("after refused changes the AppView is %+v, %v", av, err)
	}

	av, err := e.SetAppView(upB.srv.URL+"/", audB+"#bsky_appview")
	if err != nil || av.URL != upB.srv.URL || av.DID != audB+"#bsky_appview" {
		t.Fatalf("SetAppView B: %+v, %v", av, err)
	}
	before := len(upA.requests())
	if st := call(); st != 200 {
		t.Fatalf("call after the change: %d", st)
	}
	if got := upB.last(t); got.Aud != audB || got.Lxm != "app.bsky.actor.getProfile" || got.ValidErr != "" {
		t.Fatalf("AppView B saw aud %q lxm %q (%s)", got.Aud, got.Lxm, got.ValidErr)
	}
	if n := len(upA.requests()); n != before {
		t.Fatalf("the old AppView still got %d calls", n-before)
	}

	// Changes while calls are in flight (run with -race).
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if st := call(); st != 200 {
				t.Errorf("call during changes: %d", st)
			}
		}()
		go func(i int) {
			defer wg.Done()
			u, d := upA.srv.URL, audA
			if i%2 == 1 {
				u, d = upB.srv.URL, audB
			}
			if _, err := e.SetAppView(u, d); err != nil {
				t.Errorf("SetAppView: %v", err)
			}
		}(i)
	}
	wg.Wait()

	av, err = e.SetAppView("", "")
	if err != nil || av.URL != identity.DefaultAppViewURL || av.DID != identity.DefaultAppViewDID+"#"+identity.DefaultAppViewServiceID {
		t.Fatalf("reset to the default: %+v, %v", av, err)
	}
}
