package xrpc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/hearth-pds/hearth/pds/accounts"
	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/ipfs/go-cid"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hearth-pds/hearth/pds"
	"github.com/hearth-pds/hearth/pds/firehose"
	"github.com/hearth-pds/hearth/pds/oauth"
	"github.com/hearth-pds/hearth/pds/ratelimit"
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
	// authAccessOrService: any access token, or a service-auth token an
	// account signed for this server and this method (serviceauth.go).
	authAccessOrService
)

type handler func(w http.ResponseWriter, r *http.Request, c *accounts.Caller) error

type route struct {
	method string
	auth   authKind
	fn     handler
}

// Options configure a Server.
type Options struct {
	Firehose firehose.Config
	// ProxyMaxResponse bounds a proxied response body in bytes (default
	// DefaultProxyMaxResponse).
	ProxyMaxResponse int64
	// Body read deadlines (DefaultBodyTimeout, DefaultBlobBodyTimeout,
	// DefaultImportBodyTimeout when zero).
	BodyTimeout, BlobBodyTimeout, ImportBodyTimeout time.Duration
	// RateLimitKeys caps the rate limiter's counters (DefaultRateLimitKeys).
	RateLimitKeys int
	// OpenSignupDomains lets createAccount make accounts without an invite
	// code when the handle ends with one of these suffixes (".test"): the
	// offline developer network's open sign-up (hearthd devnet). describeServer
	// lists them as availableUserDomains. Empty: an invite is always needed.
	OpenSignupDomains []string
	// JetstreamZstdDictionary is Jetstream's zstd dictionary (its
	// pkg/models/zstd_dictionary, which its clients embed): with it,
	// /subscribe compresses for subscribers that ask; without, they are
	// refused.
	JetstreamZstdDictionary []byte
}

func (o *Options) setDefaults() {
	if o.BodyTimeout == 0 {
		o.BodyTimeout = DefaultBodyTimeout
	}
	if o.BlobBodyTimeout == 0 {
		o.BlobBodyTimeout = DefaultBlobBodyTimeout
	}
	if o.ImportBodyTimeout == 0 {
		o.ImportBodyTimeout = DefaultImportBodyTimeout
	}
	if o.RateLimitKeys == 0 {
		o.RateLimitKeys = DefaultRateLimitKeys
	}
}

// Server serves the engine over HTTP.
type Server struct {
	e      *pds.Engine
	hub    *firehose.Hub
	log    *slog.Logger
	routes map[string]route
	mux    *http.ServeMux
	nextID atomic.Uint64
	pages  []Route // non-XRPC patterns on mux, for Routes
	opts   Options

	limiter *ratelimit.Limiter

	proxyClients *proxyClients
}

// New builds the HTTP handler for an engine and starts its firehose.
func New(e *pds.Engine, opts Options) (*Server, error) {
	hub, err := firehose.New(e.Events, e.Logger(), opts.Firehose)
	if err != nil {
		return nil, fmt.Errorf("start firehose: %w", err)
	}
	opts.setDefaults()
	s := &Server{e: e, hub: hub, log: e.Logger(), routes: map[string]route{}, mux: http.NewServeMux(),
		opts: opts, limiter: ratelimit.New(opts.RateLimitKeys, nil)}
	s.registerServer()
	s.registerIdentity()
	s.registerMoveOut()
	s.registerRepo()
	s.registerSync()
	s.registerProxy(opts)
	s.registerOAuth()
	if err := s.registerJetstream(); err != nil {
		hub.Close()
		return nil, err
	}
	s.page("/xrpc/{nsid}", "routed", s.dispatch)
	s.page("GET /xrpc/_health", "none", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"version": Version})
	})
	s.page("GET /.well-known/atproto-did", "none", s.wellKnownDID)
	s.page("GET /.well-known/did.json", "none", s.wellKnownDIDDoc)
	s.page("GET /robots.txt", "none", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "# Hearth PDS\nUser-agent: *\nAllow: /\n") // a gone client is no error of ours
	})
	s.page("GET /{$}", "none", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "This is an AT Protocol Personal Data Server, run by Hearth.\n\nMost API routes are under /xrpc/\n")
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

