package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/bluesky-social/indigo/atproto/atdata"
	"github.com/bluesky-social/indigo/atproto/repo"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// Permission sets (the atproto permission spec's include: scopes): an
// NSID whose lexicon's main definition is a permission-set. It is published
// as a com.atproto.lexicon.schema record (rkey = the NSID) in the repo of
// the DID that the _lexicon.<authority> DNS TXT record names. The server
// resolves it at PAR time and grants the granular repo: and rpc:
// permissions it lists, never the include: itself.

const (
	lexiconCollection = "com.atproto.lexicon.schema"
	// maxSetPermissions bounds the permissions one set may list.
	maxSetPermissions = 64
	// maxGrantedEntries bounds a grant's scope after expansion.
	maxGrantedEntries = 256
	maxGrantedLength  = 32 << 10
)

// includeScope is a parsed include:<nsid>[?aud=<did#service>].
type includeScope struct {
	nsid syntax.NSID
	aud  string
}

func parseInclude(s string) (*includeScope, error) {
	rest, ok := strings.CutPrefix(s, "include")
	if !ok || (rest != "" && rest[0] != ':' && rest[0] != '?') {
		return nil, nil
	}
	rest = strings.TrimPrefix(rest, ":")
	pos, query, _ := strings.Cut(rest, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("malformed scope %q", s)
	}
	for k := range q {
		if k != "nsid" && k != "aud" {
			return nil, fmt.Errorf("invalid scope %q: include takes only nsid and aud", s)
		}
	}
	if len(q["nsid"]) > 1 || len(q["aud"]) > 1 || (pos != "" && q.Has("nsid")) {
		return nil, fmt.Errorf("invalid scope %q: one nsid and at most one aud", s)
	}
	if pos == "" {
		pos = q.Get("nsid")
	}
	nsid, err := syntax.ParseNSID(pos)
	if err != nil {
		return nil, fmt.Errorf("invalid scope %q: a permission set is named by an NSID", s)
	}
	inc := &includeScope{nsid: nsid, aud: q.Get("aud")}
	if inc.aud != "" && !serviceRef(inc.aud) {
		return nil, fmt.Errorf("invalid scope %q: aud must be a service DID with its #fragment", s)
	}
	return inc, nil
}

// serviceRef reports whether s is a DID with a #service fragment.
func serviceRef(s string) bool {
	d, frag, ok := strings.Cut(s, "#")
	if !ok || frag == "" || strings.ContainsAny(frag, "#?& ") {
		return false
	}
	_, err := syntax.ParseDID(d)
	return err == nil
}

// underAuthority reports whether nsid is in the set's own namespace: the
// set's NSID up to and including its last dot prefixes it. "*" never is.
func (inc *includeScope) underAuthority(nsid string) bool {
	set := inc.nsid.String()
	i := strings.LastIndexByte(set, '.')
	return i > 0 && nsid != "*" && len(nsid) > i+1 && strings.HasPrefix(nsid, set[:i+1])
}

// PermissionSet is a resolved permission-set lexicon.
type PermissionSet struct {
	NSID   string
	Title  string
	Detail string
	// Permissions are the set's permission objects, as published.
	Permissions []map[string]any
}

// lexPermissionSet is the main definition of a permission-set lexicon.
type lexPermissionSet struct {
	Type        string           `json:"type"`
	Title       string           `json:"title"`
	Detail      string           `json:"detail"`
	Permissions []map[string]any `json:"permissions"`
}

type lexDoc struct {
	Lexicon int                         `json:"lexicon"`
	ID      string                      `json:"id"`
	Defs    map[string]*json.RawMessage `json:"defs"`
}

