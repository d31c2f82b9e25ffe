package oauth

import "testing"

func TestScopesAllowsAccount(t *testing.T) {
	for _, tc := range []struct {
		scope, attr, action string
		want                bool
	}{
		{"atproto transition:email", "email", "read", true},
		{"atproto transition:email", "email", "manage", false},
		{"atproto transition:generic", "email", "read", false},
		{"atproto account:email", "email", "read", true},
		{"atproto account:email", "email", "manage", false},
		{"atproto account:email?action=manage", "email", "read", true},
		{"atproto account:email?action=manage", "email", "manage", true},
		{"atproto account:status", "email", "read", false},
		{"atproto account:status", "status", "read", true},
		{"atproto", "email", "read", false},
	} {
		s, err := ParseScopes(tc.scope)
		if err != nil {
			t.Fatalf("%s: %v", tc.scope, err)
		}
		if got := s.AllowsAccount(tc.attr, tc.action); got != tc.want {
			t.Errorf("%q AllowsAccount(%s, %s) = %v, want %v", tc.scope, tc.attr, tc.action, got, tc.want)
		}
	}
}

func TestScopesAllowsIdentity(t *testing.T) {
	for _, tc := range []struct {
		scope, attr string
		want        bool
	}{
		{"atproto identity:handle", "handle", true},
		{"atproto identity:handle", "*", false},
		{"atproto identity:*", "handle", true},
		{"atproto identity:*", "*", true},
		{"atproto identity?attr=handle", "handle", true},
		{"atproto transition:generic", "handle", false},
		{"atproto account:status?action=manage", "handle", false},
	} {
		s, err := ParseScopes(tc.scope)
		if err != nil {
			t.Fatalf("%s: %v", tc.scope, err)
		}
		if got := s.AllowsIdentity(tc.attr); got != tc.want {
			t.Errorf("%q AllowsIdentity(%s) = %v, want %v", tc.scope, tc.attr, got, tc.want)
		}
	}
}
