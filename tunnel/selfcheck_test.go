package tunnel_test

import (
	"context"
	"fmt"
	"io"
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

func TestSelfCheck(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	in := tunnel.SelfCheckInput{PublicURL: p.URL, DID: a.DID, Handle: a.Handle, Dir: p.Dir, ResolveHandle: wellKnownResolver(p.URL)}
	for _, c := range tunnel.SelfCheck(ctx, in) {
		if !c.OK || c.Detail == "" {
			t.Errorf("%s failed: %+v", c.Name, c)
		}
	}
	// Pointing at a dead URL: every check fails with a hint, and the
	// handle check catches a handle that is not ours.
	in.PublicURL = "http://127.0.0.1:9"
	in.Handle = "nobody.test"
	for _, c := range tunnel.SelfCheck(ctx, in) {
		if c.OK || c.Hint == "" {
			t.Errorf("%s should fail with a hint: %+v", c.Name, c)
		}
	}
}
