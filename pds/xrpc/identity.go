package xrpc

import (
	"net/http"

	"github.com/hearth-pds/hearth/pds"
	"github.com/hearth-pds/hearth/pds/apierr"
)

func (s *Server) registerIdentity() {
	s.handle("com.atproto.identity.resolveHandle", http.MethodGet, authNone, s.resolveHandle)
	s.handle("com.atproto.identity.updateHandle", http.MethodPost, authFull, s.updateHandle)
}

func (s *Server) resolveHandle(w http.ResponseWriter, r *http.Request, _ *pds.Caller) error {
	h := r.URL.Query().Get("handle")
	if h == "" {
		return apierr.Invalid("missing handle parameter")
	}
	did, err := s.e.ResolveHandle(r.Context(), h)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"did": did})
	return nil
}

func (s *Server) updateHandle(w http.ResponseWriter, r *http.Request, c *pds.Caller) error {
	var in struct {
		Handle string `json:"handle"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := s.e.VerifyHandle(r.Context(), c.DID, in.Handle); err != nil {
		return err
	}
	if err := s.e.UpdateHandle(r.Context(), c.DID, in.Handle); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
