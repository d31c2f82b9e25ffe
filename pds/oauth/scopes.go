package oauth

import (
	"fmt"
	"sort"
	"strings"
)

// The scopes this server lists in its metadata. Granular permission
// scopes (repo:, rpc:, blob:, account:, identity:) are accepted in
// requests and never listed, as the profile says.
const (
	ScopeAtproto    = "atproto"
	ScopeGeneric    = "transition:generic"
	ScopeChat       = "transition:chat.bsky"
	ScopeEmail      = "transition:email"
	maxScopeLength  = 4096
	maxScopeEntries = 64
)

// ScopesSupported is metadata's scopes_supported.
var ScopesSupported = []string{ScopeAtproto, ScopeGeneric, ScopeChat, ScopeEmail}

// Scopes is a parsed, normalised scope set.
type Scopes []string

// ParseScopes splits and checks a space-separated scope string, as a
// request may send it.
func ParseScopes(raw string) (Scopes, error) {
	return parseScopesLimited(raw, maxScopeLength, maxScopeEntries)
}

// ParseGrantedScopes parses a grant's scope: as requested, with the
// permission sets expanded (so it may be longer than a request's).
func ParseGrantedScopes(raw string) (Scopes, error) {
	return parseScopesLimited(raw, maxGrantedLength, maxGrantedEntries)
}

func parseScopesLimited(raw string, maxLength, maxEntries int) (Scopes, error) {
	if len(raw) > maxLength {
		return nil, fmt.Errorf("the scope is too long")
	}
	seen := map[string]bool{}
	var out Scopes
	for _, s := range strings.Fields(raw) {
		if seen[s] {
			continue
		}
		seen[s] = true
		if err := checkScopeSyntax(s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if len(out) > maxEntries {
		return nil, fmt.Errorf("too many scopes")
	}
	sort.Strings(out)
	return out, nil
}

func checkScopeSyntax(s string) error {
	switch {
	case s == ScopeAtproto, s == ScopeGeneric, s == ScopeChat, s == ScopeEmail:
		return nil
	case strings.HasPrefix(s, "include:"), strings.HasPrefix(s, "include?"):
		// A permission set: resolved from its lexicon at PAR time
		// (expandIncludes); grants never hold an include: itself.
		_, err := parseInclude(s)
		return err
	}
	// A granular permission: resource:positional?params or resource?params.
	p, err := parsePermission(s)
	if err != nil {
		return err
	}
	if p == nil {
		return fmt.Errorf("unknown scope %q", s)
	}
	return nil
}

// String joins the set with spaces.
func (s Scopes) String() string { return strings.Join(s, " ") }

// Has reports whether the set holds scope.
func (s Scopes) Has(scope string) bool { return contains(s, scope) }

// Subset reports whether every scope of s is in other.
func (s Scopes) Subset(other Scopes) bool {
	for _, x := range s {
		if !other.Has(x) {
			return false
		}
	}
	return true
}

// Privileged reports whether the grant reaches chat (like a privileged app
// password).
func (s Scopes) Privileged() bool { return s.Has(ScopeChat) }

// AllowsCall says whether a call of the XRPC method nsid is within the
// grant (nil) or why not. aud is the proxy target's service DID (with its
// #fragment) for proxied calls, "" for calls this PDS answers itself.
// collection is the record collection a repo write targets ("" when not a
// repo write or unknown).
func (s Scopes) AllowsCall(nsid, aud string) error {
	if !s.Has(ScopeAtproto) {
		return fmt.Errorf(`the grant lacks the "atproto" scope`)
	}
	if strings.HasPrefix(nsid, "chat.bsky.") {
		if s.Has(ScopeChat) {
			return nil
		}
		return fmt.Errorf("%s needs the %q scope, which this app was not granted", nsid, ScopeChat)
	}
	if nsid == "com.atproto.server.getSession" {
		return nil
	}
	if s.Has(ScopeGeneric) {
		return nil
	}
	for _, raw := range s {
		p, err := parsePermission(raw)
		if err != nil || p == nil {
			continue
		}
		if p.allowsCall(nsid, aud) {
			return nil
		}
	}
	return fmt.Errorf("%s is not within the permissions granted to this app", nsid)
}

// AllowsWrite says whether a repo write (action create, update or delete)
// of collection is within the grant.
func (s Scopes) AllowsWrite(collection, action string) error {
	if s.Has(ScopeGeneric) {
		return nil
	}
	for _, raw := range s {
		p, err := parsePermission(raw)
		if err != nil || p == nil {
			continue
		}
		if p.allowsWrite(collection, action) {
			return nil
		}
	}
	return fmt.Errorf("writing %s records (%s) is not within the permissions granted to this app", collection, action)
}

// AllowsBlob says whether uploading a blob of mime type is within the grant.
func (s Scopes) AllowsBlob(mime string) error {
	if s.Has(ScopeGeneric) {
		return nil
	}
	for _, raw := range s {
		p, err := parsePermission(raw)
		if err != nil || p == nil {
			continue
		}
		if p.allowsBlob(mime) {
			return nil
		}
	}
	return fmt.Errorf("uploading %s blobs is not within the permissions granted to this app", mime)
}

// AllowsAccount reports whether the grant may act on an account attribute
// (email, repo, status) with action (read or manage): transition:email
// reads the email; account:<attr> permissions name their actions, and
// manage includes read.
func (s Scopes) AllowsAccount(attr, action string) bool {
	if attr == "email" && action == "read" && s.Has(ScopeEmail) {
		return true
	}
	for _, raw := range s {
		p, err := parsePermission(raw)
		if err != nil || p == nil || p.resource != "account" || p.attr != attr {
			continue
		}
		if contains(p.actions, action) || (action == "read" && contains(p.actions, "manage")) {
			return true
		}
	}
	return false
}

// AllowsIdentity reports whether the grant may change the account's
// identity attribute attr: "handle" (identity:handle or identity:*) or
// "*" (the DID document itself, PLC operations: identity:* only).
// transition:generic never reaches identity, as in the reference.
func (s Scopes) AllowsIdentity(attr string) bool {
	for _, raw := range s {
		p, err := parsePermission(raw)
		if err != nil || p == nil || p.resource != "identity" {
			continue
		}
		if p.attr == "*" || p.attr == attr {
			return true
		}
	}
	return false
}

// Describe is the scope set in plain language, for the consent page and
// the desktop's Connected apps.
func (s Scopes) Describe() []string {
	var out []string
	for _, x := range s {
		switch x {
		case ScopeAtproto:
			out = append(out, "Know which account you are (your DID and handle)")
		case ScopeGeneric:
			out = append(out, "Read and write everything in your repository and use Bluesky app features, like an app password (not your password, email or identity)")
		case ScopeChat:
			out = append(out, "Read and send your Bluesky chat messages")
		case ScopeEmail:
			out = append(out, "See your email address")
		default:
			if p, err := parsePermission(x); err == nil && p != nil {
				out = append(out, p.describe())
			} else {
				out = append(out, x)
			}
		}
	}
	return out
}
