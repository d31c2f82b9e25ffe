package tunnel_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/tunnel"
)

var ctx = context.Background()

type recorder struct {
	mu  sync.Mutex
	all []tunnel.Status
	ch  chan tunnel.Status
}

func newRecorder() *recorder { return &recorder{ch: make(chan tunnel.Status, 100)} }

func (r *recorder) on(s tunnel.Status) {
	r.mu.Lock()
	r.all = append(r.all, s)
	r.mu.Unlock()
	r.ch <- s
}

func (r *recorder) waitFor(t *testing.T, st tunnel.State) tunnel.Status {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case s := <-r.ch:
			if s.State == st {
				return s
			}
		case <-timeout:
			t.Fatalf("never reached %s", st)
		}
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestLoopbackStateMachineMovesIdentityOnce drives the tunnel through
// drops, reconnects on the same URL and a URL change, with the engine
// publishing identity on every online transition, and checks that only the
// change produced a PLC update and an #identity event.
func TestLoopbackStateMachineMovesIdentityOnce(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	lb := &tunnel.Loopback{SamePort: true}
	rec := newRecorder()
	var moves []int
	var mu sync.Mutex
	m := tunnel.NewManager(lb, p.Server, tunnel.Options{MinBackoff: 10 * time.Millisecond, OnStatus: func(s tunnel.Status) {
		if s.State == tunnel.Online {
			n, err := p.Engine.Identity.SetPublicURL(ctx, s.URL)
			if err != nil {
				t.Errorf("SetPublicURL: %v", err)
			}
			mu.Lock()
			moves = append(moves, n)
			mu.Unlock()
		}
		rec.on(s)
	}})
	m.Start()
	defer m.Stop()

	on := rec.waitFor(t, tunnel.Online)
	if !strings.Contains(get(t, on.URL+"/xrpc/com.atproto.server.describeServer"), `"did"`) {
		t.Fatal("the tunnel does not serve the PDS")
	}
	identityCount := func() int {
		evs, _ := p.Engine.Events.Range(ctx, 0, 1000, 0, a.DID)
		n := 0
		for _, e := range evs {
			if e.Kind == "#identity" {
				n++
			}
		}
		return n
	}
	base := identityCount()

	// Drop and reconnect on the same URL: no new PLC operation.
	if err := lb.Drop(); err != nil {
		t.Fatal(err)
	}
	off := rec.waitFor(t, tunnel.Offline)
	if off.Reason == "" || off.URL != on.URL {
		t.Fatalf("offline status %+v", off)
	}
	on2 := rec.waitFor(t, tunnel.Online)
	if on2.URL != on.URL {
		t.Fatalf("same-port reconnect moved the URL: %s -> %s", on.URL, on2.URL)
	}
	// A failing reconnect reports the reason and retries.
	lb.FailWith(errors.New("network unreachable"))
	if err := lb.Drop(); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, tunnel.Offline)
	off2 := rec.waitFor(t, tunnel.Offline)
	if !strings.Contains(off2.Reason, "network unreachable") {
		t.Fatalf("reason = %q", off2.Reason)
	}
	// Back, on a new URL: exactly one update.
	lb.SamePort = false
	lb.FailWith(nil)
	on3 := rec.waitFor(t, tunnel.Online)
	if on3.URL == on.URL {
		t.Fatal("expected a new URL")
	}
	mu.Lock()
	got := append([]int(nil), moves...)
	mu.Unlock()
	if len(got) != 3 || got[0] != 1 || got[1] != 0 || got[2] != 1 {
		t.Fatalf("PLC updates per online transition = %v, want [1 0 1]", got)
	}
	if d := identityCount() - base; d != 1 {
		t.Fatalf("%d #identity events after the URL change, want 1", d)
	}
	dir := &identity.BaseDirectory{PLCURL: p.PLC.URL, SkipHandleVerification: true}
	id, err := dir.LookupDID(ctx, syntax.DID(a.DID))
	if err != nil || id.PDSEndpoint() != on3.URL {
		t.Fatalf("DID document points at %q (%v), want %s", id.PDSEndpoint(), err, on3.URL)
	}
	m.Stop()
	if st := m.Status(); st.State != tunnel.Stopped {
		t.Fatalf("after stop: %+v", st)
	}
	if _, err := http.Get(on3.URL + "/xrpc/_health"); err == nil {
		t.Fatal("still serving after stop")
	}
}

