package xrpc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hearth-pds/hearth/pds/accounts"
	"github.com/hearth-pds/hearth/pds/oauth"
)

// registerOAuth mounts the authorization server's endpoints and metadata.
func (s *Server) registerOAuth() {
	o := s.e.OAuth
	s.page("GET "+oauth.PathPRMetadata, "none", o.HandleResourceMetadata)
	s.page("GET "+oauth.PathASMetadata, "none", o.HandleServerMetadata)
	s.page("GET "+oauth.PathJWKS, "none", o.HandleJWKS)
	s.page("POST "+oauth.PathPAR, "none", o.HandlePAR)
	s.page("GET "+oauth.PathAuthorize, "none", o.HandleAuthorize)
	s.page("POST "+oauth.PathAuthorize, "none", o.HandleAuthorize)
	s.page("POST "+oauth.PathToken, "none", o.HandleToken)
	s.page("POST "+oauth.PathRevoke, "none", o.HandleRevoke)
}

// dpopToken returns the token of an "Authorization: DPoP <token>" header.
func dpopToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) > 5 && strings.EqualFold(h[:5], "dpop ") {
		return strings.TrimSpace(h[5:]), true
	}
	return "", false
}

type grantKey struct{}

// grantOf is the OAuth grant a request was authenticated with (nil for
// legacy sessions).
func grantOf(ctx context.Context) *oauth.Grant {
	g, _ := ctx.Value(grantKey{}).(*oauth.Grant)
	return g
}

// authenticateOAuth checks a DPoP-bound access token and whether the
// called method is within its grant. Proxied calls are checked with the
// target service (aud) too.
func (s *Server) authenticateOAuth(r *http.Request, kind authKind, token string) (*accounts.Caller, *oauth.Grant, error) {
	g, err := s.e.OAuth.AuthenticateResource(r.Context(), r, token)
	if err != nil {
		return nil, nil, err
	}
	nsid := r.PathValue("nsid")
	if need, ok := accountMethods[nsid]; ok {
		// An account or identity method: the grant must name its permission.
		if !need.allowedBy(g.Scopes) {
			return nil, nil, s.e.OAuth.ResourceErr(&oauth.ResourceError{Status: http.StatusForbidden, Code: "insufficient_scope",
				Description: fmt.Sprintf("%s needs the %q permission, which this app was not granted", nsid, need.scope)})
		}
		return accounts.OAuthCaller(g.DID, g.Scopes.Privileged()), g, nil
	}
	if kind == authFull {
		return nil, nil, s.e.OAuth.ResourceErr(&oauth.ResourceError{Status: http.StatusForbidden, Code: "insufficient_scope",
			Description: "this needs a session made with the account password; apps signed in with OAuth cannot do it"})
	}
	aud := ""
	if _, local := s.routes[nsid]; !local || !isLocalNSID(nsid) {
		aud = r.Header.Get("Atproto-Proxy")
		if aud == "" {
			if svc, err := s.e.Identity.AppViewService(); err == nil {
				aud = svc.DID.String() + "#" + svc.ID
			}
		}
	}
	if err := g.Scopes.AllowsCall(nsid, aud); err != nil {
		return nil, nil, s.e.OAuth.ResourceErr(&oauth.ResourceError{Status: http.StatusForbidden, Code: "insufficient_scope", Description: err.Error()})
	}
	return accounts.OAuthCaller(g.DID, g.Scopes.Privileged()), g, nil
}

// accountNeed is the account: or identity: permission a method needs of
// an OAuth grant.
type accountNeed struct {
	resource string // account or identity
	attr     string
	action   string // account: read or manage
	generic  bool   // transition:generic is enough too
	scope    string // the scope to name in the refusal
}

func (n accountNeed) allowedBy(s oauth.Scopes) bool {
	if !s.Has(oauth.ScopeAtproto) {
		return false
	}
	if n.generic && s.Has(oauth.ScopeGeneric) {
		return true
	}
	if n.resource == "identity" {
		return s.AllowsIdentity(n.attr)
	}
	return s.AllowsAccount(n.attr, n.action)
}

