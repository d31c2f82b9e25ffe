package oauth

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/hearth-pds/hearth/pds/edge"
	"github.com/hearth-pds/hearth/pds/store"
)

const (
	requestURIPrefix = "urn:ietf:params:oauth:request_uri:req-"
	maxFormBody      = 64 << 10
)

// authParams are the authorization request's parameters, kept from PAR
// until the code is exchanged.
type authParams struct {
	ClientID      string `json:"client_id"`
	RedirectURI   string `json:"redirect_uri"`
	Scope         string `json:"scope"`
	State         string `json:"state"`
	CodeChallenge string `json:"code_challenge"`
	ResponseMode  string `json:"response_mode"`
	LoginHint     string `json:"login_hint,omitempty"`
	Prompt        string `json:"prompt,omitempty"`
	ClientName    string `json:"client_name,omitempty"`
	ClientURI     string `json:"client_uri,omitempty"`
	Confidential  bool   `json:"confidential,omitempty"`
	// Includes are the request's permission sets as resolved at PAR (their
	// permissions are in Scope already), for the consent page.
	Includes []IncludedSet `json:"includes,omitempty"`
}

// readForm reads a bounded application/x-www-form-urlencoded (or JSON
// object of strings) body.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if r.Method != http.MethodPost {
		return nil, invalidRequest("use POST")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBody))
	if err != nil {
		return nil, invalidRequest("the request body is too large or could not be read")
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/x-www-form-urlencoded", "":
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, invalidRequest("malformed form body")
		}
		return v, nil
	case "application/json":
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, invalidRequest("malformed JSON body")
		}
		v := url.Values{}
		for k, x := range m {
			if s, ok := x.(string); ok {
				v.Set(k, s)
			}
		}
		return v, nil
	}
	return nil, invalidRequest("unsupported content type %q", ct)
}

// single returns a parameter that must appear at most once.
func single(v url.Values, name string) (string, error) {
	if len(v[name]) > 1 {
		return "", invalidRequest("parameter %s is repeated", name)
	}
	return v.Get(name), nil
}

// endpointURLs are the URLs a DPoP proof's htu may name for path: at the
// issuer, and at the origin the request reached directly (a local client
// of a PDS that is publishing elsewhere).
func (s *Server) endpointURLs(r *http.Request, path string) []string {
	out := []string{s.issuer() + path}
	if r.Host != "" && !edge.FromTunnel(r) {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		if u, ok := NormalizeHTU(scheme + "://" + r.Host + path); ok && u != out[0] {
			out = append(out, u)
		}
	}
	return out
}

// HandlePAR serves the pushed authorization request endpoint.
func (s *Server) HandlePAR(w http.ResponseWriter, r *http.Request) {
	form, err := readForm(w, r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	proof, err := s.dpop.Verify(r.Header.Get("DPoP"), http.MethodPost, s.endpointURLs(r, PathPAR), "")
	if err != nil {
		s.writeError(w, err)
		return
	}
	id, err := s.pushRequest(r.Context(), form, proof)
	if err != nil {
		s.writeError(w, err)
		return
	}
	w.Header().Set("DPoP-Nonce", s.Nonce())
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, map[string]any{"request_uri": requestURIPrefix + id, "expires_in": int(RequestLifetime.Seconds())})
}

