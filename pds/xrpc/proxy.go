package xrpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/accounts"
	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/identity"
	"github.com/hearth-pds/hearth/pds/outbound"
)

// Headers passed to proxied services (the reference PDS's list, plus
// the conditional-request and Accept headers that cannot carry
// credentials); never Authorization, cookies or the client's User-Agent.
var proxyRequestHeaders = []string{"Accept", "Accept-Language", "Atproto-Accept-Labelers", "X-Bsky-Topics", "If-None-Match", "If-Modified-Since"}

// proxyBodyHeaders describe a POST body and go with it only.
var proxyBodyHeaders = []string{"Content-Type", "Content-Encoding"}

// Headers passed back from proxied services.
var proxyResponseHeaders = []string{"Content-Type", "Content-Language", "Content-Encoding", "Atproto-Content-Labelers", "Atproto-Repo-Rev", "ETag", "Last-Modified", "Cache-Control", "Vary", "Retry-After", "Ratelimit-Limit", "Ratelimit-Remaining", "Ratelimit-Reset", "Ratelimit-Policy"}

// Limits of proxied calls.
const (
	// DefaultProxyMaxResponse bounds a proxied response body.
	DefaultProxyMaxResponse = 16 << 20
	proxyTimeout            = 60 * time.Second // whole exchange, body included
	proxyHeaderTimeout      = 30 * time.Second
	proxyUserAgent          = "hearth-pds (atproto-proxy)"
)

func (s *Server) registerProxy(opts Options) {
	s.handle("app.bsky.actor.getPreferences", http.MethodGet, authAccess, s.getPreferences)
	s.handle("app.bsky.actor.putPreferences", http.MethodPost, authAccess, s.putPreferences)
	s.handle("com.atproto.server.getServiceAuth", http.MethodGet, authAccess, s.getServiceAuth)
	// trusts the AppView in use; anything else must be public
	s.proxyClients = &proxyClients{policy: s.e.Outbound, limits: func(pol *outbound.Policy) {
		pol.MaxBody = opts.ProxyMaxResponse
		if pol.MaxBody <= 0 {
			pol.MaxBody = DefaultProxyMaxResponse
		}
		pol.Timeout, pol.HeaderTimeout, pol.UserAgent = proxyTimeout, proxyHeaderTimeout, proxyUserAgent
	}}
}

// proxyTarget decides where a request for nsid goes: the atproto-proxy
// header's service, else ("" and true) the configured AppView for
// app.bsky.*; ok false = not proxied.
func (s *Server) proxyTarget(r *http.Request, nsid string) (ref string, ok bool) {
	if h := r.Header.Get("atproto-proxy"); h != "" {
		return h, true
	}
	return "", strings.HasPrefix(nsid, "app.bsky.")
}

// validProxyQuery accepts a raw query that can only ever be a query:
// printable ASCII with no '#' (a fragment) and no spaces. It is sent as
// is after the path built from the validated NSID, so it cannot change
// the path ("?x=../..", "%2F" stay inside the query).
func validProxyQuery(q string) bool {
	for i := 0; i < len(q); i++ {
		if c := q[i]; c <= ' ' || c >= 0x7f || c == '#' {
			return false
		}
	}
	return true
}

