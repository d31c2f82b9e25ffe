package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/golang-jwt/jwt/v5"

	"github.com/hearth-pds/hearth/pds/store"
)

// accessClaims are an access token's claims (an HS256 JWT, typ at+jwt,
// only ever checked by this server).
type accessClaims struct {
	Scope    string            `json:"scope"`
	ClientID string            `json:"client_id"`
	GrantID  string            `json:"gid"`
	Cnf      map[string]string `json:"cnf"`
	jwt.RegisteredClaims
}

func (s *Server) accessKey() []byte {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte("oauth access token"))
	return m.Sum(nil)
}

func (s *Server) issueAccess(did, scope, clientID, grantID, jkt string) (string, error) {
	now := s.cfg.Now()
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, accessClaims{
		Scope: scope, ClientID: clientID, GrantID: grantID, Cnf: map[string]string{"jkt": jkt},
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: s.issuer(), Subject: did, Audience: jwt.ClaimStrings{s.issuer()},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(AccessLifetime)),
			ID: randomToken("")[:22],
		},
	})
	t.Header["typ"] = "at+jwt"
	return t.SignedString(s.accessKey())
}

// parseAccess checks an access token's signature and expiry.
func (s *Server) parseAccess(token string) (*accessClaims, error) {
	var c accessClaims
	tok, err := jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		if t.Header["typ"] != "at+jwt" {
			return nil, errors.New("not an access token")
		}
		return s.accessKey(), nil
	}, jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithTimeFunc(s.cfg.Now))
	if err != nil || !tok.Valid {
		return nil, err
	}
	return &c, nil
}

// IsAccessToken reports whether token is one of this server's OAuth access
// tokens (to refuse one sent as a Bearer token).
func (s *Server) IsAccessToken(token string) bool {
	c, err := s.parseAccess(token)
	return err == nil && c != nil
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	Sub          string `json:"sub"`
}

