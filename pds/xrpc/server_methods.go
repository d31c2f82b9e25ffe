package xrpc

import (
	"encoding/json"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/hearth-pds/hearth/pds/accounts"
	"github.com/hearth-pds/hearth/pds/edge"
	"github.com/hearth-pds/hearth/pds/errs"
	"net/http"
	"slices"

	"github.com/hearth-pds/hearth/pds"
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
	s.handle("com.atproto.identity.getRecommendedDidCredentials", http.MethodGet, authAccess, func(w http.ResponseWriter, r *http.Request, c *accounts.Caller) error {
		creds, err := s.e.Identity.RecommendedCredentials(r.Context(), c.DID)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, creds)
		return nil
	})
	s.handle("com.atproto.identity.submitPlcOperation", http.MethodPost, authFull, func(w http.ResponseWriter, r *http.Request, c *accounts.Caller) error {
		var in struct {
			Operation json.RawMessage `json:"operation"`
		}
		if err := decodeJSON(w, r, &in); err != nil {
			return err
		}
		if err := s.e.Identity.SubmitOperation(r.Context(), c.DID, in.Operation); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	})
	s.handle("com.atproto.server.activateAccount", http.MethodPost, authFull, func(w http.ResponseWriter, r *http.Request, c *accounts.Caller) error {
		if err := s.e.SetActive(r.Context(), c.DID, true); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	})
}

func (s *Server) describeServer(w http.ResponseWriter, r *http.Request, _ *accounts.Caller) error {
	links, email := s.e.Identity.ServerLinks()
	linkMap, contact := map[string]any{}, map[string]any{}
	if links.PrivacyPolicy != "" {
		linkMap["privacyPolicy"] = links.PrivacyPolicy
	}
	if links.TermsOfService != "" {
		linkMap["termsOfService"] = links.TermsOfService
	}
	if email != "" {
		contact["email"] = email
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"did":                       s.e.Identity.ServiceDID(),
		"availableUserDomains":      s.availableUserDomains(),
		"inviteCodeRequired":        len(s.opts.OpenSignupDomains) == 0,
		"phoneVerificationRequired": false,
		"links":                     linkMap,
		"contact":                   contact,
	})
	return nil
}

func (s *Server) sessionJSON(r *http.Request, sess *accounts.Session, withTokens bool) (map[string]any, error) {
	doc, err := s.e.Identity.DIDDocument(r.Context(), sess.DID)
	if err != nil {
		return nil, err
	}
	out := map[string]any{
		"did":    sess.DID,
		"handle": sess.Handle,
		"didDoc": doc,
		"active": sess.Active(),
	}
	if !sess.Active() {
		out["status"] = sess.Status
	}
	if sess.Email != "" {
		out["email"] = sess.Email
	}
	confirmed, err := s.e.Accounts.EmailConfirmed(r.Context(), sess.DID)
	if err != nil {
		return nil, err
	}
	out["emailConfirmed"] = confirmed
	out["emailAuthFactor"] = false
	if withTokens {
		out["accessJwt"] = sess.AccessJwt
		out["refreshJwt"] = sess.RefreshJwt
	}
	hideEmail(r.Context(), out)
	return out, nil
}

