package reach

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testRelay speaks the two methods the supervisor uses, with a relay's
// memory of hosts that forget() wipes (a relay restarted with empty state).
type testRelay struct {
	srv        *httptest.Server
	refuse     atomic.Int32 // answer requestCrawl with 503 this many more times
	noStatus   bool         // no getHostStatus (an older relay)
	hostStatus string       // what getHostStatus says for a known host (default active)
	crawls     atomic.Int32
	mu         sync.Mutex
	hosts      map[string]int64
	asked      []string
}

func newTestRelay(t *testing.T) *testRelay {
	r := &testRelay{hosts: map[string]int64{}, hostStatus: "active"}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch req.URL.Path {
		case "/xrpc/com.atproto.sync.requestCrawl":
			var in struct{ Hostname string }
			if err := json.NewDecoder(req.Body).Decode(&in); err != nil {
				t.Errorf("requestCrawl body: %v", err)
			}
			r.crawls.Add(1)
			if r.refuse.Add(-1) >= 0 {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte(`{"error":"Unavailable","message":"busy"}`))
				return
			}
			r.mu.Lock()
			r.asked = append(r.asked, in.Hostname)
			r.hosts[in.Hostname] = 7
			r.mu.Unlock()
			_, _ = w.Write([]byte(`{}`))
		case "/xrpc/com.atproto.sync.getHostStatus":
			if r.noStatus {
				http.NotFound(w, req)
				return
			}
			r.mu.Lock()
			seq, ok := r.hosts[req.URL.Query().Get("hostname")]
			r.mu.Unlock()
			if !ok {
				w.WriteHeader(http.StatusNotFound)
				_, _ = w.Write([]byte(`{"error":"HostNotFound","message":"host not found"}`))
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"hostname": req.URL.Query().Get("hostname"), "seq": seq, "status": r.hostStatus})
		default:
			http.NotFound(w, req)
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *testRelay) forget() {
	r.mu.Lock()
	r.hosts = map[string]int64{}
	r.mu.Unlock()
}

func fast(relays ...Relay) Config {
	return Config{Relays: relays, MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
		Settle: time.Millisecond, CheckEvery: 20 * time.Millisecond, Watch: time.Hour,
		Network: func() (string, error) { return "", nil }}
}