func TestStartTimeout(t *testing.T) {
	rec := newRecorder()
	m := tunnel.NewManager(hangProvider{}, http.NotFoundHandler(), tunnel.Options{StartTimeout: 50 * time.Millisecond, MinBackoff: time.Hour, OnStatus: rec.on})
	m.Start()
	defer m.Stop()
	off := rec.waitFor(t, tunnel.Offline)
	if !strings.Contains(off.Reason, "could not connect within") {
		t.Fatalf("reason = %q", off.Reason)
	}
}

type hangProvider struct{}

func (hangProvider) Kind() string { return "hang" }
func (hangProvider) Open(ctx context.Context) (net.Listener, string, error) {
	<-ctx.Done()
	return nil, "", ctx.Err()
}

func TestBringYourOwnAndURLChecks(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://pds.example.com":      true,
		"https://pds.example.com/":     true,
		"http://pds.example.com":       false,
		"https://pds.example.com/xrpc": false,
		"pds.example.com":              false,
		"http://localhost:2583":        true,
		"":                             false,
	} {
		if _, err := tunnel.CheckPublicURL(raw); (err == nil) != ok {
			t.Errorf("CheckPublicURL(%q) = %v", raw, err)
		}
	}
	rec := newRecorder()
	m := tunnel.NewManager(tunnel.BringYourOwn{URL: "https://pds.example.com/"}, http.NotFoundHandler(), tunnel.Options{OnStatus: rec.on})
	m.Start()
	on := rec.waitFor(t, tunnel.Online)
	if on.URL != "https://pds.example.com" || on.Kind != "byo" {
		t.Fatalf("BYO status %+v", on)
	}
	m.Stop()
}

func TestNgrokPlan(t *testing.T) {
	t.Setenv("NGROK_AUTHTOKEN", "")
	cases := []struct {
		n       *tunnel.Ngrok
		env     string
		want    tunnel.NgrokPlan
		wantErr bool
	}{
		{n: &tunnel.Ngrok{}, wantErr: true},
		{n: &tunnel.Ngrok{Authtoken: " tok "}, want: tunnel.NgrokPlan{Authtoken: "tok"}},
		{n: &tunnel.Ngrok{}, env: "envtok", want: tunnel.NgrokPlan{Authtoken: "envtok"}},
		{n: &tunnel.Ngrok{Authtoken: "t", Domain: "me.ngrok.app"}, want: tunnel.NgrokPlan{Authtoken: "t", URL: "https://me.ngrok.app"}},
		{n: &tunnel.Ngrok{Authtoken: "t", Domain: "https://me.ngrok.app/"}, want: tunnel.NgrokPlan{Authtoken: "t", URL: "https://me.ngrok.app"}},
		{n: &tunnel.Ngrok{Authtoken: "t", Domain: "me.ngrok.app/path"}, wantErr: true},
	}
	for i := range cases {
		tc := &cases[i]
		t.Setenv("NGROK_AUTHTOKEN", tc.env)
		got, err := tc.n.Plan()
		if (err != nil) != tc.wantErr || (!tc.wantErr && got != tc.want) {
			t.Errorf("case %d: plan = %+v, %v", i, got, err)
		}
	}
	// Without a token, Open fails at once with a clear message (no hang).
	t.Setenv("NGROK_AUTHTOKEN", "")
	if _, _, err := (&tunnel.Ngrok{}).Open(ctx); !errors.Is(err, tunnel.ErrNoAuthtoken) {
		t.Fatalf("open without token: %v", err)
	}
}