// proxy forwards an XRPC call as the reference PDS does: only for an
// authenticated caller, with a service-auth JWT (aud the bare service
// DID, lxm the method) signed by the caller's key; allow-listed headers
// both ways; the response streamed back, bounded in size and time.
func (s *Server) proxy(w http.ResponseWriter, r *http.Request, nsid, ref string) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost {
		return errs.New(errMethodNotAllowed, "XRPC requests only supports GET and POST")
	}
	if _, err := syntax.ParseNSID(nsid); err != nil {
		return errs.Invalid("invalid XRPC method name")
	}
	if identity.ProtectedMethod(nsid) {
		return errs.New(errs.ErrInvalidToken, "Bad token method")
	}
	caller, err := s.authenticate(r, authAccess)
	if err != nil {
		return err
	}
	if identity.PrivilegedMethod(nsid) && !caller.Privileged() {
		return errs.New(errs.ErrInvalidToken, "Bad token method")
	}
	if !validProxyQuery(r.URL.RawQuery) {
		return errs.Invalid("invalid query string")
	}
	var svc *identity.Service
	if ref == "" {
		svc, err = s.e.Identity.AppViewService()
	} else {
		svc, err = s.e.Identity.ResolveService(r.Context(), ref)
	}
	if err != nil {
		return err
	}
	target := url.URL{Scheme: svc.URL.Scheme, Host: svc.URL.Host, Path: "/xrpc/" + nsid, RawQuery: r.URL.RawQuery}
	var body io.Reader
	if r.Method == http.MethodPost {
		body = http.MaxBytesReader(w, r.Body, MaxJSONBody*10)
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, target.String(), body)
	if err != nil {
		return fmt.Errorf("build proxy request: %w", err)
	}
	copyHeaders(req.Header, r.Header, proxyRequestHeaders)
	if r.Method == http.MethodPost {
		copyHeaders(req.Header, r.Header, proxyBodyHeaders)
		if r.ContentLength > 0 {
			req.ContentLength = r.ContentLength
		}
	}
	// Set explicitly, Go's transport passes the encoding through untouched
	// (no transparent gunzip), so Content-Encoding stays true.
	if ae := r.Header.Get("Accept-Encoding"); ae != "" {
		req.Header.Set("Accept-Encoding", ae)
	} else {
		req.Header.Set("Accept-Encoding", "identity")
	}
	req.Header.Set("User-Agent", proxyUserAgent)
	tok, err := s.e.Identity.ServiceAuth(r.Context(), *caller, svc.DID.String(), nsid, identity.DefaultServiceAuthTTL)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := s.proxyClients.get().Do(req)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err // the caller's body was too large: theirs to know
		}
		s.log.Warn("proxied service unreachable", "request_id", w.Header().Get("X-Request-Id"), "nsid", nsid, "service", svc.DID, "url", target.Host, "err", err)
		return errs.New(errs.ErrUpstreamFailure, "Upstream service unreachable")
	}
	defer resp.Body.Close()
	copyHeaders(w.Header(), resp.Header, proxyResponseHeaders)
	w.WriteHeader(resp.StatusCode)
	if _, err := io.Copy(w, resp.Body); err != nil {
		s.log.Warn("proxied response cut short", "request_id", w.Header().Get("X-Request-Id"), "nsid", nsid, "service", svc.DID, "err", err)
	}
	return nil
}

func copyHeaders(dst, src http.Header, names []string) {
	for _, h := range names {
		for _, v := range src.Values(h) {
			dst.Add(h, v)
		}
	}
}

func (s *Server) getPreferences(w http.ResponseWriter, r *http.Request, c *accounts.Caller) error {
	prefs, err := s.e.Accounts.GetPreferences(r.Context(), c.DID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"preferences": prefs})
	return nil
}

func (s *Server) putPreferences(w http.ResponseWriter, r *http.Request, c *accounts.Caller) error {
	var in struct {
		Preferences json.RawMessage `json:"preferences"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := s.e.Accounts.PutPreferences(r.Context(), c.DID, in.Preferences, c.Privileged()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) getServiceAuth(w http.ResponseWriter, r *http.Request, c *accounts.Caller) error {
	q := r.URL.Query()
	aud := q.Get("aud")
	if aud == "" {
		return errs.Invalid("aud is required")
	}
	var ttl time.Duration // 0: the default minute
	if e := q.Get("exp"); e != "" {
		n, err := intParam(r, "exp", 0, 1, 1<<40)
		if err != nil {
			return err
		}
		ttl = time.Until(time.Unix(int64(n), 0))
		if ttl <= 0 {
			return errs.New(errs.ErrBadExpiration, "expiration is in past")
		}
	}
	tok, err := s.e.Identity.ServiceAuth(r.Context(), *c, aud, q.Get("lxm"), ttl)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": tok})
	return nil
}