func waitFor(t *testing.T, s *Supervisor, relay string, ok func(Status) bool) Status {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, st := range s.Status() {
			if st.Relay == relay && ok(st) {
				return st
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("relay %s never reached the wanted state: %+v", relay, s.Status())
	return Status{}
}

func subscribed(st Status) bool { return st.State == StateSubscribed }

func TestHostOf(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"http://localhost:2583", "localhost:2583"},
		{"https://pds.example.com", "pds.example.com"},
		{"https://PDS.Example.com:8443/", "pds.example.com:8443"},
		{"https://abc.ngrok-free.app", "abc.ngrok-free.app"},
		{"http://[::1]:2583", "[::1]:2583"},
		{"", ""}, {"pds.example.com", ""}, {"ftp://x.example.com", ""}, {"http://", ""},
	} {
		got, err := HostOf(tt.in)
		if (err != nil) != (tt.want == "") || got != tt.want {
			t.Errorf("HostOf(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestWakeDetector(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name       string
		wall, mono time.Duration // since the first reading
		want       time.Duration
	}{
		{"awake: both clocks moved alike", 5 * time.Second, 5 * time.Second, 0},
		{"small drift is not sleep", 5*time.Second + 19*time.Second, 5 * time.Second, 0},
		{"slept ten minutes", 10*time.Minute + 5*time.Second, 5 * time.Second, 10 * time.Minute},
		{"wall clock set back", -time.Hour, 5 * time.Second, 0},
	} {
		w := WakeDetector{Gap: 20 * time.Second}
		if got := w.Observe(Reading{Wall: t0, Mono: time.Minute}); got != 0 {
			t.Fatalf("first reading reported sleep %s", got)
		}
		if got := w.Observe(Reading{Wall: t0.Add(tt.wall), Mono: time.Minute + tt.mono}); got != tt.want {
			t.Errorf("%s: slept %s, want %s", tt.name, got, tt.want)
		}
	}
}

// A relay that is not up yet (503s), then accepts: announced again with
// backoff until it does, and then reported subscribed with its seq.
func TestAnnouncesUntilSubscribed(t *testing.T) {
	r := newTestRelay(t)
	r.refuse.Store(3)
	s := New(fast(Relay{URL: r.srv.URL, Explicit: true}))
	defer s.Close()
	if st := s.Status()[0]; st.State != StateIdle {
		t.Fatalf("before SetHost: %+v", st)
	}
	if err := s.SetHost("http://localhost:2583"); err != nil {
		t.Fatal(err)
	}
	st := waitFor(t, s, r.srv.URL, subscribed)
	if st.Hostname != "localhost:2583" || !st.HasSeq || st.Seq != 7 || st.HostStatus != "active" || st.Announces != 4 {
		t.Fatalf("subscribed status %+v (want localhost:2583, seq 7, 4 announcements)", st)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.asked) != 1 || r.asked[0] != "localhost:2583" {
		t.Fatalf("relay was asked for %v", r.asked)
	}
}

// A relay restarted with empty state forgets us: the next check notices
// and announces again, without anyone asking.
func TestReannouncesWhenRelayForgets(t *testing.T) {
	r := newTestRelay(t)
	s := New(fast(Relay{URL: r.srv.URL, Explicit: true}))
	defer s.Close()
	if err := s.SetHost("https://pds.example.com"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, r.srv.URL, subscribed)
	before := r.crawls.Load()
	r.forget()
	st := waitFor(t, s, r.srv.URL, func(st Status) bool { return subscribed(st) && st.Announces > int(before) })
	if r.crawls.Load() <= before {
		t.Fatalf("no new announcement after the relay forgot us: %+v", st)
	}
}

// While the relay refuses, the status names the reason and the next retry,
// and the wait never grows beyond MaxBackoff.
func TestNotSubscribedReasonAndCappedBackoff(t *testing.T) {
	r := newTestRelay(t)
	r.refuse.Store(1 << 30)
	cfg := fast(Relay{URL: r.srv.URL, Explicit: true})
	s := New(cfg)
	defer s.Close()
	if err := s.SetHost("https://pds.example.com"); err != nil {
		t.Fatal(err)
	}
	st := waitFor(t, s, r.srv.URL, func(st Status) bool { return st.Announces >= 6 })
	if st.State != StateNotSubscribed || !strings.Contains(st.Reason, "503") || st.NextRetry.IsZero() {
		t.Fatalf("status while refused: %+v", st)
	}
	if wait := time.Until(st.NextRetry); wait > cfg.MaxBackoff {
		t.Fatalf("next retry in %s, more than the %s cap", wait, cfg.MaxBackoff)
	}
}

func TestHostStatusOtherThanActive(t *testing.T) {
	r := newTestRelay(t)
	r.hostStatus = "throttled"
	s := New(fast(Relay{URL: r.srv.URL, Explicit: true}))
	defer s.Close()
	if err := s.SetHost("https://pds.example.com"); err != nil {
		t.Fatal(err)
	}
	st := waitFor(t, s, r.srv.URL, func(st Status) bool { return st.State == StateNotSubscribed })
	if !strings.Contains(st.Reason, "throttled") || st.HostStatus != "throttled" {
		t.Fatalf("status %+v", st)
	}
}

// Default relays are never asked for a private host; named ones are. An
// offline SetHost("") idles everyone.
func TestPolicyDefaultVersusExplicit(t *testing.T) {
	def, named := newTestRelay(t), newTestRelay(t)
	s := New(fast(Relay{URL: def.srv.URL}, Relay{URL: named.srv.URL, Explicit: true}))
	defer s.Close()
	if err := s.SetHost("http://192.168.1.20:2583"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, named.srv.URL, subscribed)
	st := waitFor(t, s, def.srv.URL, func(st Status) bool { return st.State == StateIdle })
	if !strings.Contains(st.Reason, "private") || def.crawls.Load() != 0 {
		t.Fatalf("default relay for a private host: %+v, %d requests", st, def.crawls.Load())
	}
	if err := s.SetHost("https://pds.example.com"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, def.srv.URL, subscribed)
	if err := s.SetHost(""); err != nil {
		t.Fatal(err)
	}
	for _, st := range s.Status() {
		if st.State != StateIdle {
			t.Fatalf("offline: %+v", st)
		}
	}
	if err := s.SetHost("not a url"); err == nil {
		t.Fatal("SetHost accepted a URL without a scheme")
	}
}

// A relay without getHostStatus: subscribed while our firehose has a
// reader, not subscribed (and announced again) while it has none.
func TestFallbackOnFirehoseSubscribers(t *testing.T) {
	r := newTestRelay(t)
	r.noStatus = true
	var subs atomic.Int32
	cfg := fast(Relay{URL: r.srv.URL, Explicit: true})
	cfg.Subscribers = func() int { return int(subs.Load()) }
	s := New(cfg)
	defer s.Close()
	if err := s.SetHost("https://pds.example.com"); err != nil {
		t.Fatal(err)
	}
	st := waitFor(t, s, r.srv.URL, func(st Status) bool { return st.State == StateNotSubscribed })
	if !strings.Contains(st.Reason, "nobody is connected") {
		t.Fatalf("status %+v", st)
	}
	subs.Store(1)
	st = waitFor(t, s, r.srv.URL, subscribed)
	if st.HasSeq {
		t.Fatalf("a seq was reported by a relay that reports none: %+v", st)
	}
}

// A wake (the wall clock jumped past the monotonic one) announces again to
// a relay that is subscribed.
func TestWakeAnnouncesAgain(t *testing.T) {
	r := newTestRelay(t)
	var mu sync.Mutex
	now := Reading{Wall: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cfg := fast(Relay{URL: r.srv.URL, Explicit: true})
	cfg.CheckEvery = time.Hour // only a kick can cause another announcement
	cfg.Watch = 5 * time.Millisecond
	cfg.Clock = func() Reading {
		mu.Lock()
		defer mu.Unlock()
		now.Wall = now.Wall.Add(time.Millisecond)
		now.Mono += time.Millisecond
		return now
	}
	s := New(cfg)
	defer s.Close()
	if err := s.SetHost("https://pds.example.com"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, r.srv.URL, subscribed)
	time.Sleep(30 * time.Millisecond)
	before := r.crawls.Load()
	mu.Lock()
	now.Wall = now.Wall.Add(10 * time.Minute) // asleep: only the wall clock moved
	mu.Unlock()
	waitFor(t, s, r.srv.URL, func(st Status) bool { return st.Announces > int(before) })
}

// A network change does the same.
func TestNetworkChangeAnnouncesAgain(t *testing.T) {
	r := newTestRelay(t)
	var netName atomic.Value
	netName.Store("wifi-a")
	cfg := fast(Relay{URL: r.srv.URL, Explicit: true})
	cfg.CheckEvery = time.Hour
	cfg.Watch = 5 * time.Millisecond
	cfg.Network = func() (string, error) { return netName.Load().(string), nil }
	s := New(cfg)
	defer s.Close()
	if err := s.SetHost("https://pds.example.com"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, r.srv.URL, subscribed)
	time.Sleep(30 * time.Millisecond)
	before := r.crawls.Load()
	netName.Store("wifi-b")
	waitFor(t, s, r.srv.URL, func(st Status) bool { return st.Announces > int(before) })
}
