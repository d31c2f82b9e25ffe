package moving

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// XRPCError is an error answer from a PDS.
type XRPCError struct {
	Status  int
	Name    string `json:"error"`
	Message string `json:"message"`
}

func (e *XRPCError) Error() string {
	if e.Name == "" {
		return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("%s (HTTP %d): %s", e.Name, e.Status, e.Message)
}

// isXRPC reports whether err is an XRPC error named name.
func isXRPC(err error, name string) bool {
	var xe *XRPCError
	return errors.As(err, &xe) && xe.Name == name
}

// Session is a signed-in session on one PDS (what createSession answers).
type Session struct {
	Access  string `json:"accessJwt,omitempty"`
	Refresh string `json:"refreshJwt,omitempty"`
}

// client speaks XRPC to one PDS. save is called after the session changed
// (a refresh), so the state file keeps the newest refresh token.
type client struct {
	hc   *http.Client
	base string
	sess *Session
	save func() error
}

// call is one XRPC request. body is JSON-encoded unless it is an io.Reader
// (sent as is with ctype); out is JSON-decoded unless it is a *[]byte
// (raw bytes) or nil. auth is the bearer token ("" = none).
type call struct {
	method, nsid string
	params       url.Values
	body         any
	ctype        string
	auth         string
	out          any
}

func (c *client) raw(ctx context.Context, k call) (*http.Response, error) {
	u := strings.TrimRight(c.base, "/") + "/xrpc/" + k.nsid
	if len(k.params) > 0 {
		u += "?" + k.params.Encode()
	}
	var body io.Reader
	ctype := k.ctype
	switch b := k.body.(type) {
	case nil:
	case io.Reader:
		body = b
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("%s: encode the request: %w", k.nsid, err)
		}
		body, ctype = bytes.NewReader(enc), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, k.method, u, body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.nsid, err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if k.auth != "" {
		req.Header.Set("Authorization", "Bearer "+k.auth)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s on %s: %w", k.nsid, c.base, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		xe := &XRPCError{Status: resp.StatusCode}
		if json.Unmarshal(b, xe) != nil || xe.Message == "" {
			xe.Message = strings.TrimSpace(string(b))
			if len(xe.Message) > 200 {
				xe.Message = xe.Message[:200]
			}
		}
		return nil, fmt.Errorf("%s on %s: %w", k.nsid, c.base, xe)
	}
	return resp, nil
}

func (c *client) do(ctx context.Context, k call) error {
	resp, err := c.raw(ctx, k)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch o := k.out.(type) {
	case nil:
		_, err = io.Copy(io.Discard, resp.Body)
	case *[]byte:
		*o, err = io.ReadAll(resp.Body)
	default:
		err = json.NewDecoder(resp.Body).Decode(o)
	}
	if err != nil {
		return fmt.Errorf("%s on %s: read the answer: %w", k.nsid, c.base, err)
	}
	return nil
}

// authed runs k with the session's access token; when the token expired it
// refreshes the session once and retries (k's body must be replayable: not
// an io.Reader).
func (c *client) authed(ctx context.Context, k call) error {
	if c.sess == nil || c.sess.Access == "" {
		return errNoSession
	}
	k.auth = c.sess.Access
	err := c.do(ctx, k)
	if err == nil || !expired(err) {
		return err
	}
	if _, stream := k.body.(io.Reader); stream {
		return err
	}
	if rerr := c.refresh(ctx); rerr != nil {
		return errors.Join(err, rerr)
	}
	k.auth = c.sess.Access
	return c.do(ctx, k)
}

var errNoSession = errors.New("not signed in")

// expired reports whether err says the access token is no longer good.
func expired(err error) bool {
	var xe *XRPCError
	if !errors.As(err, &xe) {
		return false
	}
	return xe.Name == "ExpiredToken" || (xe.Status == http.StatusUnauthorized && xe.Name == "InvalidToken")
}

// refresh trades the refresh token for a new session and saves it.
func (c *client) refresh(ctx context.Context) error {
	if c.sess == nil || c.sess.Refresh == "" {
		return errNoSession
	}
	var s Session
	if err := c.do(ctx, call{method: http.MethodPost, nsid: "com.atproto.server.refreshSession", auth: c.sess.Refresh, out: &s}); err != nil {
		return err
	}
	*c.sess = s
	if c.save != nil {
		return c.save()
	}
	return nil
}

// ensure makes sure the session works now: getSession, refreshing once if
// the PDS says the access token is no good. It returns errNoSession
// (wrapped) when there is no usable session; other failures (no answer, a
// server error) are returned as they are and keep the session.
func (c *client) ensure(ctx context.Context) error {
	if c.sess == nil || (c.sess.Access == "" && c.sess.Refresh == "") {
		return errNoSession
	}
	err := c.authed(ctx, call{method: http.MethodGet, nsid: "com.atproto.server.getSession"})
	if err == nil || !authRefused(err) {
		return err
	}
	if c.sess.Refresh == "" {
		return fmt.Errorf("%w: %w", errNoSession, err)
	}
	if rerr := c.refresh(ctx); rerr != nil {
		if authRefused(rerr) || errors.Is(rerr, errNoSession) {
			return fmt.Errorf("%w: %w", errNoSession, rerr)
		}
		return rerr
	}
	return nil
}

// authRefused reports whether the PDS refused the credentials (rather
// than failing to answer).
func authRefused(err error) bool {
	var xe *XRPCError
	if !errors.As(err, &xe) {
		return false
	}
	return xe.Status == http.StatusUnauthorized || expired(err) || xe.Name == "InvalidToken" || xe.Name == "AuthenticationRequired"
}

func (c *client) get(ctx context.Context, nsid string, params url.Values, out any) error {
	return c.do(ctx, call{method: http.MethodGet, nsid: nsid, params: params, out: out})
}

func (c *client) getAuthed(ctx context.Context, nsid string, params url.Values, out any) error {
	return c.authed(ctx, call{method: http.MethodGet, nsid: nsid, params: params, out: out})
}

func (c *client) post(ctx context.Context, nsid string, in, out any) error {
	return c.authed(ctx, call{method: http.MethodPost, nsid: nsid, body: in, out: out})
}