// page registers a plain HTTP pattern on the mux, with who may call it (for
// Routes and the route audit).
func (s *Server) page(pattern, auth string, h http.HandlerFunc) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "*", pattern
	}
	s.pages = append(s.pages, Route{Method: method, Path: path, Auth: auth})
	s.mux.HandleFunc(pattern, h)
}

// Route is one route of the listener and who may call it: "none" (anyone),
// "optional" (anyone; a session changes the answer), "access" (any session,
// app passwords included), "full" (a session made with the account
// password), "routed" (the XRPC dispatcher: local routes, else proxied).
type Route struct {
	Method string
	Path   string
	Auth   string
}

func (a authKind) String() string {
	switch a {
	case authNone:
		return "none"
	case authOptional:
		return "optional"
	case authAccess:
		return "access"
	case authFull:
		return "full"
	case authAccessOrService:
		return "access+service"
	}
	return fmt.Sprintf("authKind(%d)", int(a))
}

// Routes lists every route this handler serves (the same handler serves the
// local listener and the tunnel), sorted by path.
func (s *Server) Routes() []Route {
	out := append([]Route(nil), s.pages...)
	for nsid, rt := range s.routes {
		out = append(out, Route{Method: rt.method, Path: "/xrpc/" + nsid, Auth: rt.auth.String()})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out
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

// CORS preflight answers. The request headers are listed by name: for a
// request with credentials, and for Authorization in any request, the Fetch
// standard does not let "*" stand for them. The list is what atproto clients
// send (@atproto/xrpc and @atproto/api, the OAuth client's DPoP, the Bluesky
// app), plus the conditional and encoding headers proxied to the AppView.
const (
	corsMethods = "GET, HEAD, POST, OPTIONS"
	corsHeaders = "Accept, Accept-Language, Atproto-Accept-Labelers, Atproto-Proxy, Authorization, " +
		"Content-Encoding, Content-Type, DPoP, If-None-Match, X-Bsky-Topics"
)

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
		h.Set("Access-Control-Allow-Methods", corsMethods)
		h.Set("Access-Control-Allow-Headers", corsHeaders)
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
				writeError(sw, fmt.Errorf("panic: %v", p))
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
	s.limitBody(w, r, nsid)
	if r.Header.Get("DPoP") != "" {
		w.Header().Set("DPoP-Nonce", s.e.OAuth.Nonce())
	}
	rt, ok := s.routes[nsid]
	local := ok && (strings.HasPrefix(nsid, "com.atproto.") || nsid == "app.bsky.actor.getPreferences" || nsid == "app.bsky.actor.putPreferences")
	if !local {
		if ref, ok := s.proxyTarget(r, nsid); ok {
			if err := s.proxy(w, r, nsid, ref); err != nil {
				writeError(w, err)
			}
			return
		}
	}
	if !ok {
		writeError(w, errs.New(errMethodNotImplemented, "Method Not Implemented"))
		return
	}
	if r.Method != rt.method && (rt.method != http.MethodGet || r.Method != http.MethodHead) {
		w.Header().Set("Allow", rt.method)
		writeError(w, errs.New(errMethodNotAllowed, "Incorrect HTTP method (%s) for %s, expected %s", r.Method, nsid, rt.method))
		return
	}
	if l, ok := routeLimits[nsid]; ok {
		if err := s.limit(w, r, l.points, l.rules...); err != nil {
			writeError(w, err)
			return
		}
	}
	var caller *accounts.Caller
	if rt.auth != authNone {
		c, g, err := s.authorize(r, rt.auth)
		if err != nil {
			writeError(w, err)
			return
		}
		caller = c
		if g != nil {
			r = r.WithContext(context.WithValue(r.Context(), grantKey{}, g))
		}
	}
	if err := rt.fn(w, r, caller); err != nil {
		if sw, ok := w.(*statusWriter); ok && sw.status != 0 {
			// The answer had begun (a streamed export cut short): the
			// client sees the cut; an error body cannot follow.
			s.log.Info("response cut short", "request_id", w.Header().Get("X-Request-Id"), "nsid", nsid, "status", sw.status, "err", err)
			return
		}
		if _, _, ok := answer(err); !ok && !isResourceError(err) {
			s.log.Error("request failed", "request_id", w.Header().Get("X-Request-Id"), "nsid", nsid, "err", err)
		}
		writeError(w, err)
	}
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:]), true
	}
	return "", false
}

