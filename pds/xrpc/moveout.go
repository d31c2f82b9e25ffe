package xrpc

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/hearth-pds/hearth/pds/accounts"
	"github.com/hearth-pds/hearth/pds/edge"
	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/plc"
	"github.com/hearth-pds/hearth/pds/ratelimit"
)

// The routes of moving an account out (Hearth as the old PDS) and of the
// flows the reference PDS runs by email; here the mail is the outbox
// (pds/outbox), read in the window or with `hearthd outbox list`.

// rulePasswordReset bounds how often one address may ask for, or try, a
// password reset (Hearth's own; the throttle also counts wrong tokens).
var rulePasswordReset = ratelimit.Rule{Name: "password-reset", Points: 15, Window: time.Hour}

func (s *Server) registerMoveOut() {
	s.handle("com.atproto.identity.requestPlcOperationSignature", http.MethodPost, authFull, s.requestPlcOperationSignature)
	s.handle("com.atproto.identity.signPlcOperation", http.MethodPost, authFull, s.signPlcOperation)
	s.handle("com.atproto.server.deactivateAccount", http.MethodPost, authFull, s.deactivateAccount)
	s.handle("com.atproto.server.requestEmailConfirmation", http.MethodPost, authFull, s.requestEmailConfirmation)
	s.handle("com.atproto.server.confirmEmail", http.MethodPost, authFull, s.confirmEmail)
	s.handle("com.atproto.server.requestEmailUpdate", http.MethodPost, authFull, s.requestEmailUpdate)
	s.handle("com.atproto.server.updateEmail", http.MethodPost, authFull, s.updateEmail)
	s.handle("com.atproto.server.requestPasswordReset", http.MethodPost, authNone, s.requestPasswordReset)
	s.handle("com.atproto.server.resetPassword", http.MethodPost, authNone, s.resetPassword)
	s.handle("com.atproto.server.requestAccountDelete", http.MethodPost, authFull, s.requestAccountDelete)
	s.handle("com.atproto.server.deleteAccount", http.MethodPost, authNone, s.deleteAccount)
}

func (s *Server) requestPlcOperationSignature(w http.ResponseWriter, r *http.Request, c *accounts.Caller) error {
	if _, err := s.e.RequestPLCSignature(r.Context(), c.DID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) signPlcOperation(w http.ResponseWriter, r *http.Request, c *accounts.Caller) error {
	var in struct {
		Token string `json:"token"`
		plc.Fields
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	op, err := s.e.SignPLCOperation(r.Context(), c.DID, in.Token, in.Fields)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"operation": json.RawMessage(op)})
	return nil
}

func (s *Server) deactivateAccount(w http.ResponseWriter, r *http.Request, c *accounts.Caller) error {
	var in struct {
		DeleteAfter string `json:"deleteAfter"`
	}
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, &in); err != nil {
			return err
		}
	}
	if err := s.e.DeactivateAccount(r.Context(), c.DID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) requestEmailConfirmation(w http.ResponseWriter, r *http.Request, c *accounts.Caller) error {
	if err := s.e.RequestEmailConfirmation(r.Context(), c.DID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) confirmEmail(w http.ResponseWriter, r *http.Request, c *accounts.Caller) error {
	var in struct{ Email, Token string }
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := s.e.ConfirmEmail(r.Context(), c.DID, in.Email, in.Token); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) requestEmailUpdate(w http.ResponseWriter, r *http.Request, c *accounts.Caller) error {
	req, err := s.e.RequestEmailUpdate(r.Context(), c.DID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokenRequired": req})
	return nil
}

func (s *Server) updateEmail(w http.ResponseWriter, r *http.Request, c *accounts.Caller) error {
	var in struct {
		Email string `json:"email"`
		Token string `json:"token"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := s.e.UpdateEmail(r.Context(), c.DID, in.Email, in.Token); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) requestPasswordReset(w http.ResponseWriter, r *http.Request, _ *accounts.Caller) error {
	if err := s.limit(w, r, 1, rulePasswordReset); err != nil {
		return err
	}
	var in struct {
		Email string `json:"email"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Email == "" {
		return errs.Invalid("email is required")
	}
	if err := s.e.RequestPasswordReset(r.Context(), in.Email); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) resetPassword(w http.ResponseWriter, r *http.Request, _ *accounts.Caller) error {
	if err := s.limit(w, r, 1, rulePasswordReset); err != nil {
		return err
	}
	var in struct {
		Token    string `json:"token"`
		Password string `json:"password"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Token == "" || in.Password == "" {
		return errs.Invalid("token and password are required")
	}
	if err := s.e.ResetPassword(r.Context(), in.Token, in.Password, edge.ClientAddr(r).Key()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) requestAccountDelete(w http.ResponseWriter, r *http.Request, c *accounts.Caller) error {
	if err := s.e.RequestAccountDelete(r.Context(), c.DID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// deleteAccount needs the account password; the deletion token from the
// outbox (requestAccountDelete) is checked when given, as the reference
// PDS requires it. Hearth keeps the password-only form for its owner's
// own tools, which have proved who they are with the password.
func (s *Server) deleteAccount(w http.ResponseWriter, r *http.Request, _ *accounts.Caller) error {
	var in struct {
		DID      string `json:"did"`
		Password string `json:"password"`
		Token    string `json:"token"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.DID == "" || in.Password == "" {
		return errs.Invalid("did and password are required")
	}
	did, err := parseDID(in.DID, "did")
	if err != nil {
		return err
	}
	from := edge.ClientAddr(r).Key()
	if in.Token != "" {
		err = s.e.DeleteAccountWithToken(r.Context(), did, in.Password, in.Token, from)
	} else {
		err = s.e.DeleteAccount(r.Context(), did, in.Password, from)
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