func (s *Server) respondSession(w http.ResponseWriter, r *http.Request, sess *accounts.Session, withTokens bool) error {
	out, err := s.sessionJSON(r, sess, withTokens)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) createAccount(w http.ResponseWriter, r *http.Request, _ *accounts.Caller) error {
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
	var moving syntax.DID
	if in.DID != "" {
		// Moving an existing account here: its current PDS vouches with a
		// service-auth token signed by the DID's key.
		did, err := syntax.ParseDID(in.DID)
		if err != nil || (did.Method() != "plc" && did.Method() != "web") {
			return errs.Invalid("%q is not a did:plc or did:web", in.DID)
		}
		tok, ok := bearer(r)
		if !ok {
			return errs.New(errAuthMissing, "moving an account here needs a service-auth token from its current PDS")
		}
		if err := s.e.Identity.VerifyMigrationAuth(r.Context(), did, tok); err != nil {
			return err
		}
		moving = did
	}
	acc, err := s.e.CreateAccount(r.Context(), pds.NewAccount{Handle: in.Handle, Email: in.Email, Password: in.Password, InviteCode: in.InviteCode, RequireInvite: !s.openSignup(in.Handle), MigratingDID: moving})
	if err != nil {
		return err
	}
	sess, err := s.e.Accounts.NewSession(r.Context(), acc.DID)
	if err != nil {
		return err
	}
	return s.respondSession(w, r, sess, true)
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request, _ *accounts.Caller) error {
	var in struct {
		Identifier string `json:"identifier"`
		Password   string `json:"password"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Identifier == "" || in.Password == "" {
		return errs.Invalid("identifier and password are required")
	}
	sess, err := s.e.Accounts.Login(r.Context(), in.Identifier, in.Password, edge.ClientAddr(r).Key())
	if err != nil {
		return err
	}
	return s.respondSession(w, r, sess, true)
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request, c *accounts.Caller) error {
	acc, err := s.e.Accounts.Get(r.Context(), c.DID)
	if err != nil {
		return err
	}
	return s.respondSession(w, r, &accounts.Session{Account: *acc}, false)
}

func (s *Server) refreshSession(w http.ResponseWriter, r *http.Request, _ *accounts.Caller) error {
	tok, ok := bearer(r)
	if !ok {
		return errs.New(errAuthMissing, "Authentication Required")
	}
	sess, err := s.e.Accounts.RefreshSession(r.Context(), tok)
	if err != nil {
		return err
	}
	return s.respondSession(w, r, sess, true)
}

func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request, _ *accounts.Caller) error {
	tok, ok := bearer(r)
	if !ok {
		return errs.New(errAuthMissing, "Authentication Required")
	}
	if err := s.e.Accounts.Logout(r.Context(), tok); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) createAppPassword(w http.ResponseWriter, r *http.Request, c *accounts.Caller) error {
	var in struct {
		Name       string `json:"name"`
		Privileged bool   `json:"privileged"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	secret, ap, err := s.e.Accounts.CreateAppPassword(r.Context(), c.DID, in.Name, in.Privileged)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": ap.Name, "password": secret, "createdAt": ap.CreatedAt, "privileged": ap.Privileged})
	return nil
}

func (s *Server) listAppPasswords(w http.ResponseWriter, r *http.Request, c *accounts.Caller) error {
	aps, err := s.e.Accounts.ListAppPasswords(r.Context(), c.DID)
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

func (s *Server) revokeAppPassword(w http.ResponseWriter, r *http.Request, c *accounts.Caller) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := s.e.Accounts.RevokeAppPassword(r.Context(), c.DID, in.Name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) checkAccountStatus(w http.ResponseWriter, r *http.Request, c *accounts.Caller) error {
	st, err := s.e.Repos.Status(r.Context(), c.DID)
	if err != nil {
		return err
	}
	cols, err := s.e.Repos.Collections(r.Context(), c.DID)
	if err != nil {
		return err
	}
	n := 0
	for _, col := range cols {
		n += col.Count
	}
	missing, _, err := s.e.Blobs.ListMissing(r.Context(), c.DID, "", 1000)
	if err != nil {
		return err
	}
	blobs, err := s.e.Blobs.Details(r.Context(), c.DID)
	if err != nil {
		return err
	}
	refd := 0
	for _, b := range blobs {
		if b.Referenced {
			refd++
		}
	}
	validDID, err := s.e.Identity.ValidDID(r.Context(), c.DID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"activated": st.Active, "validDid": validDID, "repoCommit": st.Head, "repoRev": st.Rev,
		"repoBlocks": n, "indexedRecords": n, "privateStateValues": 0,
		"expectedBlobs": refd + len(missing), "importedBlobs": refd,
	})
	return nil
}

// availableUserDomains lists the handle domains accounts here may take:
// the configured user domains and, on a devnet, the open sign-up ones.
func (s *Server) availableUserDomains() []string {
	out := append([]string{}, s.e.Identity.UserDomains()...)
	for _, d := range s.opts.OpenSignupDomains {
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}
