package oauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Error is an OAuth error answer: {error, error_description} with a status.
type Error struct {
	Status      int
	Code        string
	Description string
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

func oauthErr(status int, code, format string, a ...any) *Error {
	return &Error{Status: status, Code: code, Description: fmt.Sprintf(format, a...)}
}

func invalidRequest(format string, a ...any) *Error {
	return oauthErr(http.StatusBadRequest, "invalid_request", format, a...)
}

func invalidGrant(format string, a ...any) *Error {
	return oauthErr(http.StatusBadRequest, "invalid_grant", format, a...)
}

func invalidClient(format string, a ...any) *Error {
	return oauthErr(http.StatusBadRequest, "invalid_client", format, a...)
}

// asOAuthError turns an error into the answer to send: proof and client
// errors keep their reasons; anything else is internal and generic.
func (s *Server) asOAuthError(err error) *Error {
	var oe *Error
	if errors.As(err, &oe) {
		return oe
	}
	var pe *ProofError
	if errors.As(err, &pe) {
		if pe.UseNonce {
			return oauthErr(http.StatusBadRequest, "use_dpop_nonce", "Authorization server requires nonce in DPoP proof")
		}
		return oauthErr(http.StatusBadRequest, "invalid_dpop_proof", "%s", pe.Reason)
	}
	var ce *ClientError
	if errors.As(err, &ce) {
		return invalidClient("%s", ce.Reason)
	}
	s.cfg.Logger.Error("oauth request failed", "err", err)
	return oauthErr(http.StatusInternalServerError, "server_error", "Internal Server Error")
}

func (s *Server) writeError(w http.ResponseWriter, err error) {
	oe := s.asOAuthError(err)
	w.Header().Set("DPoP-Nonce", s.Nonce())
	w.Header().Set("Cache-Control", "no-store")
	if oe.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`DPoP error=%q, error_description=%q`, oe.Code, oe.Description))
	}
	writeJSON(w, oe.Status, map[string]string{"error": oe.Code, "error_description": oe.Description})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b) // a client that went away cannot be told
}
