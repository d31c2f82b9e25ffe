package auth

import (
	"errors"
	"testing"
	"time"
)

// FuzzParseToken feeds arbitrary strings, and valid tokens with bytes
// spliced in, to the token parsers. They must never panic, and a token that
// verifies must carry exactly the claims it was signed with: no edit of a
// signed token may change who it names or what it allows.
func FuzzParseToken(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	iss := &Issuer{Secret: []byte("fuzz-secret-0123456789abcdef"), ServiceDID: "did:web:pds.test",
		AccessTTL: time.Hour, RefreshTTL: 24 * time.Hour, Now: func() time.Time { return now }}
	const did = "did:plc:abcdefghijklmnopqrstuvwx"
	access, err := iss.Access(did, ScopeAppPass)
	if err != nil {
		f.Fatal(err)
	}
	refresh, _, err := iss.Refresh(did, "token-id")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []struct {
		pos  uint16
		edit string
		tok  bool
	}{
		{0, "", true}, {0, "", false}, {5, "x", true}, {40, ".", false}, {200, "=", true},
		{0, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJkaWQ6cGxjOngifQ.", false},
		{0, "eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCJ9..", true},
	} {
		f.Add(seed.pos, seed.edit, seed.tok)
	}
	f.Fuzz(func(t *testing.T, pos uint16, edit string, useAccess bool) {
		base := refresh
		if useAccess {
			base = access
		}
		p := int(pos) % (len(base) + 1)
		tok := base[:p] + edit + base[p:]
		if edit == "" {
			tok = edit + base[:p] // a truncated token
		}
		for _, parse := range []func(string) (*Claims, error){iss.ParseAccess, iss.ParseRefresh} {
			c, err := parse(tok)
			if err != nil {
				if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrExpired) && !errors.Is(err, ErrWrongType) {
					t.Fatalf("parse %q: error of no known kind: %v", tok, err)
				}
				continue
			}
			if c.DID != did {
				t.Fatalf("edited token %q verified for %q", tok, c.DID)
			}
			if (c.Scope == ScopeRefresh) == useAccess {
				t.Fatalf("edited token %q changed kind: scope %q", tok, c.Scope)
			}
		}
	})
}
