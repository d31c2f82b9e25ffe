package xrpc

import (
	"encoding/json"
	"net/http"

	"github.com/hearth-pds/hearth/pds"
	"github.com/hearth-pds/hearth/pds/apierr"
)

func (s *Server) registerServer() {
	s.handle("com.atproto.server.describeServer", http.MethodGet, authNone, s.describeServer)
	s.handle("com.atproto.server.createAccount", http.MethodPost, authNone, s.createAccount)
	s.handle("com.atproto.server.createSession", http.MethodPost, authNone, s.createSession)
	s.handle("com.atproto.server.getSession", http.MethodGet, authAccess, s.getSession)
	s.handle("com.atproto.server.refreshSession", http.MethodPost, authNone, s.refreshSession)
	s.handle("com.atproto.server.deleteSession", http.MethodPost, authNone, s.deleteSession)
	s.handle("com.atproto.server.createAppPassword", http.MethodPost, authFull, s.createAppPassword)
	s.handle("com.atproto.server.listAppPasswords", http.MethodGet, authFull, s.listAppPasswords)
	s.handle("com.atproto.server.revokeAppPassword", http.MethodPost, authFull, s.revokeAppPassword)
	s.handle("com.atproto.server.checkAccountStatus", http.MethodGet, authAccess, s.checkAccountStatus)
	s.handle("com.atproto.server.deactivateAccount", http.MethodPost, authFull, func(w http.ResponseWriter, r *http.Request, c *pds.Caller) error {
		var in struct {
			DeleteAfter string `json:"deleteAfter"`
		}
		if r.ContentLength != 0 {
			if err := decodeJSON(w, r, &in); err != nil {
				return err
			}
		}
		if err := s.e.SetActive(r.Context(), c.DID, false); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	})
	s.handle("com.atproto.server.deleteAccount", http.MethodPost, authNone, func(w http.ResponseWriter, r *http.Request, _ *pds.Caller) error {
		// The reference PDS also wants an emailed token; Hearth has no mail,
		// so the account password is what proves intent.
		var in struct {
			DID      string `json:"did"`
			Password string `json:"password"`
			Token    string `json:"token"`
		}
		if err := decodeJSON(w, r, &in); err != nil {
			return err
		}
		if in.DID == "" || in.Password == "" {
			return apierr.Invalid("did and password are required")
		}
		if err := s.e.DeleteAccount(r.Context(), in.DID, in.Password); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	})
	s.handle("com.atproto.identity.getRecommendedDidCredentials", http.MethodGet, authAccess, func(w http.ResponseWriter, r *http.Request, c *pds.Caller) error {
		creds, err := s.e.RecommendedDIDCredentials(r.Context(), c.DID)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, creds)
		return nil
	})
	s.handle("com.atproto.identity.submitPlcOperation", http.MethodPost, authFull, func(w http.ResponseWriter, r *http.Request, c *pds.Caller) error {
		var in struct {
			Operation json.RawMessage `json:"operation"`
		}
		if err := decodeJSON(w, r, &in); err != nil {
			return err
		}
		if err := s.e.SubmitPLCOperation(r.Context(), c.DID, in.Operation); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	})
	s.handle("com.atproto.server.activateAccount", http.MethodPost, authFull, func(w http.ResponseWriter, r *http.Request, c *pds.Caller) error {
		if err := s.e.SetActive(r.Context(), c.DID, true); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	})
}

func (s *Server) describeServer(w http.ResponseWriter, r *http.Request, _ *pds.Caller) error {
	writeJSON(w, http.StatusOK, map[string]any{
		"did":                       s.e.ServiceDID(),
		"availableUserDomains":      []string{},
		"inviteCodeRequired":        true,
		"phoneVerificationRequired": false,
		"links":                     map[string]any{},
		"contact":                   map[string]any{},
	})
	return nil
}

func (s *Server) sessionJSON(r *http.Request, sess *pds.Session, withTokens bool) (map[string]any, error) {
	doc, err := s.e.DIDDocument(r.Context(), sess.DID)
	if err != nil {
		return nil, err
	}
	out := map[string]any{
		"did":    sess.DID,
		"handle": sess.Handle,
		"didDoc": doc,
		"active": sess.Status == pds.StatusActive,
	}
	if sess.Status != pds.StatusActive {
		out["status"] = sess.Status
	}
	if sess.Email != "" {
		out["email"] = sess.Email
	}
	out["emailConfirmed"] = false
	out["emailAuthFactor"] = false
	if withTokens {
		out["accessJwt"] = sess.AccessJwt
		out["refreshJwt"] = sess.RefreshJwt
	}
	return out, nil
}

