package xrpc_test

import (
	"slices"
	"testing"
)

// TestOAuthAccountPermissions: the account and identity methods an app may
// call are exactly those its account: and identity: permissions govern
// (transition:generic reaches none of them but checkAccountStatus and
// getRecommendedDidCredentials). Each call is made with an input the
// handler refuses or that changes nothing, so only the permission check
// decides between InsufficientScope and anything else.
func TestOAuthAccountPermissions(t *testing.T) {
	p, _ := startOAuthPDS(t)
	scopes := []string{
		"atproto",
		"atproto transition:generic",
		"atproto account:email",
		"atproto account:email?action=manage",
		"atproto account:repo?action=manage",
		"atproto account:status",
		"atproto account:status?action=manage",
		"atproto identity:handle",
		"atproto identity:*",
	}
	methods := []struct {
		method, nsid string
		body         any
		allowedBy    []string
	}{
		{"POST", "com.atproto.server.requestEmailConfirmation", map[string]any{}, []string{"atproto account:email?action=manage"}},
		{"POST", "com.atproto.server.confirmEmail", map[string]any{}, []string{"atproto account:email?action=manage"}},
		{"POST", "com.atproto.server.requestEmailUpdate", map[string]any{}, []string{"atproto account:email?action=manage"}},
		{"POST", "com.atproto.server.updateEmail", map[string]any{}, []string{"atproto account:email?action=manage"}},
		{"POST", "com.atproto.repo.importRepo", map[string]any{}, []string{"atproto account:repo?action=manage"}},
		{"POST", "com.atproto.server.deactivateAccount", map[string]any{"deleteAfter": 5}, []string{"atproto account:status?action=manage"}},
		{"POST", "com.atproto.server.activateAccount", nil, []string{"atproto account:status?action=manage"}},
		{"GET", "com.atproto.server.checkAccountStatus", nil, []string{"atproto transition:generic", "atproto account:status", "atproto account:status?action=manage"}},
		{"POST", "com.atproto.identity.updateHandle", map[string]any{}, []string{"atproto identity:handle", "atproto identity:*"}},
		{"POST", "com.atproto.identity.requestPlcOperationSignature", nil, []string{"atproto identity:*"}},
		{"POST", "com.atproto.identity.signPlcOperation", map[string]any{}, []string{"atproto identity:*"}},
		{"POST", "com.atproto.identity.submitPlcOperation", map[string]any{}, []string{"atproto identity:*"}},
		{"GET", "com.atproto.identity.getRecommendedDidCredentials", nil, []string{"atproto transition:generic", "atproto identity:*"}},
		// Never an app's, whatever it was granted.
		{"POST", "com.atproto.server.createAppPassword", map[string]any{}, nil},
		{"GET", "com.atproto.server.listAppPasswords", nil, nil},
	}
	for _, scope := range scopes {
		t.Run(scope, func(t *testing.T) {
			c := newDPoPClient(t, p.URL, scope)
			s := c.signIn(p, "alice.test", scope)
			for _, m := range methods {
				status, out, _ := c.xrpc(m.method, m.nsid, s.access, m.body)
				refused := status == 403 && out["error"] == "InsufficientScope"
				if want := slices.Contains(m.allowedBy, scope); refused == want || status == 401 {
					t.Errorf("%s: %d %v, want allowed=%v", m.nsid, status, out, want)
				}
			}
		})
	}
}
