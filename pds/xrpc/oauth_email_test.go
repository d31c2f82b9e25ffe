package xrpc_test

import (
	"testing"

	"github.com/hearth-pds/hearth/internal/testpds"
)

// TestOAuthGetSessionEmail: getSession shows the email (and whether it is
// confirmed) only to apps granted transition:email or account:email, as the
// reference PDS does; a legacy session always sees it.
func TestOAuthGetSessionEmail(t *testing.T) {
	p, did := startOAuthPDS(t)
	for _, tc := range []struct {
		scope string
		email bool
	}{
		{"atproto", false},
		{"atproto transition:generic", false},
		{"atproto transition:email", true},
		{"atproto transition:generic transition:email", true},
		{"atproto account:email", true},
		{"atproto account:email?action=manage", true},
		{"atproto account:status", false},
	} {
		t.Run(tc.scope, func(t *testing.T) {
			c := newDPoPClient(t, p.URL, tc.scope)
			s := c.signIn(p, "alice.test", tc.scope)
			status, out, _ := c.xrpc("GET", "com.atproto.server.getSession", s.access, nil)
			if status != 200 || out["did"] != did {
				t.Fatalf("getSession: %d %v", status, out)
			}
			_, hasEmail := out["email"]
			_, hasConfirmed := out["emailConfirmed"]
			if hasEmail != tc.email || hasConfirmed != tc.email {
				t.Fatalf("email shown = %v (emailConfirmed %v), want %v: %v", hasEmail, hasConfirmed, tc.email, out)
			}
			if tc.email && out["email"] != "alice.test@example.com" {
				t.Fatalf("email = %v", out["email"])
			}
		})
	}
	var legacy map[string]any
	if err := p.Login(t, testpds.Account{DID: did, Password: "password-alice.test"}).Get(ctx, "com.atproto.server.getSession", nil, &legacy); err != nil {
		t.Fatal(err)
	}
	if legacy["email"] != "alice.test@example.com" {
		t.Fatalf("legacy session: %v", legacy)
	}
}