// expand turns the set into granular scopes for this include: repo: and
// rpc: permissions whose collections and methods are all in the set's
// namespace. An rpc: permission names no aud of its own (or "*"); with
// inheritAud it takes the include:'s aud. Anything else is left out, as
// the reference does.
func (inc *includeScope) expand(set *PermissionSet) []string {
	var out []string
	for _, perm := range set.Permissions {
		if str(perm["type"]) != "permission" {
			continue
		}
		var scope string
		switch str(perm["resource"]) {
		case "repo":
			cols := strs(perm["collection"])
			if len(cols) == 0 || !all(cols, inc.underAuthority) {
				continue
			}
			q := url.Values{"action": strs(perm["action"])}
			scope = formatScope("repo", "collection", cols, q)
		case "rpc":
			lxms := strs(perm["lxm"])
			aud, _ := perm["aud"].(string)
			if (aud != "" && aud != "*") || len(lxms) == 0 || !all(lxms, inc.underAuthority) {
				continue
			}
			if inherit, _ := perm["inheritAud"].(bool); inherit && aud == "" {
				aud = inc.aud
			}
			if aud == "" {
				continue
			}
			scope = formatScope("rpc", "lxm", lxms, url.Values{"aud": {aud}})
		default:
			continue
		}
		if p, err := parsePermission(scope); err == nil && p != nil {
			out = append(out, scope)
		}
	}
	return out
}

// formatScope writes resource:<one>?query, or resource?name=…&query when
// several values.
func formatScope(resource, name string, values []string, q url.Values) string {
	for k, v := range q {
		if len(v) == 0 {
			delete(q, k)
		}
	}
	if len(values) == 1 {
		s := resource + ":" + values[0]
		if len(q) > 0 {
			s += "?" + q.Encode()
		}
		return s
	}
	q[name] = values
	return resource + "?" + q.Encode()
}

func str(v any) string { s, _ := v.(string); return s }

// strs reads a lexicon parameter: a string or an array of strings.
func strs(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func all(xs []string, f func(string) bool) bool {
	for _, x := range xs {
		if !f(x) {
			return false
		}
	}
	return true
}

// permissionSetError is a set that could not be resolved, with the reason
// a person (and the app's developer) can act on.
type permissionSetError struct {
	nsid   string
	reason string
	err    error
}

func (e *permissionSetError) Error() string {
	return fmt.Sprintf("the permission set %s could not be resolved: %s", e.nsid, e.reason)
}

func (e *permissionSetError) Unwrap() error { return e.err }

// ResolvePermissionSet resolves nsid through the network: the
// _lexicon.<authority> TXT record names a DID; its DID document names its
// PDS and signing key; the PDS's com.atproto.sync.getRecord proof (commit
// signature checked, record found under the signed MST root) holds the
// lexicon, whose main definition must be a permission-set.
func (s *Server) ResolvePermissionSet(ctx context.Context, nsid syntax.NSID) (*PermissionSet, error) {
	fail := func(err error, format string, a ...any) error {
		return &permissionSetError{nsid: nsid.String(), reason: fmt.Sprintf(format, a...), err: err}
	}
	name := "_lexicon." + nsid.Authority()
	txts, err := s.lookupTXT(ctx, name)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return nil, fail(err, "no DNS TXT record at %s names its publisher", name)
		}
		return nil, fail(err, "the DNS lookup of %s failed", name)
	}
	var dids []string
	for _, t := range txts {
		if d, ok := strings.CutPrefix(t, "did="); ok {
			dids = append(dids, d)
		}
	}
	if len(dids) != 1 {
		return nil, fail(nil, "the DNS TXT records at %s name %d DIDs (want exactly one did=…)", name, len(dids))
	}
	did, err := syntax.ParseDID(dids[0])
	if err != nil {
		return nil, fail(err, "the DNS TXT record at %s holds an invalid DID", name)
	}
	if s.cfg.Directory == nil {
		return nil, fail(nil, "this server has no DID directory configured")
	}
	ident, err := s.cfg.Directory.LookupDID(ctx, did)
	if err != nil {
		return nil, fail(err, "the DID %s could not be resolved", did)
	}
	key, err := ident.PublicKey()
	endpoint := ident.PDSEndpoint()
	if err != nil || endpoint == "" {
		return nil, fail(err, "the DID document of %s names no PDS or signing key", did)
	}
	u := strings.TrimRight(endpoint, "/") + "/xrpc/com.atproto.sync.getRecord?" +
		url.Values{"did": {did.String()}, "collection": {lexiconCollection}, "rkey": {nsid.String()}}.Encode()
	body, err := s.clients.fetch(ctx, u)
	if err != nil {
		return nil, fail(err, "the lexicon record could not be fetched from %s: %v", endpoint, err)
	}
	commit, r, err := repo.LoadRepoFromCAR(ctx, bytes.NewReader(body))
	if err != nil {
		return nil, fail(err, "the record proof from %s is not a valid CAR", endpoint)
	}
	if commit.DID != did.String() {
		return nil, fail(nil, "the record proof is signed for %s, not %s", commit.DID, did)
	}
	if err := commit.VerifySignature(key); err != nil {
		return nil, fail(err, "the record proof's signature does not verify with %s's key", did)
	}
	raw, _, err := r.GetRecordBytes(ctx, lexiconCollection, syntax.RecordKey(nsid.String()))
	if err != nil {
		return nil, fail(err, "the record proof does not hold the lexicon record")
	}
	data, err := atdata.UnmarshalCBOR(raw)
	if err != nil {
		return nil, fail(err, "the lexicon record is not valid data")
	}
	js, err := json.Marshal(data)
	if err != nil {
		return nil, fail(err, "the lexicon record is not valid data")
	}
	var doc lexDoc
	if err := json.Unmarshal(js, &doc); err != nil || doc.Lexicon != 1 {
		return nil, fail(err, "the record is not a lexicon document")
	}
	if doc.ID != nsid.String() {
		return nil, fail(nil, "the lexicon document's id is %q", doc.ID)
	}
	var main lexPermissionSet
	if m := doc.Defs["main"]; m == nil || json.Unmarshal(*m, &main) != nil || main.Type != "permission-set" {
		return nil, fail(nil, "the lexicon is not a permission-set")
	}
	if len(main.Permissions) > maxSetPermissions {
		return nil, fail(nil, "it lists more than %d permissions", maxSetPermissions)
	}
	return &PermissionSet{NSID: nsid.String(), Title: main.Title, Detail: main.Detail, Permissions: main.Permissions}, nil
}

