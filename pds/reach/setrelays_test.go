package reach

import (
	"testing"
	"time"
)

// Relays changed while online: a new relay is announced to at once, a
// kept one keeps its subscription (no second announcement), a removed one
// is no longer asked or reported.
func TestSetRelaysWhileOnline(t *testing.T) {
	a, b, c := newTestRelay(t), newTestRelay(t), newTestRelay(t)
	s := New(fast(Relay{URL: a.srv.URL, Explicit: true}, Relay{URL: b.srv.URL, Explicit: true}))
	defer s.Close()
	if err := s.SetHost("http://localhost:2583"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, a.srv.URL, subscribed)
	waitFor(t, s, b.srv.URL, subscribed)
	aCrawls := a.crawls.Load()

	if err := s.SetRelays([]Relay{{URL: a.srv.URL + "/", Explicit: true}, {URL: c.srv.URL, Explicit: true}, {URL: c.srv.URL, Explicit: true}}); err != nil {
		t.Fatal(err)
	}
	st := waitFor(t, s, c.srv.URL, subscribed)
	if st.Hostname != "localhost:2583" || st.Announces != 1 {
		t.Fatalf("new relay %+v", st)
	}
	got := s.Status()
	if len(got) != 2 || got[0].Relay != a.srv.URL || got[1].Relay != c.srv.URL || got[0].State != StateSubscribed {
		t.Fatalf("relays after the change: %+v", got)
	}
	if n := a.crawls.Load(); n != aCrawls {
		t.Fatalf("kept relay was announced to again (%d → %d)", aCrawls, n)
	}
	// The removed relay is asked nothing more, even when it forgets us.
	b.forget()
	bCrawls := b.crawls.Load()
	time.Sleep(200 * time.Millisecond) // ten check intervals of fast()
	if n := b.crawls.Load(); n != bCrawls {
		t.Fatalf("removed relay still asked (%d → %d)", bCrawls, n)
	}

	// Offline, then a change: new relays wait idle until online.
	if err := s.SetHost(""); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRelays([]Relay{{URL: b.srv.URL, Explicit: true}}); err != nil {
		t.Fatal(err)
	}
	if got := s.Status(); len(got) != 1 || got[0].State != StateIdle {
		t.Fatalf("offline change: %+v", got)
	}
	s.Close()
	if err := s.SetRelays(nil); err == nil {
		t.Fatal("SetRelays after Close accepted")
	}
}
