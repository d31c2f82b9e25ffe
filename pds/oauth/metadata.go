package oauth

import "net/http"

// Endpoint paths, relative to the issuer.
const (
	PathPAR        = "/oauth/par"
	PathAuthorize  = "/oauth/authorize"
	PathToken      = "/oauth/token"
	PathRevoke     = "/oauth/revoke"
	PathJWKS       = "/oauth/jwks"
	PathASMetadata = "/.well-known/oauth-authorization-server"
	PathPRMetadata = "/.well-known/oauth-protected-resource"
)

// ServerMetadata is the authorization server's metadata (RFC 8414 with
// the atproto profile).
func (s *Server) ServerMetadata() map[string]any {
	iss := s.issuer()
	return map[string]any{
		"issuer":                                           iss,
		"authorization_endpoint":                           iss + PathAuthorize,
		"token_endpoint":                                   iss + PathToken,
		"pushed_authorization_request_endpoint":            iss + PathPAR,
		"revocation_endpoint":                              iss + PathRevoke,
		"jwks_uri":                                         iss + PathJWKS,
		"require_pushed_authorization_requests":            true,
		"request_parameter_supported":                      false,
		"request_uri_parameter_supported":                  true,
		"require_request_uri_registration":                 true,
		"response_types_supported":                         []string{"code"},
		"response_modes_supported":                         []string{"query", "fragment"},
		"grant_types_supported":                            []string{"authorization_code", "refresh_token"},
		"code_challenge_methods_supported":                 []string{"S256"},
		"dpop_signing_alg_values_supported":                []string{"ES256"},
		"token_endpoint_auth_methods_supported":            []string{"none", "private_key_jwt"},
		"token_endpoint_auth_signing_alg_values_supported": []string{"ES256"},
		"scopes_supported":                                 ScopesSupported,
		"subject_types_supported":                          []string{"public"},
		"authorization_response_iss_parameter_supported":   true,
		"client_id_metadata_document_supported":            true,
		"protected_resources":                              []string{iss},
		"prompt_values_supported":                          []string{"none", "login", "consent", "select_account"},
		"ui_locales_supported":                             []string{"en"},
	}
}

// ResourceMetadata is the protected resource's metadata (RFC 9728).
func (s *Server) ResourceMetadata() map[string]any {
	iss := s.issuer()
	return map[string]any{
		"resource":                 iss,
		"authorization_servers":    []string{iss},
		"scopes_supported":         []string{},
		"bearer_methods_supported": []string{"header"},
		"resource_documentation":   "https://atproto.com",
	}
}

// HandleServerMetadata serves PathASMetadata.
func (s *Server) HandleServerMetadata(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "max-age=300")
	writeJSON(w, http.StatusOK, s.ServerMetadata())
}

// HandleResourceMetadata serves PathPRMetadata.
func (s *Server) HandleResourceMetadata(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "max-age=300")
	writeJSON(w, http.StatusOK, s.ResourceMetadata())
}

// HandleJWKS serves the server's public keys: none (its tokens are
// checked only by itself).
func (s *Server) HandleJWKS(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"keys": []any{}})
}
