package xrpc

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/accounts"
	"github.com/hearth-pds/hearth/pds/auth"
	"github.com/hearth-pds/hearth/pds/errs"
)

// isServiceAuthJWT reports whether tok is signed with an account key (an
// asymmetric alg: a service-auth JWT) rather than this server's session
// secret (HS256). Only the header is read; nothing is trusted from it.
func isServiceAuthJWT(tok string) bool {
	head, _, ok := strings.Cut(tok, ".")
	if !ok || len(head) > 512 {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return false
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(raw, &h) != nil {
		return false
	}
	return h.Alg == "ES256K" || h.Alg == "ES256"
}

// serviceCaller authenticates a service-auth token for the requested method
// (the route's NSID is its lxm). The caller gets the narrowest scope: it is
// neither a full session nor privileged.
func (s *Server) serviceCaller(r *http.Request, tok string) (*accounts.Caller, error) {
	nsid, err := syntax.ParseNSID(r.PathValue("nsid"))
	if err != nil {
		return nil, errs.New(errs.ErrInvalidToken, "service auth needs a method")
	}
	did, err := s.e.Identity.VerifyServiceAuth(r.Context(), tok, nsid)
	if err != nil {
		return nil, err
	}
	return &accounts.Caller{DID: did, Scope: auth.ScopeAppPass}, nil
}
