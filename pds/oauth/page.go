package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/edge"
	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/store"
)

// The sign-in and consent page: server-rendered, no script, no resource
// from anywhere else, a strict CSP; client metadata is only ever text.

const pageCSS = `body{font:16px/1.5 system-ui,sans-serif;background:#f6f3ee;color:#222;margin:0}
main{max-width:28rem;margin:3rem auto;background:#fff;border-radius:12px;padding:2rem;box-shadow:0 2px 12px #0002}
h1{font-size:1.3rem;margin:0 0 1rem}.app{font-weight:600}.url{color:#555;word-break:break-all;font-size:.9rem}
ul{padding-left:1.2rem}label{display:block;margin:.8rem 0 .2rem}input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem}
.row{display:flex;gap:.8rem;margin-top:1.4rem}button{flex:1;padding:.6rem;font-size:1rem;border-radius:8px;border:1px solid #888;cursor:pointer}
button.ok{background:#c2410c;color:#fff;border-color:#c2410c}.err{background:#fee;border:1px solid #c00;padding:.6rem;border-radius:6px}
.note{color:#555;font-size:.9rem}`

var pageCSSHash = func() string {
	sum := sha256.Sum256([]byte(pageCSS))
	return base64.StdEncoding.EncodeToString(sum[:])
}()

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><title>{{.Title}} · Hearth</title><style>{{.CSS}}</style></head>
<body><main>
{{if .Fatal}}<h1>{{.Title}}</h1><p class="err" id="error">{{.Fatal}}</p><p class="note">You can close this page and go back to the app.</p>
{{else}}<h1>Sign in to <span class="app" id="client-name">{{.ClientName}}</span></h1>
<p class="url" id="client-id">{{.ClientID}}</p>
{{if .ClientURI}}<p class="url">Website: <span id="client-uri">{{.ClientURI}}</span></p>{{end}}
{{if .Loopback}}<p class="note">This app runs on your own computer (a development client).</p>{{end}}
<p>This app asks to:</p><ul id="permissions">{{range .Permissions}}<li>{{.}}</li>{{end}}</ul>
{{if .Remembered}}<p class="note" id="remembered">You allowed this app these permissions before.</p>{{end}}
{{if .Error}}<p class="err" id="error" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="request_uri" value="{{.RequestURI}}"><input type="hidden" name="client_id" value="{{.ClientID}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<label for="identifier">Handle or email</label><input type="text" id="identifier" name="identifier" value="{{.LoginHint}}" autocomplete="username" autocapitalize="none" spellcheck="false">
<label for="password">Password</label><input type="password" id="password" name="password" autocomplete="current-password">
<p class="note">Your password stays on this server; the app never sees it. App passwords cannot be used here.</p>
<div class="row"><button type="submit" name="decision" value="deny" id="deny" formnovalidate>Deny</button>
<button type="submit" name="decision" value="approve" id="approve" class="ok">Allow</button></div>
</form>{{end}}
</main></body></html>`))

type pageData struct {
	Title, Fatal, Error                 string
	ClientName, ClientID, ClientURI     string
	Loopback, Remembered                bool
	Permissions                         []string
	Action, RequestURI, CSRF, LoginHint string
	CSS                                 template.CSS
}

const csrfCookie = "hearth-oauth-csrf"

func (s *Server) securityHeaders(w http.ResponseWriter, formTarget string) {
	h := w.Header()
	formAction := "'self'"
	if formTarget != "" {
		formAction += " " + formTarget
	}
	h.Set("Content-Security-Policy", fmt.Sprintf("default-src 'none'; style-src 'sha256-%s'; form-action %s; frame-ancestors 'none'; base-uri 'none'", pageCSSHash, formAction))
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/html; charset=utf-8")
	// The page is for browsers of people, not for other origins' scripts.
	h.Del("Access-Control-Allow-Origin")
}

func (s *Server) render(w http.ResponseWriter, status int, d pageData, formTarget string) {
	s.securityHeaders(w, formTarget)
	d.CSS = template.CSS(pageCSS)
	w.WriteHeader(status)
	if err := pageTmpl.Execute(w, d); err != nil {
		s.cfg.Logger.Warn("oauth page", "err", err)
	}
}

func (s *Server) fatal(w http.ResponseWriter, status int, title, msg string) {
	s.render(w, status, pageData{Title: title, Fatal: msg}, "")
}

// csrfToken binds the form to the browser's CSRF cookie and the request.
func (s *Server) csrfToken(cookie, requestID string) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte("csrf\x00" + cookie + "\x00" + requestID))
	return b64.EncodeToString(m.Sum(nil))
}

func (s *Server) csrfCookie(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 32 && len(c.Value) <= 64 {
		return c.Value
	}
	v := randomToken("")
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: PathAuthorize, HttpOnly: true,
		Secure: strings.HasPrefix(s.issuer(), "https:"), SameSite: http.SameSiteLaxMode})
	return v
}

func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// HandleAuthorize serves the authorization endpoint: GET shows the page,
// POST takes the person's decision.
func (s *Server) HandleAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		s.decide(w, r)
		return
	}
	q := r.URL.Query()
	reqURI, clientID := q.Get("request_uri"), q.Get("client_id")
	if reqURI == "" {
		s.fatal(w, http.StatusBadRequest, "Invalid sign-in request", "This server needs apps to push their sign-in request first (PAR). Ask the app's developer to use an atproto OAuth client.")
		return
	}
	p, err := s.loadRequest(r.Context(), reqURI, clientID)
	if err != nil {
		s.requestError(w, err)
		return
	}
	if p.Expired || p.Approved {
		s.fatal(w, http.StatusBadRequest, "This sign-in request has expired", "Go back to the app and start signing in again.")
		return
	}
	s.showForm(w, r, p, "", http.StatusOK)
}

func (s *Server) requestError(w http.ResponseWriter, err error) {
	if errors.Is(err, errNoRequest) {
		s.fatal(w, http.StatusBadRequest, "Unknown sign-in request", "This sign-in request is unknown or has expired. Go back to the app and start again.")
		return
	}
	s.cfg.Logger.Error("oauth authorize", "err", err)
	s.fatal(w, http.StatusInternalServerError, "Something went wrong", "The server could not load this sign-in request. Try again from the app.")
}

func (s *Server) showForm(w http.ResponseWriter, r *http.Request, p *pending, formErr string, status int) {
	sc, _ := ParseGrantedScopes(p.Params.Scope)
	cookie := s.csrfCookie(w, r)
	name := p.Params.ClientName
	if name == "" {
		name = p.Params.ClientID
	}
	d := pageData{
		Title: "Sign in", Error: formErr, ClientName: name, ClientID: p.Params.ClientID, ClientURI: p.Params.ClientURI,
		Loopback: Loopback(p.Params.ClientID), Permissions: append(describeSets(p.Params.Includes), sc.Describe()...),
		Action: PathAuthorize, RequestURI: requestURIPrefix + p.ID, CSRF: s.csrfToken(cookie, p.ID), LoginHint: p.Params.LoginHint,
	}
	if r.Method == http.MethodPost {
		d.LoginHint = r.PostFormValue("identifier")
	}
	d.Remembered = s.consented(r.Context(), d.LoginHint, p.Params)
	s.render(w, status, d, originOf(p.Params.RedirectURI))
}

func (s *Server) decide(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		s.fatal(w, http.StatusBadRequest, "Invalid form", "The form could not be read.")
		return
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		s.fatal(w, http.StatusForbidden, "Refused", "This form was sent from another site.")
		return
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" && o != originOf(s.issuer()) && !sameHost(o, r.Host) {
		s.fatal(w, http.StatusForbidden, "Refused", "This form was sent from another site.")
		return
	}
	p, err := s.loadRequest(r.Context(), r.PostFormValue("request_uri"), r.PostFormValue("client_id"))
	if err != nil {
		s.requestError(w, err)
		return
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(s.csrfToken(c.Value, p.ID)), []byte(r.PostFormValue("csrf"))) != 1 {
		s.fatal(w, http.StatusForbidden, "Refused", "The form's security token is missing or wrong. Reload the page from the app and try again.")
		return
	}
	if p.Expired || p.Approved {
		s.fatal(w, http.StatusBadRequest, "This sign-in request has expired", "Go back to the app and start signing in again.")
		return
	}
	if r.PostFormValue("decision") != "approve" {
		if err := s.db.Write(r.Context(), func(tx *store.Tx) error {
			_, err := tx.Exec("DELETE FROM oauth_request WHERE id = ?", p.ID)
			return err
		}); err != nil {
			s.requestError(w, err)
			return
		}
		s.redirect(w, r, p.Params, url.Values{"error": {"access_denied"}, "error_description": {"The user denied the request"}})
		return
	}
	acc, err := s.cfg.Accounts.SignIn(r.Context(), strings.TrimPrefix(strings.TrimSpace(r.PostFormValue("identifier")), "@"), r.PostFormValue("password"), edge.ClientAddr(r).Key())
	if err != nil {
		var msg string
		var e *errs.Error
		if errors.As(err, &e) && e.Message != "" {
			msg = e.Message
		} else {
			s.cfg.Logger.Error("oauth sign-in", "err", err)
			msg = "The server could not check the password; try again."
		}
		s.showForm(w, r, p, msg, http.StatusUnauthorized)
		return
	}
	code := randomToken("hac-")
	now := s.cfg.Now()
	err = s.db.Write(r.Context(), func(tx *store.Tx) error {
		res, err := tx.Exec("UPDATE oauth_request SET did = ?, code_hash = ?, expires_at = ? WHERE id = ? AND did IS NULL",
			acc.DID.String(), hashToken(code), now.Add(CodeLifetime).Unix(), p.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errNoRequest
		}
		_, err = tx.Exec(`INSERT INTO oauth_consent(did, client_id, scope, at) VALUES(?, ?, ?, ?)
			ON CONFLICT(did, client_id) DO UPDATE SET scope = excluded.scope, at = excluded.at`, acc.DID.String(), p.Params.ClientID, p.Params.Scope, now.Unix())
		return err
	})
	if err != nil {
		s.requestError(w, err)
		return
	}
	s.redirect(w, r, p.Params, url.Values{"code": {code}})
}

func (s *Server) redirect(w http.ResponseWriter, r *http.Request, p authParams, v url.Values) {
	s.securityHeaders(w, originOf(p.RedirectURI))
	http.Redirect(w, r, s.redirectURL(p, v), http.StatusSeeOther)
}

// consented reports whether the account named by identifier allowed this
// client this scope set (or more) before.
func (s *Server) consented(ctx context.Context, identifier string, p authParams) bool {
	id, err := syntax.ParseAtIdentifier(strings.TrimPrefix(strings.TrimSpace(identifier), "@"))
	if err != nil {
		return false
	}
	acc, err := s.cfg.Accounts.Lookup(ctx, id)
	if err != nil || acc == nil {
		return false
	}
	var scope string
	err = s.db.Read(ctx, func(tx *store.Tx) error {
		return tx.QueryRow("SELECT scope FROM oauth_consent WHERE did = ? AND client_id = ?", acc.DID.String(), p.ClientID).Scan(&scope)
	})
	if err != nil {
		return false
	}
	want, _ := ParseGrantedScopes(p.Scope)
	had, _ := ParseGrantedScopes(scope)
	return want.Subset(had)
}

func sameHost(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host == host
}

// describeSets names the request's permission sets (their permissions are
// listed with the others): title, detail and NSID, as their lexicon says.
func describeSets(sets []IncludedSet) []string {
	var out []string
	for _, set := range sets {
		line := "Use the permission set " + set.NSID
		if set.Title != "" {
			line = fmt.Sprintf("%s (%s)", set.Title, set.NSID)
		}
		if set.Detail != "" {
			line += ": " + set.Detail
		}
		if len(set.Granted) == 0 {
			line += " (it grants nothing this server allows)"
		}
		out = append(out, line)
	}
	return out
}