func (s *Server) authenticate(r *http.Request, kind authKind) (*accounts.Caller, error) {
	c, _, err := s.authorize(r, kind)
	return c, err
}

// authorize authenticates a request: an OAuth access token with its DPoP
// proof (and the grant it belongs to), or a legacy session token.
func (s *Server) authorize(r *http.Request, kind authKind) (*accounts.Caller, *oauth.Grant, error) {
	if tok, ok := dpopToken(r); ok {
		return s.authenticateOAuth(r, kind, tok)
	}
	c, err := s.authenticateLegacy(r, kind)
	return c, nil, err
}

func (s *Server) authenticateLegacy(r *http.Request, kind authKind) (*accounts.Caller, error) {
	tok, ok := bearer(r)
	if !ok {
		if kind == authOptional {
			return nil, nil
		}
		return nil, errs.New(errAuthMissing, "Authentication Required")
	}
	if kind == authAccessOrService && isServiceAuthJWT(tok) {
		return s.serviceCaller(r, tok)
	}
	c, err := s.e.Accounts.Authenticate(r.Context(), tok)
	if err != nil {
		// An OAuth access token (signed with another key) is never a
		// session token: say why it is refused. Checked only here, so
		// that a session token is not also parsed as an OAuth one.
		if merr := s.oauthBearerMisuse(tok); merr != nil {
			return nil, merr
		}
		return nil, err
	}
	if kind == authFull && !c.Full() {
		return nil, errs.New(errs.ErrAuthRequired, "this needs a session made with the account password, not an app password")
	}
	return c, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, fmt.Errorf("encode response: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b) // the status is sent; a client that went away cannot be told
}

// writeError answers with err's XRPC error (errorMap); an internal error
// gets a generic message, never its details.
func writeError(w http.ResponseWriter, err error) {
	if re, ok := asResourceError(err); ok {
		writeResourceError(w, re)
		return
	}
	xe, msg, _ := answer(err)
	var retry *errs.Retry
	if errors.As(err, &retry) && retry.After > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retry.After.Seconds()))))
	}
	if xe.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="atproto"`)
	}
	writeJSON(w, xe.status, map[string]string{"error": xe.name, "message": msg})
}

// decodeJSON reads a JSON body (bounded) into v.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	ct := r.Header.Get("Content-Type")
	if ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return errs.Invalid("expected an application/json body, got %s", ct)
	}
	body := http.MaxBytesReader(w, r.Body, MaxJSONBody)
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return errs.Invalid("request body is empty")
		}
		if bodyTimedOut(err) {
			return errs.New(errBodyTimeout, "the request body did not arrive in time")
		}
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		if !errors.As(err, &syn) && !errors.As(err, &typ) {
			return errs.Invalid("the request body could not be read")
		}
		return errs.Invalid("malformed JSON body: %v", err)
	}
	if dec.More() {
		return errs.Invalid("malformed JSON body: trailing data")
	}
	return nil
}

// account finds the account a repo param (DID or handle) names.
func (s *Server) account(ctx context.Context, repo string) (*accounts.Account, error) {
	if repo == "" {
		return nil, errs.Invalid("missing repo parameter")
	}
	id, err := syntax.ParseAtIdentifier(strings.TrimPrefix(strings.TrimSpace(repo), "@"))
	if err != nil {
		return nil, errs.RepoNotFound(repo)
	}
	return s.e.Accounts.Lookup(ctx, id)
}

// resolveRepo turns a repo param (DID or handle) into a DID.
func (s *Server) resolveRepo(ctx context.Context, repo string) (syntax.DID, error) {
	acc, err := s.account(ctx, repo)
	if err != nil {
		return "", err
	}
	return acc.DID, nil
}

// requireOwner checks that the caller owns repo and returns its DID. Like
// the reference PDS, a repo that is not the caller's is 403 Forbidden, be it
// another local account or a DID hosted elsewhere; a handle that resolves to
// no local repo is 400.
func (s *Server) requireOwner(ctx context.Context, c *accounts.Caller, repo string) (syntax.DID, error) {
	if did, err := syntax.ParseDID(repo); err == nil && did != c.DID {
		return "", errNotYourRepo()
	}
	did, err := s.resolveRepo(ctx, repo)
	if err != nil {
		if errors.Is(err, errs.ErrRepoNotFound) {
			return "", errs.Invalid("repo %s is not hosted here or is not yours", repo)
		}
		return "", err
	}
	if did != c.DID {
		return "", errNotYourRepo()
	}
	return did, nil
}

func errNotYourRepo() error {
	return errs.New(errs.ErrForbidden, "you may only write to your own repo")
}

// Parameters are parsed once, here at the edge, into indigo's types.

func parseDID(s, name string) (syntax.DID, error) {
	did, err := syntax.ParseDID(s)
	if err != nil {
		return "", errs.Invalid("missing or invalid %s parameter", name)
	}
	return did, nil
}

func parseNSID(s, name string) (syntax.NSID, error) {
	n, err := syntax.ParseNSID(s)
	if err != nil {
		return "", errs.Invalid("invalid %s %q: must be an NSID", name, s)
	}
	return n, nil
}

func parseRkey(s string) (syntax.RecordKey, error) {
	k, err := syntax.ParseRecordKey(s)
	if err != nil {
		return "", errs.Invalid("invalid record key %q", s)
	}
	return k, nil
}

func parseCID(s, name string) (cid.Cid, error) {
	c, err := cid.Decode(s)
	if err != nil {
		return cid.Undef, errs.Invalid("invalid %s CID %q", name, s)
	}
	return c, nil
}

func (s *Server) wellKnownDID(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if i := strings.LastIndex(host, ":"); i > 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
	}
	h, err := syntax.ParseHandle(host)
	var did syntax.DID
	ok := false
	if err == nil {
		did, ok, err = s.e.Accounts.HandleDID(r.Context(), h)
	}
	if err != nil || !ok {
		http.Error(w, "no user by that handle", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, did.String())
}

// wellKnownDIDDoc serves the DID document of a did:web account whose
// domain is the request's host.
func (s *Server) wellKnownDIDDoc(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	// A did:web may include the port (did:web:localhost%3A2583); else the
	// DID is the bare hostname's.
	doc := s.e.Identity.WebDIDDocument(r.Context(), host)
	if i := strings.LastIndex(host, ":"); doc == nil && i > 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
		doc = s.e.Identity.WebDIDDocument(r.Context(), host)
	}
	if doc == nil {
		writeError(w, errs.New(errNotFound, "no did:web account for %s here", host))
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
	return false, errs.Invalid("parameter %s must be true or false", name)
}

func intParam(r *http.Request, name string, def, min, max int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	var n int
	if _, err := fmt.Sscanf(v, "%d", &n); err != nil || fmt.Sprint(n) != v {
		return 0, errs.Invalid("parameter %s must be an integer", name)
	}
	if n < min || n > max {
		return 0, errs.Invalid("parameter %s must be between %d and %d", name, min, max)
	}
	return n, nil
}
