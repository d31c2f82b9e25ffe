package tunnel_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/tunnel"
)

// wellKnownResolver resolves a handle through the PDS's own
// /.well-known/atproto-did (over http on loopback, as a test stand-in for
// https on the handle's domain).
func wellKnownResolver(base string) func(context.Context, string) (string, error) {
	return func(ctx context.Context, handle string) (string, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/.well-known/atproto-did", nil)
		req.Host = handle
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return "", fmt.Errorf("well-known: HTTP %d", resp.StatusCode)
		}
		return strings.TrimSpace(string(b)), nil
	}
}

// selfCheckNames are SelfCheck's checks, in order: the server at the public
// URL, the DID document, the handle and the firehose handshake.
var selfCheckNames = []string{
	"Server answers at the public URL",
	"Your DID document points at this PDS",
	"Your handle resolves to your DID",
	"Relays can open the firehose",
}

// runSelfCheck runs SelfCheck, requires exactly the four checks in order and
// returns how many passed.
func runSelfCheck(t *testing.T, in tunnel.SelfCheckInput) (passed int, checks []tunnel.Check) {
	t.Helper()
	checks = tunnel.SelfCheck(ctx, in)
	if len(checks) != len(selfCheckNames) {
		t.Fatalf("SelfCheck returned %d checks, want %d: %+v", len(checks), len(selfCheckNames), checks)
	}
	for i, c := range checks {
		if c.Name != selfCheckNames[i] {
			t.Errorf("check %d is %q, want %q", i, c.Name, selfCheckNames[i])
		}
		if c.OK {
			passed++
		}
	}
	return passed, checks
}

// deadURL is a loopback URL nothing listens on: a port the kernel handed
// out and that was closed again.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	if err := ln.Close(); err != nil { // still listening: the URL would not be dead
		t.Fatal(err)
	}
	return u
}

func TestSelfCheck(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	in := tunnel.SelfCheckInput{PublicURL: p.URL, DID: a.DID, Handle: a.Handle, Dir: p.Dir, ResolveHandle: wellKnownResolver(p.URL)}
	passed, checks := runSelfCheck(t, in)
	if passed != 4 {
		t.Errorf("%d of 4 checks passed against a reachable PDS, want 4", passed)
	}
	for _, c := range checks {
		if !c.OK || c.Detail == "" || c.Hint != "" {
			t.Errorf("%s failed (or passed with a hint): %+v", c.Name, c)
		}
	}

	// Pointing at a dead URL: every check fails with a hint (the DID document
	// names p.URL, not the dead one), and the handle check catches a handle
	// that is not ours.
	in.PublicURL = deadURL(t)
	in.Handle = "nobody.test"
	passed, checks = runSelfCheck(t, in)
	if passed != 0 {
		t.Errorf("%d of 4 checks passed against a dead URL and a foreign handle, want 0", passed)
	}
	for _, c := range checks {
		if c.OK || c.Hint == "" || c.Detail == "" {
			t.Errorf("%s should fail with a detail and a hint: %+v", c.Name, c)
		}
	}

	// Only the handle is wrong: 3 of 4 pass.
	in.PublicURL = p.URL
	passed, checks = runSelfCheck(t, in)
	if passed != 3 || checks[2].OK {
		t.Errorf("with only a foreign handle %d of 4 checks passed (handle check OK=%v), want 3 with the handle failing: %+v", passed, checks[2].OK, checks)
	}

	// No resolvers configured: the DID and handle checks fail without a
	// hint, the other two pass.
	passed, checks = runSelfCheck(t, tunnel.SelfCheckInput{PublicURL: p.URL, DID: a.DID, Handle: a.Handle})
	if passed != 2 || checks[1].OK || checks[2].OK {
		t.Errorf("without resolvers %d of 4 checks passed, want 2 (server and firehose): %+v", passed, checks)
	}
}
