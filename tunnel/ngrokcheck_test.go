package tunnel_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.ngrok.com/ngrok/v2"

	"github.com/hearth-pds/hearth/tunnel"
)

// codeErr has the shape of the errors ngrok's service returns (ngrok.Error).
type codeErr struct{ code, msg string }

func (e codeErr) Error() string { return e.msg + "\n\n" + e.code }
func (e codeErr) Code() string  { return e.code }

var _ ngrok.Error = codeErr{}

func TestExplainNgrok(t *testing.T) {
	for _, tt := range []struct {
		name      string
		err       error
		kind      string
		permanent bool
		sentence  string // a part of it
	}{
		{"invalid token", codeErr{"ERR_NGROK_105", "The authtoken you specified does not look like a proper ngrok authtoken."}, tunnel.ProblemInvalidToken, true, "did not accept this authtoken"},
		{"token reset", fmt.Errorf("open ngrok endpoint: %w", codeErr{"ERR_NGROK_107", "The authtoken you specified is properly formed, but it is invalid."}), tunnel.ProblemInvalidToken, true, "copy it again"},
		{"one agent at a time", codeErr{"ERR_NGROK_108", "Your account is limited to 1 simultaneous ngrok agent sessions."}, tunnel.ProblemAccountLimit, true, "only one at a time"},
		{"domain not yours", codeErr{"ERR_NGROK_320", "The domain 'x.ngrok.app' is not reserved for your account."}, tunnel.ProblemDomain, true, "refused the domain"},
		{"plan", codeErr{"ERR_NGROK_9999", "This feature requires a paid plan; upgrade."}, tunnel.ProblemAccountLimit, true, "plan does not allow"},
		{"dns", fmt.Errorf("failed to dial ngrok server: %w", &net.DNSError{Err: "no such host", Name: "connect.ngrok-agent.com", IsNotFound: true}), tunnel.ProblemNoNetwork, false, "could not reach ngrok"},
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}, tunnel.ProblemNoNetwork, false, "check that this computer is online"},
		{"timeout", fmt.Errorf("dial: %w", context.DeadlineExceeded), tunnel.ProblemNoNetwork, false, "could not reach ngrok"},
		{"other ngrok code", codeErr{"ERR_NGROK_1234", "something"}, tunnel.ProblemOther, false, "(ERR_NGROK_1234)"},
		{"other", errors.New("boom"), tunnel.ProblemOther, false, "could not connect"},
	} {
		p := tunnel.ExplainNgrok(tt.err)
		if p.Kind != tt.kind || p.Permanent != tt.permanent || !strings.Contains(p.Sentence, tt.sentence) || p.Detail != tt.err.Error() {
			t.Errorf("%s: %+v", tt.name, p)
		}
		if strings.Contains(p.Sentence, "\n") || strings.Contains(p.Sentence, "ERR_NGROK_1") && tt.kind != tunnel.ProblemOther {
			t.Errorf("%s: not one plain sentence: %q", tt.name, p.Sentence)
		}
		if tunnel.IsPermanent(p) != tt.permanent {
			t.Errorf("%s: IsPermanent = %v", tt.name, !tt.permanent)
		}
	}
	if tunnel.ExplainNgrok(nil) != nil {
		t.Error("nil error explained")
	}
}

// The real ngrok agent, pointed at a loopback port where nothing listens
// (as when the network is down): one plain sentence, not permanent.
func TestCheckNgrokTokenNoNetwork(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = tunnel.CheckNgrokToken(context.Background(), "2abcdefTESTTOKEN_not_real", ngrok.WithAgentConnectURL(addr))
	var p *tunnel.Problem
	if !errors.As(err, &p) || p.Kind != tunnel.ProblemNoNetwork || p.Permanent || p.Detail == "" {
		t.Fatalf("CheckNgrokToken with no ngrok reachable: %#v (%v)", p, err)
	}
	t.Logf("answered in %s: %q (detail %q)", time.Since(start).Round(time.Millisecond), p.Sentence, p.Detail)
	if err := tunnel.CheckNgrokToken(context.Background(), "  "); !tunnel.IsPermanent(err) {
		t.Fatalf("empty token: %v", err)
	}
}

// countingProvider counts Opens of the provider it wraps.
type countingProvider struct {
	tunnel.Provider
	opens atomic.Int32
}

func (c *countingProvider) Open(ctx context.Context) (net.Listener, string, error) {
	c.opens.Add(1)
	return c.Provider.Open(ctx)
}

// A permanent problem (a wrong token) is said once, with its detail, and
// not retried in a loop.
func TestManagerStopsOnPermanentProblem(t *testing.T) {
	lb := &tunnel.Loopback{}
	lb.FailWith(tunnel.ExplainNgrok(codeErr{"ERR_NGROK_105", "The authtoken you specified does not look like a proper ngrok authtoken."}))
	p := &countingProvider{Provider: lb}
	rec := newRecorder()
	m := tunnel.NewManager(p, http.NotFoundHandler(), tunnel.Options{MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond, OnStatus: rec.on})
	m.Start()
	defer m.Stop()
	st := rec.waitFor(t, tunnel.Offline)
	if !st.Stuck || !strings.Contains(st.Reason, "did not accept this authtoken") || !strings.Contains(st.Detail, "ERR_NGROK_105") {
		t.Fatalf("status %+v", st)
	}
	time.Sleep(50 * time.Millisecond) // fifty backoffs' worth
	if n := p.opens.Load(); n != 1 {
		t.Fatalf("a permanent problem was retried: %d opens", n)
	}
}