// accountMethods are the methods the account: and identity: permissions
// govern, as the reference PDS maps them (its authorize callbacks), and
// the permission spec where the reference refuses OAuth outright
// (activate/deactivate: account:status manage; the email update:
// account:email manage). Every other "full" method stays refused to apps.
// getSession's email (account:email read) is hideEmail.
var accountMethods = map[string]accountNeed{
	"com.atproto.server.requestEmailConfirmation":       {resource: "account", attr: "email", action: "manage", scope: "account:email?action=manage"},
	"com.atproto.server.confirmEmail":                   {resource: "account", attr: "email", action: "manage", scope: "account:email?action=manage"},
	"com.atproto.server.requestEmailUpdate":             {resource: "account", attr: "email", action: "manage", scope: "account:email?action=manage"},
	"com.atproto.server.updateEmail":                    {resource: "account", attr: "email", action: "manage", scope: "account:email?action=manage"},
	"com.atproto.repo.importRepo":                       {resource: "account", attr: "repo", action: "manage", scope: "account:repo?action=manage"},
	"com.atproto.server.activateAccount":                {resource: "account", attr: "status", action: "manage", scope: "account:status?action=manage"},
	"com.atproto.server.deactivateAccount":              {resource: "account", attr: "status", action: "manage", scope: "account:status?action=manage"},
	"com.atproto.server.checkAccountStatus":             {resource: "account", attr: "status", action: "read", generic: true, scope: "account:status"},
	"com.atproto.identity.updateHandle":                 {resource: "identity", attr: "handle", scope: "identity:handle"},
	"com.atproto.identity.requestPlcOperationSignature": {resource: "identity", attr: "*", scope: "identity:*"},
	"com.atproto.identity.signPlcOperation":             {resource: "identity", attr: "*", scope: "identity:*"},
	"com.atproto.identity.submitPlcOperation":           {resource: "identity", attr: "*", scope: "identity:*"},
	"com.atproto.identity.getRecommendedDidCredentials": {resource: "identity", attr: "*", generic: true, scope: "identity:*"},
}

func isLocalNSID(nsid string) bool {
	return strings.HasPrefix(nsid, "com.atproto.") || nsid == "app.bsky.actor.getPreferences" || nsid == "app.bsky.actor.putPreferences"
}

// oauthBearerMisuse refuses an OAuth access token sent as a Bearer token.
func (s *Server) oauthBearerMisuse(tok string) error {
	if s.e.OAuth.IsAccessToken(tok) {
		return s.e.OAuth.ResourceErr(&oauth.ResourceError{Status: http.StatusUnauthorized, Code: "invalid_token",
			Description: "this access token is DPoP-bound: send it as Authorization: DPoP with a DPoP proof"})
	}
	return nil
}

// hideEmail drops the email fields of a session answer for an app whose
// grant may not read the email (transition:email or account:email), as
// the reference PDS's getSession does.
func hideEmail(ctx context.Context, out map[string]any) {
	g := grantOf(ctx)
	if g == nil || g.Scopes.AllowsAccount("email", "read") {
		return
	}
	delete(out, "email")
	delete(out, "emailConfirmed")
	delete(out, "emailAuthFactor")
}

// checkWrite refuses a repo write outside an OAuth grant's permissions.
func checkWrite(ctx context.Context, collection, action string) error {
	g := grantOf(ctx)
	if g == nil {
		return nil
	}
	if err := g.Scopes.AllowsWrite(collection, action); err != nil {
		return &oauth.ResourceError{Status: http.StatusForbidden, Code: "insufficient_scope", Description: err.Error()}
	}
	return nil
}

// checkBlob refuses an upload outside an OAuth grant's permissions.
func checkBlob(ctx context.Context, mime string) error {
	g := grantOf(ctx)
	if g == nil {
		return nil
	}
	if err := g.Scopes.AllowsBlob(mime); err != nil {
		return &oauth.ResourceError{Status: http.StatusForbidden, Code: "insufficient_scope", Description: err.Error()}
	}
	return nil
}

// writeResourceError answers a refused OAuth resource request the way
// atproto OAuth clients expect: WWW-Authenticate: DPoP error=…, a fresh
// nonce, and an XRPC error body.
func writeResourceError(w http.ResponseWriter, re *oauth.ResourceError) {
	if re.Nonce != "" {
		w.Header().Set("DPoP-Nonce", re.Nonce)
	}
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`DPoP algs="ES256", error=%q, error_description=%q`, re.Code, re.Description))
	name := re.Code
	switch re.Code {
	case "invalid_token":
		name = "InvalidToken"
	case "insufficient_scope":
		name = "InsufficientScope"
	}
	writeJSON(w, re.Status, map[string]string{"error": name, "message": re.Description})
}

func asResourceError(err error) (*oauth.ResourceError, bool) {
	var re *oauth.ResourceError
	ok := errors.As(err, &re)
	return re, ok
}

func isResourceError(err error) bool {
	_, ok := asResourceError(err)
	return ok
}
