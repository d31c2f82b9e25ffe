// Package oauthtest is a minimal atproto OAuth client for tests outside
// pds/xrpc: a loopback client with a P-256 DPoP key that pushes a request,
// signs in on Hearth's consent page over HTTP (as a browser form would),
// exchanges the code and calls XRPC methods with DPoP proofs, retrying once
// for the server's nonce.
package oauthtest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var b64 = base64.RawURLEncoding

// Client is one loopback app.
type Client struct {
	Base     string // the PDS's URL (its issuer)
	ClientID string
	Redirect string
	key      *ecdsa.PrivateKey
	nonce    string
	http     *http.Client
}

// Session is the outcome of a sign-in.
type Session struct {
	Access, Refresh, Sub, Scope string
}

// New makes a loopback client for the PDS at base asking for scope.
func New(base, scope string) (*Client, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("dpop key: %w", err)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, fmt.Errorf("cookie jar: %w", err)
	}
	redirect := "http://127.0.0.1:9/callback"
	return &Client{
		Base: strings.TrimRight(base, "/"), key: key, Redirect: redirect,
		ClientID: "http://localhost?" + url.Values{"redirect_uri": {redirect}, "scope": {scope}}.Encode(),
		http: &http.Client{Jar: jar, Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}, nil
}

func random() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return b64.EncodeToString(b)
}

func (c *Client) proof(method, htu, token string) (string, error) {
	claims := jwt.MapClaims{"htm": method, "htu": htu, "iat": time.Now().Unix(), "jti": random()}
	if c.nonce != "" {
		claims["nonce"] = c.nonce
	}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		claims["ath"] = b64.EncodeToString(sum[:])
	}
	tk := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	pub, err := c.key.PublicKey.Bytes()
	if err != nil {
		return "", err
	}
	tk.Header["typ"] = "dpop+jwt"
	tk.Header["jwk"] = map[string]string{"kty": "EC", "crv": "P-256", "x": b64.EncodeToString(pub[1:33]), "y": b64.EncodeToString(pub[33:])}
	return tk.SignedString(c.key)
}

// do sends a request (with a fresh DPoP proof each time),
// retrying once when the server asks for its nonce.
func (c *Client) do(ctx context.Context, method, full, token string, body []byte, contentType string) (int, map[string]any, error) {
	for range 2 {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, full, rd)
		if err != nil {
			return 0, nil, err
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		htu, _, _ := strings.Cut(full, "?")
		p, err := c.proof(method, htu, token)
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("DPoP", p)
		if token != "" {
			req.Header.Set("Authorization", "DPoP "+token)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return 0, nil, err
		}
		raw, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close() // read fully
		if err != nil {
			return 0, nil, err
		}
		if n := resp.Header.Get("DPoP-Nonce"); n != "" {
			c.nonce = n
		}
		var out map[string]any
		_ = json.Unmarshal(raw, &out) // non-JSON bodies leave out nil
		if out["error"] == "use_dpop_nonce" || strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="use_dpop_nonce"`) {
			continue
		}
		return resp.StatusCode, out, nil
	}
	return 0, nil, errors.New("the server kept asking for a new DPoP nonce")
}

func (c *Client) postForm(ctx context.Context, path string, form url.Values) (int, map[string]any, error) {
	return c.do(ctx, http.MethodPost, c.Base+path, "", []byte(form.Encode()), "application/x-www-form-urlencoded")
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// SignIn runs the whole flow: PAR, the consent page (identifier and
// password, Allow), the token exchange.
func (c *Client) SignIn(ctx context.Context, identifier, password, scope string) (*Session, error) {
	verifier := random() + random()
	sum := sha256.Sum256([]byte(verifier))
	status, body, err := c.postForm(ctx, "/oauth/par", url.Values{
		"client_id": {c.ClientID}, "response_type": {"code"}, "redirect_uri": {c.Redirect}, "scope": {scope},
		"state": {"oauthtest"}, "code_challenge": {b64.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	})
	if err != nil || status != http.StatusCreated {
		return nil, fmt.Errorf("PAR: %d %v %w", status, body, err)
	}
	reqURI, _ := body["request_uri"].(string)
	q := url.Values{"client_id": {c.ClientID}, "request_uri": {reqURI}}
	page, err := c.get(ctx, c.Base+"/oauth/authorize?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("consent page: %w", err)
	}
	m := csrfRe.FindStringSubmatch(page)
	if m == nil {
		return nil, errors.New("consent page: no CSRF token")
	}
	form := url.Values{"client_id": {c.ClientID}, "request_uri": {reqURI}, "csrf": {m[1]},
		"identifier": {identifier}, "password": {password}, "decision": {"approve"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+"/oauth/authorize", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("consent: %w", err)
	}
	_ = resp.Body.Close() // a redirect
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusSeeOther || loc.Query().Get("code") == "" {
		return nil, fmt.Errorf("consent: %d, redirect %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	status, body, err = c.postForm(ctx, "/oauth/token", url.Values{"grant_type": {"authorization_code"},
		"code": {loc.Query().Get("code")}, "code_verifier": {verifier}, "redirect_uri": {c.Redirect}, "client_id": {c.ClientID}})
	if err != nil || status != http.StatusOK {
		return nil, fmt.Errorf("token: %d %v %w", status, body, err)
	}
	s := &Session{}
	s.Access, _ = body["access_token"].(string)
	s.Refresh, _ = body["refresh_token"].(string)
	s.Sub, _ = body["sub"].(string)
	s.Scope, _ = body["scope"].(string)
	return s, nil
}

func (c *Client) get(ctx context.Context, full string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, full, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }() // read-only
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%d %s", resp.StatusCode, b)
	}
	return string(b), nil
}

// Call calls an XRPC method (query params in nsid, a JSON body when body
// is not nil) with the session's DPoP-bound access token.
func (c *Client) Call(ctx context.Context, method, nsid, token string, body any) (int, map[string]any, error) {
	var raw []byte
	ct := ""
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return 0, nil, err
		}
		ct = "application/json"
	}
	return c.do(ctx, method, c.Base+"/xrpc/"+nsid, token, raw, ct)
}
