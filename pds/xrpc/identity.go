package xrpc

import (
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/hearth-pds/hearth/pds/accounts"
	"github.com/hearth-pds/hearth/pds/errs"
	"net/http"
	"strings"
)

func (s *Server) registerIdentity() {
	s.handle("com.atproto.identity.resolveHandle", http.MethodGet, authNone, s.resolveHandle)
	s.handle("com.atproto.identity.updateHandle", http.MethodPost, authFull, s.updateHandle)
}

func (s *Server) resolveHandle(w http.ResponseWriter, r *http.Request, _ *accounts.Caller) error {
	h := r.URL.Query().Get("handle")
	if h == "" {
		return errs.Invalid("missing handle parameter")
	}
	handle, err := syntax.ParseHandle(strings.TrimPrefix(h, "@"))
	if err != nil {
		return errs.Invalid("invalid handle %q", h)
	}
	did, err := s.e.Identity.ResolveHandle(r.Context(), handle)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"did": did})
	return nil
}

func (s *Server) updateHandle(w http.ResponseWriter, r *http.Request, c *accounts.Caller) error {
	var in struct {
		Handle string `json:"handle"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	h, err := accounts.ParseNewHandle(in.Handle)
	if err != nil {
		return err
	}
	if err := s.e.Identity.VerifyHandle(r.Context(), c.DID, h); err != nil {
		return err
	}
	if err := s.e.UpdateHandle(r.Context(), c.DID, h.String()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
