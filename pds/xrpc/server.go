package xrpc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hearth-pds/hearth/pds"
	"github.com/hearth-pds/hearth/pds/apierr"
	"github.com/hearth-pds/hearth/pds/firehose"
)

// Version is reported by /xrpc/_health.
var Version = "dev"

// MaxJSONBody bounds JSON request bodies.
const MaxJSONBody = 5 << 20

type authKind int

const (
	authNone authKind = iota // no auth
	authOptional
	authAccess // any access token (incl. app passwords)
	authFull   // main password session only
)

type handler func(w http.ResponseWriter, r *http.Request, c *pds.Caller) error

type route struct {
	method string
	auth   authKind
	fn     handler
}

// Options configure a Server.
type Options struct {
	Firehose firehose.Config
}

// Server serves the engine over HTTP.
type Server struct {
	e      *pds.Engine
	hub    *firehose.Hub
	log    *slog.Logger
	routes map[string]route
	mux    *http.ServeMux
	nextID atomic.Uint64

	proxyClient *http.Client
}

// New builds the HTTP handler for an engine and starts its firehose.
func New(e *pds.Engine, opts Options) (*Server, error) {
	hub, err := firehose.New(e, opts.Firehose)
	if err != nil {
		return nil, fmt.Errorf("start firehose: %w", err)
	}
	s := &Server{e: e, hub: hub, log: e.Logger(), routes: map[string]route{}, mux: http.NewServeMux()}
	s.registerServer()
	s.registerIdentity()
	s.registerRepo()
	s.registerSync()
	s.registerProxy()
	s.mux.HandleFunc("/xrpc/{nsid}", s.dispatch)
	s.mux.HandleFunc("GET /xrpc/_health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"version": Version})
	})
	s.mux.HandleFunc("GET /.well-known/atproto-did", s.wellKnownDID)
	s.mux.HandleFunc("GET /.well-known/did.json", s.wellKnownDIDDoc)
	s.mux.HandleFunc("GET /robots.txt", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "# Hearth PDS\nUser-agent: *\nAllow: /\n")
	})
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "This is an AT Protocol Personal Data Server, run by Hearth.\n\nMost API routes are under /xrpc/\n")
	})
	return s, nil
}

// Firehose is the server's subscribeRepos hub.
func (s *Server) Firehose() *firehose.Hub { return s.hub }

// Close stops the firehose (call after http.Server.Shutdown).
func (s *Server) Close() { s.hub.Close() }

func (s *Server) handle(nsid, method string, a authKind, fn handler) {
	s.routes[nsid] = route{method: method, auth: a, fn: fn}
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack lets the websocket upgrader take over the connection.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("connection cannot be hijacked")
	}
	w.status = http.StatusSwitchingProtocols
	return h.Hijack()
}

// Unwrap lets http.ResponseController reach the underlying writer (for
// websockets and deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ServeHTTP adds request IDs, CORS, logging and panic recovery.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := r.Header.Get("X-Request-Id")
	if id == "" || len(id) > 64 {
		id = fmt.Sprintf("%x-%d", start.UnixNano()&0xffffffff, s.nextID.Add(1))
	}
	h := w.Header()
	h.Set("X-Request-Id", id)
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "*")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "*")
		h.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic in handler", "request_id", id, "path", r.URL.Path, "panic", p)
			if sw.status == 0 {
				writeError(sw, apierr.From(fmt.Errorf("panic: %v", p)))
			}
		}
		level := slog.LevelInfo
		if sw.status >= 500 && sw.status != http.StatusNotImplemented {
			level = slog.LevelError
		}
		s.log.Log(r.Context(), level, "request", "request_id", id, "method", r.Method, "path", r.URL.Path,
			"status", sw.status, "bytes", sw.bytes, "duration_ms", float64(time.Since(start).Microseconds())/1000)
	}()
	s.mux.ServeHTTP(sw, r)
}

