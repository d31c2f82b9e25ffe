package identity

import (
	"net/url"
	"slices"
	"testing"

	"github.com/bluesky-social/indigo/atproto/syntax"
)

func TestUserDomains(t *testing.T) {
	for _, tc := range []struct {
		public     string
		configured []string
		want       []string
		under      map[string]bool
	}{
		{"https://pds.example.com", nil, []string{".pds.example.com"}, map[string]bool{"alice.pds.example.com": true, "pds.example.com": false, "alice.example.com": false}},
		{"http://localhost:2583", nil, []string{}, map[string]bool{"alice.test": false}},
		{"http://127.0.0.1:2583", nil, []string{}, nil},
		{"http://localhost:2583", []string{"test", ".Example.Org", "", "bad domain"}, []string{".test", ".example.org"}, map[string]bool{"alice.test": true, "a.b.example.org": true, "test": false, "alicetest": false}},
	} {
		u, _ := url.Parse(tc.public)
		i := New(nil, nil, nil, Config{PublicURL: u, UserDomains: tc.configured})
		if got := i.UserDomains(); !slices.Equal(got, tc.want) {
			t.Errorf("%s %v: UserDomains = %v, want %v", tc.public, tc.configured, got, tc.want)
		}
		for h, want := range tc.under {
			if got := i.UnderUserDomain(syntax.Handle(h)); got != want {
				t.Errorf("%s %v: UnderUserDomain(%s) = %v", tc.public, tc.configured, h, got)
			}
		}
	}
}

func TestServiceDIDs(t *testing.T) {
	for public, want := range map[string][]string{
		"https://pds.example.com": {"did:web:pds.example.com"},
		"http://localhost:2583":   {"did:web:localhost", "did:web:localhost%3A2583"},
	} {
		u, _ := url.Parse(public)
		if got := New(nil, nil, nil, Config{PublicURL: u}).ServiceDIDs(); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", public, got, want)
		}
	}
}