func (s *Server) pushRequest(ctx context.Context, form url.Values, proof *Proof) (string, error) {
	for _, k := range []string{"request", "request_uri"} {
		if form.Has(k) {
			return "", invalidRequest("the %s parameter is not supported in a pushed request", k)
		}
	}
	p := authParams{}
	var err error
	get := func(name string) string {
		if err != nil {
			return ""
		}
		var v string
		v, err = single(form, name)
		return v
	}
	p.ClientID = get("client_id")
	responseType := get("response_type")
	p.RedirectURI = get("redirect_uri")
	p.Scope = get("scope")
	p.State = get("state")
	p.CodeChallenge = get("code_challenge")
	method := get("code_challenge_method")
	p.ResponseMode = get("response_mode")
	p.LoginHint = get("login_hint")
	p.Prompt = get("prompt")
	jkt := get("dpop_jkt")
	if err != nil {
		return "", err
	}
	if p.ClientID == "" {
		return "", invalidRequest("missing client_id")
	}
	meta, err := s.clients.Resolve(ctx, p.ClientID)
	if err != nil {
		return "", err
	}
	clientAuth, err := s.authenticateClient(ctx, form, meta)
	if err != nil {
		return "", err
	}
	if responseType != "code" {
		return "", oauthErr(http.StatusBadRequest, "unsupported_response_type", `response_type must be "code"`)
	}
	if p.CodeChallenge == "" || method != "S256" {
		return "", invalidRequest("PKCE with code_challenge_method S256 is required")
	}
	if len(p.CodeChallenge) < 43 || len(p.CodeChallenge) > 128 {
		return "", invalidRequest("code_challenge has the wrong length")
	}
	if p.State == "" || len(p.State) > 1024 {
		return "", invalidRequest("a state parameter (up to 1024 characters) is required")
	}
	if len(p.LoginHint) > 256 {
		return "", invalidRequest("login_hint is too long")
	}
	switch p.ResponseMode {
	case "":
		p.ResponseMode = "query"
	case "query", "fragment":
	default:
		return "", invalidRequest("response_mode must be query or fragment")
	}
	if jkt != "" && jkt != proof.JKT {
		return "", oauthErr(http.StatusBadRequest, "invalid_dpop_proof", "dpop_jkt does not match the DPoP proof's key")
	}
	if p.RedirectURI == "" {
		if len(meta.RedirectURIs) != 1 {
			return "", invalidRequest("redirect_uri is required: the client registers several")
		}
		p.RedirectURI = meta.RedirectURIs[0]
	}
	if !redirectAllowed(meta, p.RedirectURI) {
		return "", invalidRequest("redirect_uri is not one of the client's")
	}
	if p.Scope == "" {
		p.Scope = meta.Scope
	}
	want, err := ParseScopes(p.Scope)
	if err != nil {
		return "", oauthErr(http.StatusBadRequest, "invalid_scope", "%v", err)
	}
	if !want.Has(ScopeAtproto) {
		return "", oauthErr(http.StatusBadRequest, "invalid_scope", `the "atproto" scope is required`)
	}
	allowed, err := ParseScopes(meta.Scope)
	if err != nil {
		return "", invalidClient("the client's metadata scope is invalid: %v", err)
	}
	if !want.Subset(allowed) {
		return "", oauthErr(http.StatusBadRequest, "invalid_scope", "the request asks for scopes the client's metadata does not declare")
	}
	// Permission sets become the granular permissions they list, resolved
	// now through the network; the grant never holds an include: itself.
	granted, sets, err := s.expandIncludes(ctx, want)
	if err != nil {
		return "", err
	}
	p.Scope, p.Includes = granted.String(), sets
	p.ClientName, p.ClientURI, p.Confidential = meta.ClientName, meta.ClientURI, meta.Confidential()
	params, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	id := randomToken("")
	exp := s.cfg.Now().Add(RequestLifetime).Unix()
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec("INSERT INTO oauth_request(id, client_id, params, dpop_jkt, client_auth, expires_at) VALUES(?, ?, ?, ?, ?, ?)",
			id, p.ClientID, params, proof.JKT, clientAuth, exp)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("store pushed request: %w", err)
	}
	return id, nil
}

// redirectAllowed matches a requested redirect_uri against the client's:
// exactly, except that a loopback one may use any port (RFC 8252 7.3).
func redirectAllowed(meta *ClientMetadata, raw string) bool {
	if contains(meta.RedirectURIs, raw) {
		return true
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || !loopbackHost(u.Hostname()) {
		return false
	}
	for _, reg := range meta.RedirectURIs {
		ru, err := url.Parse(reg)
		if err != nil || ru.Scheme != "http" || !loopbackHost(ru.Hostname()) {
			continue
		}
		if ru.Hostname() == u.Hostname() && ru.EscapedPath() == u.EscapedPath() && ru.RawQuery == u.RawQuery && (ru.Port() == "" || ru.Port() == u.Port()) {
			return true
		}
	}
	return false
}

// pending is a pushed request loaded for the authorization page.
type pending struct {
	ID       string
	Params   authParams
	Expired  bool
	Approved bool
}

var errNoRequest = errors.New("no such request")

func (s *Server) loadRequest(ctx context.Context, requestURI, clientID string) (*pending, error) {
	id, ok := strings.CutPrefix(requestURI, requestURIPrefix)
	if !ok || id == "" || len(id) > 100 {
		return nil, errNoRequest
	}
	var raw []byte
	var exp int64
	var did sql.NullString
	var cid string
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		return tx.QueryRow("SELECT client_id, params, expires_at, did FROM oauth_request WHERE id = ?", id).Scan(&cid, &raw, &exp, &did)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoRequest
	}
	if err != nil {
		return nil, fmt.Errorf("load request: %w", err)
	}
	if clientID != "" && cid != clientID {
		return nil, errNoRequest
	}
	p := &pending{ID: id, Expired: s.cfg.Now().Unix() > exp, Approved: did.Valid}
	if err := json.Unmarshal(raw, &p.Params); err != nil {
		return nil, fmt.Errorf("decode request: %w", err)
	}
	return p, nil
}

// redirectURL is the authorization response: the client's redirect_uri
// with the code (or error), state and iss, in the query or fragment.
func (s *Server) redirectURL(p authParams, values url.Values) string {
	values.Set("state", p.State)
	values.Set("iss", s.issuer())
	u, err := url.Parse(p.RedirectURI)
	if err != nil {
		return p.RedirectURI
	}
	if p.ResponseMode == "fragment" {
		u.Fragment = ""
		return u.String() + "#" + values.Encode()
	}
	q := u.Query()
	for k, v := range values {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	return u.String()
}