func (s *Server) lookupTXT(ctx context.Context, name string) ([]string, error) {
	if s.cfg.LookupTXT != nil {
		return s.cfg.LookupTXT(ctx, name)
	}
	return net.DefaultResolver.LookupTXT(ctx, name)
}

// expandIncludes replaces every include: of want with the granular scopes
// its permission set grants, resolving each set; a set that cannot be
// resolved is an invalid_scope error, never a silent grant. It returns
// the expanded scopes and the sets (for the consent page).
func (s *Server) expandIncludes(ctx context.Context, want Scopes) (Scopes, []IncludedSet, error) {
	var out []string
	var sets []IncludedSet
	resolved := map[syntax.NSID]*PermissionSet{}
	for _, sc := range want {
		inc, err := parseInclude(sc)
		if err != nil {
			return nil, nil, oauthErr(http.StatusBadRequest, "invalid_scope", "%v", err)
		}
		if inc == nil {
			out = append(out, sc)
			continue
		}
		set, ok := resolved[inc.nsid]
		if !ok {
			if set, err = s.ResolvePermissionSet(ctx, inc.nsid); err != nil {
				s.cfg.Logger.Info("oauth: permission set not resolved", "nsid", inc.nsid, "err", err)
				var pe *permissionSetError
				if errors.As(err, &pe) {
					return nil, nil, oauthErr(http.StatusBadRequest, "invalid_scope", "%s", pe.Error())
				}
				return nil, nil, fmt.Errorf("resolve permission set %s: %w", inc.nsid, err)
			}
			resolved[inc.nsid] = set
		}
		granted := inc.expand(set)
		out = append(out, granted...)
		sets = append(sets, IncludedSet{Scope: sc, NSID: set.NSID, Title: set.Title, Detail: set.Detail, Granted: granted})
	}
	expanded, err := parseScopesLimited(strings.Join(out, " "), maxGrantedLength, maxGrantedEntries)
	if err != nil {
		return nil, nil, oauthErr(http.StatusBadRequest, "invalid_scope", "the permission sets grant too much: %v", err)
	}
	return expanded, sets, nil
}

// IncludedSet is one include: of a request, as resolved.
type IncludedSet struct {
	Scope   string   `json:"scope"`
	NSID    string   `json:"nsid"`
	Title   string   `json:"title,omitempty"`
	Detail  string   `json:"detail,omitempty"`
	Granted []string `json:"granted"`
}
