package oauth

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/bluesky-social/indigo/atproto/syntax"
)

// permission is one granular permission scope (the atproto permission
// spec): resource:positional?params.
type permission struct {
	resource    string   // repo, rpc, blob, account, identity
	collections []string // repo: NSIDs or "*"
	actions     []string // repo: create/update/delete; account: read/manage
	lxms        []string // rpc: NSIDs or "*"
	aud         string   // rpc: service DID with #fragment, or "*"
	accept      []string // blob: MIME patterns
	attr        string   // account/identity attribute
}

// parsePermission parses a granular scope; nil (no error) for the
// non-granular ones.
func parsePermission(s string) (*permission, error) {
	res, rest, _ := strings.Cut(s, ":")
	if i := strings.IndexByte(s, '?'); i >= 0 && (!strings.Contains(s, ":") || i < strings.IndexByte(s, ':')) {
		res, rest = s[:i], s[i:]
	}
	switch res {
	case "repo", "rpc", "blob", "account", "identity":
	default:
		return nil, nil
	}
	pos, query, _ := strings.Cut(rest, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("malformed scope %q", s)
	}
	if pos != "" {
		if pos, err = url.PathUnescape(pos); err != nil {
			return nil, fmt.Errorf("malformed scope %q", s)
		}
	}
	p := &permission{resource: res}
	bad := func(why string) error { return fmt.Errorf("invalid scope %q: %s", s, why) }
	switch res {
	case "repo":
		p.collections = q["collection"]
		if pos != "" {
			p.collections = append(p.collections, pos)
		}
		if len(p.collections) == 0 {
			return nil, bad("names no collection")
		}
		for _, c := range p.collections {
			if _, err := syntax.ParseNSID(c); err != nil && c != "*" {
				return nil, bad("collection must be an NSID or *")
			}
		}
		p.actions = q["action"]
		if len(p.actions) == 0 {
			p.actions = []string{"create", "update", "delete"}
		}
		for _, a := range p.actions {
			if a != "create" && a != "update" && a != "delete" {
				return nil, bad("action must be create, update or delete")
			}
		}
	case "rpc":
		p.lxms = q["lxm"]
		if pos != "" {
			p.lxms = append(p.lxms, pos)
		}
		p.aud = q.Get("aud")
		if len(p.lxms) == 0 || p.aud == "" {
			return nil, bad("needs a method (lxm) and an aud")
		}
		for _, l := range p.lxms {
			if _, err := syntax.ParseNSID(l); err != nil && l != "*" {
				return nil, bad("lxm must be an NSID or *")
			}
		}
		if contains(p.lxms, "*") && p.aud == "*" {
			return nil, bad("lxm and aud cannot both be *")
		}
	case "blob":
		p.accept = q["accept"]
		if pos != "" {
			p.accept = append(p.accept, pos)
		}
		if len(p.accept) == 0 {
			return nil, bad("names no MIME type")
		}
		for _, m := range p.accept {
			if t, sub, ok := strings.Cut(m, "/"); !ok || t == "" || sub == "" || (t == "*" && sub != "*") {
				return nil, bad("accept must be a MIME type or pattern like image/*")
			}
		}
	case "account":
		p.attr = pos
		if p.attr == "" {
			p.attr = q.Get("attr")
		}
		if p.attr != "email" && p.attr != "repo" && p.attr != "status" {
			return nil, bad("attr must be email, repo or status")
		}
		p.actions = q["action"]
		if len(p.actions) == 0 {
			p.actions = []string{"read"}
		}
		for _, a := range p.actions {
			if a != "read" && a != "manage" {
				return nil, bad("action must be read or manage")
			}
		}
	case "identity":
		p.attr = pos
		if p.attr == "" {
			p.attr = q.Get("attr")
		}
		if p.attr != "handle" && p.attr != "*" {
			return nil, bad("attr must be handle or *")
		}
	}
	return p, nil
}

// repoWriteMethods are the methods a repo: permission reaches.
var repoWriteMethods = map[string]bool{
	"com.atproto.repo.createRecord": true, "com.atproto.repo.putRecord": true,
	"com.atproto.repo.deleteRecord": true, "com.atproto.repo.applyWrites": true,
}

func (p *permission) allowsCall(nsid, aud string) bool {
	switch p.resource {
	case "rpc":
		if aud == "" {
			return false // rpc: is for calls proxied to a service
		}
		return (p.aud == "*" || p.aud == aud) && (contains(p.lxms, "*") || contains(p.lxms, nsid))
	case "repo":
		// The collection and action are checked per write (AllowsWrite).
		return repoWriteMethods[nsid]
	case "blob":
		return nsid == "com.atproto.repo.uploadBlob"
	}
	return false
}

func (p *permission) allowsWrite(collection, action string) bool {
	return p.resource == "repo" && (contains(p.collections, "*") || contains(p.collections, collection)) && contains(p.actions, action)
}

func (p *permission) allowsBlob(mime string) bool {
	if p.resource != "blob" {
		return false
	}
	t, _, _ := strings.Cut(mime, "/")
	for _, a := range p.accept {
		if a == "*/*" || a == mime || a == t+"/*" {
			return true
		}
	}
	return false
}

func (p *permission) describe() string {
	switch p.resource {
	case "repo":
		return fmt.Sprintf("%s records of %s in your repository", strings.Join(p.actions, ", "), strings.Join(p.collections, ", "))
	case "rpc":
		return fmt.Sprintf("Call %s on %s for you", strings.Join(p.lxms, ", "), p.aud)
	case "blob":
		return fmt.Sprintf("Upload files (%s)", strings.Join(p.accept, ", "))
	case "account":
		manage := contains(p.actions, "manage")
		switch {
		case p.attr == "email" && manage:
			return "See and change your email address, and confirm it"
		case p.attr == "email":
			return "See your email address"
		case p.attr == "repo" && manage:
			return "Replace your whole repository (import a repository from a file)"
		case p.attr == "repo":
			return "See your repository's state"
		case p.attr == "status" && manage:
			return "See your account's status and activate or deactivate your account"
		case p.attr == "status":
			return "See your account's status (active or deactivated)"
		}
		return fmt.Sprintf("Account %s: %s", p.attr, strings.Join(p.actions, ", "))
	case "identity":
		if p.attr == "handle" {
			return "Change your handle"
		}
		return "Control your identity: change your handle and your DID document (move your account to another server)"
	}
	return p.resource
}
