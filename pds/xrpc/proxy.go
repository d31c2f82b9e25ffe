package xrpc

import (
	"encoding/json"
	"github.com/hearth-pds/hearth/pds/accounts"
	"github.com/hearth-pds/hearth/pds/errs"
	"io"
	"net/http"
	"strings"
	"time"
)

// Headers passed through to and from proxied services.
var (
	proxyRequestHeaders  = []string{"Accept", "Accept-Language", "Atproto-Accept-Labelers", "Content-Type", "Content-Encoding", "If-None-Match", "X-Bsky-Topics"}
	proxyResponseHeaders = []string{"Content-Type", "Content-Language", "Content-Encoding", "Atproto-Content-Labelers", "Atproto-Repo-Rev", "ETag", "Cache-Control", "Retry-After", "Ratelimit-Limit", "Ratelimit-Remaining", "Ratelimit-Reset", "Ratelimit-Policy"}
)

func (s *Server) registerProxy() {
	s.handle("app.bsky.actor.getPreferences", http.MethodGet, authAccess, s.getPreferences)
	s.handle("app.bsky.actor.putPreferences", http.MethodPost, authAccess, s.putPreferences)
	s.handle("com.atproto.server.getServiceAuth", http.MethodGet, authAccess, s.getServiceAuth)
	s.proxyClient = &http.Client{Timeout: 60 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// proxyTarget decides where a request for nsid goes: the atproto-proxy
// header's service, else the AppView for app.bsky.*; "" = not proxied.
func (s *Server) proxyTarget(r *http.Request, nsid string) string {
	if h := r.Header.Get("atproto-proxy"); h != "" {
		return h
	}
	if strings.HasPrefix(nsid, "app.bsky.") {
		_, did := s.e.Identity.AppView()
		return did
	}
	return ""
}

// proxy forwards an XRPC call to a service with a service-auth JWT signed
// by the caller's key, and passes the response through.
func (s *Server) proxy(w http.ResponseWriter, r *http.Request, nsid, target string) error {
	var caller *accounts.Caller
	if _, ok := bearer(r); ok {
		c, err := s.authenticate(r, authAccess)
		if err != nil {
			return err
		}
		caller = c
	}
	if strings.HasPrefix(nsid, "chat.bsky.") && (caller == nil || !caller.Privileged()) {
		return errs.New(errPrivilegedRequired, "chat needs a session with a privileged app password or the account password")
	}
	base, err := s.e.Identity.ResolveService(r.Context(), target)
	if err != nil {
		return err
	}
	u := base + "/xrpc/" + nsid
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	var body io.Reader
	if r.Method == http.MethodPost {
		body = http.MaxBytesReader(w, r.Body, MaxJSONBody*10)
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, u, body)
	if err != nil {
		return errs.Wrap(errs.ErrInvalidRequest, err, "bad proxy request")
	}
	for _, h := range proxyRequestHeaders {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	if caller != nil {
		tok, err := s.e.Identity.ServiceAuth(r.Context(), caller.DID, target, nsid, 60*time.Second)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := s.proxyClient.Do(req)
	if err != nil {
		s.log.Info("proxied service unreachable", "nsid", nsid, "target", target, "err", err)
		return errs.Wrap(errs.ErrUpstreamFailure, err, "could not reach %s", target)
	}
	defer resp.Body.Close()
	for _, h := range proxyResponseHeaders {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, err = io.Copy(w, resp.Body)
	if err != nil {
		s.log.Info("proxied response cut short", "nsid", nsid, "err", err)
	}
	return nil
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
	ttl := 60 * time.Second
	if e := q.Get("exp"); e != "" {
		n, err := intParam(r, "exp", 0, 1, 1<<40)
		if err != nil {
			return err
		}
		ttl = time.Until(time.Unix(int64(n), 0))
		if ttl <= 0 {
			return errs.New(errs.ErrBadExpiration, "expiration is in the past")
		}
		if ttl > time.Hour {
			return errs.New(errs.ErrBadExpiration, "expiration is too far in the future (at most one hour)")
		}
	}
	lxm := q.Get("lxm")
	if lxm == "" && !c.Full() {
		return errs.Invalid("an app-password session must give lxm")
	}
	tok, err := s.e.Identity.ServiceAuth(r.Context(), c.DID, aud, lxm, ttl)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": tok})
	return nil
}