// HandleToken serves the token endpoint.
func (s *Server) HandleToken(w http.ResponseWriter, r *http.Request) {
	form, err := readForm(w, r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	proof, err := s.dpop.Verify(r.Header.Get("DPoP"), http.MethodPost, s.endpointURLs(r, PathToken), "")
	if err != nil {
		s.writeError(w, err)
		return
	}
	var out *tokenResponse
	switch form.Get("grant_type") {
	case "authorization_code":
		out, err = s.exchangeCode(r.Context(), form, proof)
	case "refresh_token":
		out, err = s.refresh(r.Context(), form, proof)
	default:
		err = oauthErr(http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
	}
	if err != nil {
		s.writeError(w, err)
		return
	}
	w.Header().Set("DPoP-Nonce", s.Nonce())
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) clientFor(ctx context.Context, form url.Values) (*ClientMetadata, string, error) {
	clientID := form.Get("client_id")
	if clientID == "" {
		return nil, "", invalidRequest("missing client_id")
	}
	meta, err := s.clients.Resolve(ctx, clientID)
	if err != nil {
		return nil, "", err
	}
	method, err := s.authenticateClient(ctx, form, meta)
	if err != nil {
		return nil, "", err
	}
	return meta, method, nil
}

func sameAuthMethod(a, b string) bool {
	am, _, _ := strings.Cut(a, ":")
	bm, _, _ := strings.Cut(b, ":")
	return am == bm
}

func (s *Server) lifetimes(confidential bool, now time.Time) (session, refresh time.Time) {
	if confidential {
		return now.Add(ConfidentialSessionLifetime), now.Add(ConfidentialRefreshLifetime)
	}
	end := now.Add(PublicSessionLifetime)
	return end, end
}

func (s *Server) exchangeCode(ctx context.Context, form url.Values, proof *Proof) (*tokenResponse, error) {
	meta, method, err := s.clientFor(ctx, form)
	if err != nil {
		return nil, err
	}
	code, verifier, redirect := form.Get("code"), form.Get("code_verifier"), form.Get("redirect_uri")
	if code == "" || verifier == "" {
		return nil, invalidRequest("code and code_verifier are required")
	}
	if len(verifier) < 43 || len(verifier) > 128 {
		return nil, invalidGrant("code_verifier has the wrong length")
	}
	now := s.cfg.Now()
	var out *tokenResponse
	var refused error
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		var id, clientID, jkt, clientAuth string
		var raw []byte
		var exp int64
		var did sql.NullString
		var used int
		err := tx.QueryRow("SELECT id, client_id, params, dpop_jkt, client_auth, expires_at, did, code_used FROM oauth_request WHERE code_hash = ?",
			hashToken(code)).Scan(&id, &clientID, &raw, &jkt, &clientAuth, &exp, &did, &used)
		if errors.Is(err, sql.ErrNoRows) {
			refused = invalidGrant("the code is not valid")
			return nil
		}
		if err != nil {
			return err
		}
		if used != 0 {
			// A replayed code: revoke what it produced (RFC 6749 4.1.2).
			if err := revokeGrantTx(tx, id); err != nil {
				return err
			}
			refused = invalidGrant("the code was already used; the tokens issued for it are revoked")
			return nil
		}
		if _, err := tx.Exec("UPDATE oauth_request SET code_used = 1 WHERE id = ?", id); err != nil {
			return err
		}
		var p authParams
		if err := json.Unmarshal(raw, &p); err != nil {
			return err
		}
		switch {
		case now.Unix() > exp:
			refused = invalidGrant("the code has expired")
		case clientID != meta.ClientID:
			refused = invalidGrant("the code was issued to another client")
		case !sameAuthMethod(clientAuth, method):
			refused = invalidGrant("the client authenticated differently when it pushed the request")
		case redirect != p.RedirectURI:
			refused = invalidGrant("redirect_uri does not match the authorization request")
		case subtle.ConstantTimeCompare([]byte(S256(verifier)), []byte(p.CodeChallenge)) != 1:
			refused = invalidGrant("the code_verifier does not match the code_challenge (PKCE)")
		case jkt != proof.JKT:
			refused = oauthErr(http.StatusBadRequest, "invalid_dpop_proof", "the DPoP key is not the one the request was pushed with")
		case !did.Valid:
			refused = invalidGrant("the code is not valid")
		}
		if refused != nil {
			return nil
		}
		session, refreshEnd := s.lifetimes(meta.Confidential(), now)
		refresh := randomToken("hrt-")
		_, err = tx.Exec(`INSERT INTO oauth_grant(id, did, client_id, client_name, scope, dpop_jkt, client_auth, created_at, expires_at, last_used_at, refresh_hash, refresh_expires_at)
			VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, did.String, meta.ClientID, clientName(meta), p.Scope, proof.JKT, method, now.Unix(), session.Unix(), now.Unix(), hashToken(refresh), min(session.Unix(), refreshEnd.Unix()))
		if err != nil {
			return err
		}
		access, err := s.issueAccess(did.String, p.Scope, meta.ClientID, id, proof.JKT)
		if err != nil {
			return err
		}
		out = &tokenResponse{AccessToken: access, TokenType: "DPoP", ExpiresIn: int(AccessLifetime.Seconds()),
			RefreshToken: refresh, Scope: p.Scope, Sub: did.String}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("exchange code: %w", err)
	}
	if refused != nil {
		return nil, refused
	}
	return out, nil
}

func clientName(m *ClientMetadata) string {
	if m.ClientName != "" {
		return m.ClientName
	}
	return m.ClientID
}

// S256 is PKCE's S256 code challenge of a verifier.
func S256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return b64.EncodeToString(sum[:])
}

func revokeGrantTx(tx *store.Tx, id string) error {
	if _, err := tx.Exec("DELETE FROM oauth_grant WHERE id = ?", id); err != nil {
		return err
	}
	_, err := tx.Exec("DELETE FROM oauth_used_refresh WHERE grant_id = ?", id)
	return err
}

func (s *Server) refresh(ctx context.Context, form url.Values, proof *Proof) (*tokenResponse, error) {
	meta, method, err := s.clientFor(ctx, form)
	if err != nil {
		return nil, err
	}
	token := form.Get("refresh_token")
	if token == "" {
		return nil, invalidRequest("missing refresh_token")
	}
	h := hashToken(token)
	now := s.cfg.Now()
	var out *tokenResponse
	var refused error
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		var id, did, clientID, scope, jkt, clientAuth string
		var exp, rexp int64
		err := tx.QueryRow("SELECT id, did, client_id, scope, dpop_jkt, client_auth, expires_at, refresh_expires_at FROM oauth_grant WHERE refresh_hash = ?", h).
			Scan(&id, &did, &clientID, &scope, &jkt, &clientAuth, &exp, &rexp)
		if errors.Is(err, sql.ErrNoRows) {
			var gid string
			err := tx.QueryRow("SELECT grant_id FROM oauth_used_refresh WHERE hash = ?", h).Scan(&gid)
			if err == nil {
				// Reuse of a rotated token: someone holds a copy. End the grant.
				if err := revokeGrantTx(tx, gid); err != nil {
					return err
				}
				refused = invalidGrant("the refresh token was already used; the session is revoked")
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			refused = invalidGrant("the refresh token is not valid")
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case clientID != meta.ClientID:
			refused = invalidGrant("the refresh token was issued to another client")
		case !sameAuthMethod(clientAuth, method):
			refused = invalidGrant("the client authenticated differently")
		case jkt != proof.JKT:
			refused = oauthErr(http.StatusBadRequest, "invalid_dpop_proof", "the DPoP key is not the one the session is bound to")
		case now.Unix() > exp || now.Unix() > rexp:
			refused = invalidGrant("the session has expired; sign in again")
		}
		if refused != nil {
			return nil
		}
		next := randomToken("hrt-")
		_, refreshEnd := s.lifetimes(meta.Confidential(), now)
		if _, err := tx.Exec("INSERT INTO oauth_used_refresh(hash, grant_id, expires_at) VALUES(?, ?, ?)", h, id, exp); err != nil {
			return err
		}
		if _, err := tx.Exec("UPDATE oauth_grant SET refresh_hash = ?, refresh_expires_at = ?, last_used_at = ? WHERE id = ?",
			hashToken(next), min(refreshEnd.Unix(), exp), now.Unix(), id); err != nil {
			return err
		}
		access, err := s.issueAccess(did, scope, clientID, id, jkt)
		if err != nil {
			return err
		}
		out = &tokenResponse{AccessToken: access, TokenType: "DPoP", ExpiresIn: int(AccessLifetime.Seconds()),
			RefreshToken: next, Scope: scope, Sub: did}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("refresh: %w", err)
	}
	if refused != nil {
		return nil, refused
	}
	return out, nil
}

// HandleRevoke serves the revocation endpoint (RFC 7009): a refresh or
// access token ends its grant. Unknown tokens are no error.
func (s *Server) HandleRevoke(w http.ResponseWriter, r *http.Request) {
	form, err := readForm(w, r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	if r.Header.Get("DPoP") != "" {
		if _, err := s.dpop.Verify(r.Header.Get("DPoP"), http.MethodPost, s.endpointURLs(r, PathRevoke), ""); err != nil {
			s.writeError(w, err)
			return
		}
	}
	meta, _, err := s.clientFor(r.Context(), form)
	if err != nil {
		s.writeError(w, err)
		return
	}
	token := form.Get("token")
	err = s.db.Write(r.Context(), func(tx *store.Tx) error {
		if c, err := s.parseAccess(token); err == nil {
			if c.ClientID != meta.ClientID {
				return nil
			}
			return revokeGrantTx(tx, c.GrantID)
		}
		var id string
		err := tx.QueryRow("SELECT id FROM oauth_grant WHERE refresh_hash = ? AND client_id = ?", hashToken(token), meta.ClientID).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		return revokeGrantTx(tx, id)
	})
	if err != nil {
		s.writeError(w, fmt.Errorf("revoke: %w", err))
		return
	}
	w.Header().Set("DPoP-Nonce", s.Nonce())
	writeJSON(w, http.StatusOK, map[string]any{})
}

// ResourceError is a resource request refused: answered 401 with
// WWW-Authenticate: DPoP error=Code (or 403 insufficient_scope).
type ResourceError struct {
	Status      int
	Code        string // use_dpop_nonce, invalid_dpop_proof, invalid_token, insufficient_scope
	Description string
	Nonce       string // the DPoP nonce to send with the answer
}

// ResourceErr stamps a resource error with the current DPoP nonce.
func (s *Server) ResourceErr(e *ResourceError) *ResourceError {
	e.Nonce = s.Nonce()
	return e
}

func (e *ResourceError) Error() string { return e.Code + ": " + e.Description }

// Grant is a resource request's verified OAuth grant.
type Grant struct {
	ID       string
	DID      syntax.DID
	ClientID string
	Scopes   Scopes
}

// AuthenticateResource checks a resource request made with
// "Authorization: DPoP <token>": the token, its grant (not revoked), and
// the DPoP proof (bound to the token's key, this method and URL).
func (s *Server) AuthenticateResource(ctx context.Context, r *http.Request, token string) (*Grant, error) {
	c, err := s.parseAccess(token)
	if err != nil {
		msg := "the access token is not valid"
		if errors.Is(err, jwt.ErrTokenExpired) {
			msg = "the access token has expired"
		}
		return nil, s.ResourceErr(&ResourceError{Status: http.StatusUnauthorized, Code: "invalid_token", Description: msg})
	}
	htus := s.endpointURLs(r, r.URL.Path)
	proof, err := s.dpop.Verify(r.Header.Get("DPoP"), r.Method, htus, token)
	if err != nil {
		var pe *ProofError
		if errors.As(err, &pe) && pe.UseNonce {
			return nil, s.ResourceErr(&ResourceError{Status: http.StatusUnauthorized, Code: "use_dpop_nonce", Description: "Resource server requires nonce in DPoP proof"})
		}
		if errors.As(err, &pe) {
			return nil, s.ResourceErr(&ResourceError{Status: http.StatusUnauthorized, Code: "invalid_dpop_proof", Description: pe.Reason})
		}
		return nil, err
	}
	if proof.JKT != c.Cnf["jkt"] {
		return nil, s.ResourceErr(&ResourceError{Status: http.StatusUnauthorized, Code: "invalid_dpop_proof", Description: "the proof is not signed by the key the token is bound to"})
	}
	did, err := syntax.ParseDID(c.Subject)
	if err != nil {
		return nil, s.ResourceErr(&ResourceError{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the access token is not valid"})
	}
	now := s.cfg.Now().Unix()
	var jkt string
	var exp, last int64
	err = s.db.Read(ctx, func(tx *store.Tx) error {
		return tx.QueryRow("SELECT dpop_jkt, expires_at, last_used_at FROM oauth_grant WHERE id = ? AND did = ?", c.GrantID, did.String()).Scan(&jkt, &exp, &last)
	})
	if errors.Is(err, sql.ErrNoRows) || (err == nil && (now > exp || jkt != c.Cnf["jkt"])) {
		return nil, s.ResourceErr(&ResourceError{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the session was revoked or has ended"})
	}
	if err != nil {
		return nil, fmt.Errorf("load grant: %w", err)
	}
	if now-last >= 60 {
		if err := s.db.Write(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec("UPDATE oauth_grant SET last_used_at = ? WHERE id = ?", now, c.GrantID)
			return err
		}); err != nil {
			s.cfg.Logger.Warn("oauth: recording last use failed", "err", err)
		}
	}
	sc, err := ParseGrantedScopes(c.Scope)
	if err != nil {
		return nil, s.ResourceErr(&ResourceError{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the access token is not valid"})
	}
	return &Grant{ID: c.GrantID, DID: did, ClientID: c.ClientID, Scopes: sc}, nil
}