func (s *Server) respondSession(w http.ResponseWriter, r *http.Request, sess *pds.Session, withTokens bool) error {
	out, err := s.sessionJSON(r, sess, withTokens)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) createAccount(w http.ResponseWriter, r *http.Request, _ *pds.Caller) error {
	var in struct {
		Handle     string `json:"handle"`
		Email      string `json:"email"`
		Password   string `json:"password"`
		InviteCode string `json:"inviteCode"`
		DID        string `json:"did"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.DID != "" {
		// Moving an existing account here: its current PDS vouches with a
		// service-auth token signed by the DID's key.
		tok, ok := bearer(r)
		if !ok {
			return apierr.New(http.StatusUnauthorized, "AuthMissing", "moving an account here needs a service-auth token from its current PDS")
		}
		if err := s.e.VerifyMigrationAuth(r.Context(), in.DID, tok); err != nil {
			return err
		}
	}
	acc, err := s.e.CreateAccount(r.Context(), pds.NewAccount{Handle: in.Handle, Email: in.Email, Password: in.Password, InviteCode: in.InviteCode, RequireInvite: true, MigratingDID: in.DID})
	if err != nil {
		return err
	}
	sess, err := s.e.Login(r.Context(), acc.DID, in.Password)
	if err != nil {
		return err
	}
	return s.respondSession(w, r, sess, true)
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request, _ *pds.Caller) error {
	var in struct {
		Identifier string `json:"identifier"`
		Password   string `json:"password"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Identifier == "" || in.Password == "" {
		return apierr.Invalid("identifier and password are required")
	}
	sess, err := s.e.Login(r.Context(), in.Identifier, in.Password)
	if err != nil {
		return err
	}
	return s.respondSession(w, r, sess, true)
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request, c *pds.Caller) error {
	acc, err := s.e.GetAccount(r.Context(), c.DID)
	if err != nil {
		return err
	}
	return s.respondSession(w, r, &pds.Session{Account: *acc}, false)
}

func (s *Server) refreshSession(w http.ResponseWriter, r *http.Request, _ *pds.Caller) error {
	tok, ok := bearer(r)
	if !ok {
		return apierr.New(http.StatusUnauthorized, "AuthMissing", "Authentication Required")
	}
	sess, err := s.e.RefreshSession(r.Context(), tok)
	if err != nil {
		return err
	}
	return s.respondSession(w, r, sess, true)
}

func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request, _ *pds.Caller) error {
	tok, ok := bearer(r)
	if !ok {
		return apierr.New(http.StatusUnauthorized, "AuthMissing", "Authentication Required")
	}
	if err := s.e.Logout(r.Context(), tok); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) createAppPassword(w http.ResponseWriter, r *http.Request, c *pds.Caller) error {
	var in struct {
		Name       string `json:"name"`
		Privileged bool   `json:"privileged"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	secret, ap, err := s.e.CreateAppPassword(r.Context(), c.DID, in.Name, in.Privileged)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": ap.Name, "password": secret, "createdAt": ap.CreatedAt, "privileged": ap.Privileged})
	return nil
}

func (s *Server) listAppPasswords(w http.ResponseWriter, r *http.Request, c *pds.Caller) error {
	aps, err := s.e.ListAppPasswords(r.Context(), c.DID)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(aps))
	for _, a := range aps {
		out = append(out, map[string]any{"name": a.Name, "createdAt": a.CreatedAt, "privileged": a.Privileged})
	}
	writeJSON(w, http.StatusOK, map[string]any{"passwords": out})
	return nil
}

func (s *Server) revokeAppPassword(w http.ResponseWriter, r *http.Request, c *pds.Caller) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := s.e.RevokeAppPassword(r.Context(), c.DID, in.Name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) checkAccountStatus(w http.ResponseWriter, r *http.Request, c *pds.Caller) error {
	st, err := s.e.RepoStatus(r.Context(), c.DID)
	if err != nil {
		return err
	}
	cols, err := s.e.Collections(r.Context(), c.DID)
	if err != nil {
		return err
	}
	n := 0
	for _, col := range cols {
		n += col.Count
	}
	missing, _, err := s.e.ListMissingBlobs(r.Context(), c.DID, "", 1000)
	if err != nil {
		return err
	}
	blobs, err := s.e.BlobDetails(r.Context(), c.DID)
	if err != nil {
		return err
	}
	refd := 0
	for _, b := range blobs {
		if b.Referenced {
			refd++
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"activated": st.Active, "validDid": true, "repoCommit": st.Head, "repoRev": st.Rev,
		"repoBlocks": n, "indexedRecords": n, "privateStateValues": 0,
		"expectedBlobs": refd + len(missing), "importedBlobs": refd,
	})
	return nil
}