func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	nsid := r.PathValue("nsid")
	rt, ok := s.routes[nsid]
	local := ok && (strings.HasPrefix(nsid, "com.atproto.") || nsid == "app.bsky.actor.getPreferences" || nsid == "app.bsky.actor.putPreferences")
	if !local {
		if target := s.proxyTarget(r, nsid); target != "" {
			if err := s.proxy(w, r, nsid, target); err != nil {
				writeError(w, err)
			}
			return
		}
	}
	if !ok {
		writeError(w, apierr.New(http.StatusNotImplemented, "MethodNotImplemented", "Method Not Implemented"))
		return
	}
	if r.Method != rt.method && !(rt.method == http.MethodGet && r.Method == http.MethodHead) {
		w.Header().Set("Allow", rt.method)
		writeError(w, apierr.New(http.StatusMethodNotAllowed, "InvalidRequest", "Incorrect HTTP method (%s) for %s, expected %s", r.Method, nsid, rt.method))
		return
	}
	var caller *pds.Caller
	if rt.auth != authNone {
		c, err := s.authenticate(r, rt.auth)
		if err != nil {
			writeError(w, err)
			return
		}
		caller = c
	}
	if err := rt.fn(w, r, caller); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			err = apierr.New(http.StatusRequestEntityTooLarge, "PayloadTooLarge", "request body is larger than %d bytes", mbe.Limit)
		}
		ae := apierr.From(err)
		if ae.Status >= 500 {
			s.log.Error("request failed", "request_id", w.Header().Get("X-Request-Id"), "nsid", nsid, "err", err)
		}
		writeError(w, ae)
	}
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:]), true
	}
	return "", false
}

func (s *Server) authenticate(r *http.Request, kind authKind) (*pds.Caller, error) {
	tok, ok := bearer(r)
	if !ok {
		if kind == authOptional {
			return nil, nil
		}
		return nil, apierr.New(http.StatusUnauthorized, "AuthMissing", "Authentication Required")
	}
	c, err := s.e.Authenticate(r.Context(), tok)
	if err != nil {
		return nil, err
	}
	if kind == authFull && !c.Full() {
		return nil, apierr.New(http.StatusUnauthorized, "AuthenticationRequired", "this needs a session made with the account password, not an app password")
	}
	return c, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, apierr.From(fmt.Errorf("encode response: %w", err)))
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

func writeError(w http.ResponseWriter, err error) {
	ae := apierr.From(err)
	if ae.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="atproto"`)
	}
	msg := ae.Message
	if msg == "" {
		msg = ae.Name
	}
	writeJSON(w, ae.Status, map[string]string{"error": ae.Name, "message": msg})
}

// decodeJSON reads a JSON body (bounded) into v.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	ct := r.Header.Get("Content-Type")
	if ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return apierr.Invalid("expected an application/json body, got %s", ct)
	}
	body := http.MaxBytesReader(w, r.Body, MaxJSONBody)
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return apierr.Invalid("request body is empty")
		}
		return apierr.Invalid("malformed JSON body: %v", err)
	}
	if dec.More() {
		return apierr.Invalid("malformed JSON body: trailing data")
	}
	return nil
}

// resolveRepo turns a repo param (DID or handle) into a DID.
func (s *Server) resolveRepo(ctx context.Context, repo string) (string, error) {
	if repo == "" {
		return "", apierr.Invalid("missing repo parameter")
	}
	a, err := s.e.GetAccount(ctx, repo)
	if err != nil {
		return "", err
	}
	return a.DID, nil
}

// requireOwner checks that the caller owns repo and returns its DID.
func (s *Server) requireOwner(ctx context.Context, c *pds.Caller, repo string) (string, error) {
	did, err := s.resolveRepo(ctx, repo)
	if err != nil {
		var ae *apierr.Error
		if errors.As(err, &ae) && ae.Name == "RepoNotFound" {
			return "", apierr.New(http.StatusBadRequest, "InvalidRequest", "repo %s is not hosted here or is not yours", repo)
		}
		return "", err
	}
	if did != c.DID {
		return "", apierr.New(http.StatusUnauthorized, "AuthenticationRequired", "you may only write to your own repo")
	}
	return did, nil
}

func (s *Server) wellKnownDID(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if i := strings.LastIndex(host, ":"); i > 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
	}
	did := s.e.LocalHandleDID(r.Context(), strings.ToLower(host))
	if did == "" {
		http.Error(w, "no user by that handle", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, did)
}

// wellKnownDIDDoc serves the DID document of a did:web account whose
// domain is the request's host.
func (s *Server) wellKnownDIDDoc(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if i := strings.LastIndex(host, ":"); i > 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
	}
	doc := s.e.WebDIDDocument(r.Context(), host)
	if doc == nil {
		writeError(w, apierr.New(http.StatusNotFound, "NotFound", "no did:web account for %s here", host))
		return
	}
	writeJSON(w, http.StatusOK, doc)
}

func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	switch v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, apierr.Invalid("parameter %s must be true or false", name)
}

func intParam(r *http.Request, name string, def, min, max int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	var n int
	if _, err := fmt.Sscanf(v, "%d", &n); err != nil || fmt.Sprint(n) != v {
		return 0, apierr.Invalid("parameter %s must be an integer", name)
	}
	if n < min || n > max {
		return 0, apierr.Invalid("parameter %s must be between %d and %d", name, min, max)
	}
	return n, nil
}
