package oauth

import (
	"reflect"
	"testing"
)

// TestIncludeExpand: what a permission set grants through include:, per the
// reference's rules (IncludeScope in @atproto/oauth-scopes).
func TestIncludeExpand(t *testing.T) {
	perm := func(kv ...any) map[string]any {
		m := map[string]any{"type": "permission"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	arr := func(s ...string) []any {
		out := make([]any, len(s))
		for i, x := range s {
			out[i] = x
		}
		return out
	}
	for _, tc := range []struct {
		name, include string
		perms         []map[string]any
		want          []string
	}{
		{"repo in namespace", "include:com.example.app.full",
			[]map[string]any{perm("resource", "repo", "collection", arr("com.example.app.post"))},
			[]string{"repo:com.example.app.post"}},
		{"repo actions kept", "include:com.example.app.full",
			[]map[string]any{perm("resource", "repo", "collection", arr("com.example.app.post"), "action", arr("create"))},
			[]string{"repo:com.example.app.post?action=create"}},
		{"several collections", "include:com.example.app.full",
			[]map[string]any{perm("resource", "repo", "collection", arr("com.example.app.a", "com.example.app.b"))},
			[]string{"repo?collection=com.example.app.a&collection=com.example.app.b"}},
		{"string parameter", "include:com.example.app.full",
			[]map[string]any{perm("resource", "repo", "collection", "com.example.app.post")},
			[]string{"repo:com.example.app.post"}},
		{"repo outside namespace dropped", "include:com.example.app.full",
			[]map[string]any{perm("resource", "repo", "collection", arr("com.example.app.post", "app.bsky.feed.post"))}, nil},
		{"look-alike namespace dropped", "include:com.example.app.full",
			[]map[string]any{perm("resource", "repo", "collection", arr("com.example.apps.post"))}, nil},
		{"wildcard dropped", "include:com.example.app.full",
			[]map[string]any{perm("resource", "repo", "collection", arr("*"))}, nil},
		{"deeper namespace kept", "include:com.example.app.full",
			[]map[string]any{perm("resource", "repo", "collection", arr("com.example.app.sub.post"))},
			[]string{"repo:com.example.app.sub.post"}},
		{"rpc inherits aud", "include:com.example.app.full?aud=did:web:api.example.com%23app",
			[]map[string]any{perm("resource", "rpc", "lxm", arr("com.example.app.getFeed"), "inheritAud", true)},
			[]string{"rpc:com.example.app.getFeed?aud=did%3Aweb%3Aapi.example.com%23app"}},
		{"rpc inheritAud without an include aud dropped", "include:com.example.app.full",
			[]map[string]any{perm("resource", "rpc", "lxm", arr("com.example.app.getFeed"), "inheritAud", true)}, nil},
		{"rpc without aud dropped", "include:com.example.app.full?aud=did:web:api.example.com%23app",
			[]map[string]any{perm("resource", "rpc", "lxm", arr("com.example.app.getFeed"))}, nil},
		{"rpc aud * kept", "include:com.example.app.full?aud=did:web:api.example.com%23app",
			[]map[string]any{perm("resource", "rpc", "lxm", arr("com.example.app.getFeed"), "aud", "*")},
			[]string{"rpc:com.example.app.getFeed?aud=%2A"}},
		{"rpc with its own aud dropped", "include:com.example.app.full?aud=did:web:api.example.com%23app",
			[]map[string]any{perm("resource", "rpc", "lxm", arr("com.example.app.getFeed"), "aud", "did:web:evil.example#x", "inheritAud", true)}, nil},
		{"rpc outside namespace dropped", "include:com.example.app.full?aud=did:web:api.example.com%23app",
			[]map[string]any{perm("resource", "rpc", "lxm", arr("app.bsky.feed.getTimeline"), "inheritAud", true)}, nil},
		{"blob, account, identity dropped", "include:com.example.app.full",
			[]map[string]any{perm("resource", "blob", "accept", arr("*/*")), perm("resource", "account", "attr", "email"), perm("resource", "identity", "attr", "*")}, nil},
		{"invalid action dropped", "include:com.example.app.full",
			[]map[string]any{perm("resource", "repo", "collection", arr("com.example.app.post"), "action", arr("read"))}, nil},
		{"not a permission dropped", "include:com.example.app.full",
			[]map[string]any{{"type": "other", "resource": "repo", "collection": arr("com.example.app.post")}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inc, err := parseInclude(tc.include)
			if err != nil || inc == nil {
				t.Fatalf("parseInclude: %v", err)
			}
			got := inc.expand(&PermissionSet{NSID: inc.nsid.String(), Permissions: tc.perms})
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for _, s := range got {
				if _, err := ParseGrantedScopes(s); err != nil {
					t.Fatalf("granted scope %q does not parse: %v", s, err)
				}
			}
		})
	}
}
