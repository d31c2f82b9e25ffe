package outbound

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Defaults for a zero Policy.
const (
	DefaultMaxBody        = 1 << 20 // 1 MiB
	DefaultDialTimeout    = 5 * time.Second
	DefaultTLSTimeout     = 5 * time.Second
	DefaultHeaderTimeout  = 10 * time.Second
	DefaultTimeout        = 15 * time.Second
	DefaultMaxHeaderBytes = 64 << 10
	DefaultUserAgent      = "hearth-pds"
)

var (
	// ErrRedirect is returned instead of following a redirect.
	ErrRedirect = errors.New("outbound: redirects are not followed")
	// ErrTooLarge is returned by a response body that goes past MaxBody.
	ErrTooLarge = errors.New("outbound: response body too large")
)

// Policy describes one kind of outbound client. The zero value is the
// strict default: public addresses only, 1 MiB bodies, 15 s overall.
type Policy struct {
	// AllowPrivateNetwork lifts the address rule (offline development
	// networks: a PLC, AppView or did:web host on the LAN or loopback).
	AllowPrivateNetwork bool
	// Trusted lists origins ("https://plc.directory") configured by the
	// operator; requests to them skip the address rule (size, time and
	// redirect limits still apply).
	Trusted []string
	// MaxBody bounds a response body in bytes; reading past it fails with
	// ErrTooLarge.
	MaxBody int64
	// DialTimeout, TLSTimeout and HeaderTimeout bound connecting, the TLS
	// handshake and waiting for response headers; Timeout bounds the whole
	// exchange, body included.
	DialTimeout, TLSTimeout, HeaderTimeout, Timeout time.Duration
	// MaxHeaderBytes bounds the response headers.
	MaxHeaderBytes int64
	// UserAgent is sent when a request sets none.
	UserAgent string
}

func (p *Policy) setDefaults() {
	if p.MaxBody <= 0 {
		p.MaxBody = DefaultMaxBody
	}
	if p.DialTimeout <= 0 {
		p.DialTimeout = DefaultDialTimeout
	}
	if p.TLSTimeout <= 0 {
		p.TLSTimeout = DefaultTLSTimeout
	}
	if p.HeaderTimeout <= 0 {
		p.HeaderTimeout = DefaultHeaderTimeout
	}
	if p.Timeout <= 0 {
		p.Timeout = DefaultTimeout
	}
	if p.MaxHeaderBytes <= 0 {
		p.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if p.UserAgent == "" {
		p.UserAgent = DefaultUserAgent
	}
}

// Client returns an HTTP client that applies the policy. It never follows
// redirects (a 3xx answer fails with ErrRedirect) and never uses a proxy
// from the environment.
func (p Policy) Client() *http.Client {
	return &http.Client{
		Transport: p.Transport(),
		Timeout:   p.withDefaults().Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return ErrRedirect
		},
	}
}

func (p Policy) withDefaults() Policy {
	p.setDefaults()
	return p
}

// Transport returns the policy's round tripper (address rule at dial time,
// bounded bodies, no environment proxy), for callers that build their own
// client; prefer Client, which also refuses redirects and bounds the
// overall time.
func (p Policy) Transport() http.RoundTripper {
	p.setDefaults()
	rt := &roundTripper{p: p, strict: p.transport(!p.AllowPrivateNetwork), trusted: map[string]bool{}}
	for _, o := range p.Trusted {
		if origin, ok := originOf(o); ok {
			rt.trusted[origin] = true
		}
	}
	if len(rt.trusted) > 0 {
		rt.open = p.transport(false)
	}
	return rt
}

func (p Policy) transport(checkAddr bool) *http.Transport {
	d := &net.Dialer{Timeout: p.DialTimeout, KeepAlive: 30 * time.Second}
	if checkAddr {
		d.Control = dialControl
	}
	return &http.Transport{
		Proxy:                  nil, // never HTTP_PROXY & co: the address rule must see the real peer
		DialContext:            d.DialContext,
		TLSHandshakeTimeout:    p.TLSTimeout,
		ResponseHeaderTimeout:  p.HeaderTimeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: p.MaxHeaderBytes,
		MaxIdleConns:           64,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
		ForceAttemptHTTP2:      true,
	}
}

// dialControl runs for every connection attempt on the resolved address,
// after DNS: the address rule cannot be bypassed by a name that resolves
// (or re-resolves) to a private address.
func dialControl(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("outbound: unexpected %s dial address %q: %w", network, address, ErrForbiddenAddress)
	}
	return CheckAddr(ap.Addr())
}

func originOf(raw string) (string, bool) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", false
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), true
}

type roundTripper struct {
	p       Policy
	strict  *http.Transport
	open    *http.Transport // for trusted origins; nil when there are none
	trusted map[string]bool
}

func (rt *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	t := rt.strict
	if rt.open != nil && rt.trusted[strings.ToLower(req.URL.Scheme+"://"+req.URL.Host)] {
		t = rt.open
	}
	if req.Header.Get("User-Agent") == "" {
		req = req.Clone(req.Context())
		req.Header.Set("User-Agent", rt.p.UserAgent)
	}
	resp, err := t.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > rt.p.MaxBody {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %d bytes announced, limit %d", ErrTooLarge, resp.ContentLength, rt.p.MaxBody)
	}
	resp.Body = &limitedBody{rc: resp.Body, left: rt.p.MaxBody}
	return resp, nil
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// transports.
func (rt *roundTripper) CloseIdleConnections() {
	rt.strict.CloseIdleConnections()
	if rt.open != nil {
		rt.open.CloseIdleConnections()
	}
}

// limitedBody reads at most left bytes and then fails with ErrTooLarge if
// the body has more (unlike io.LimitReader, which would end silently and
// hand the caller a truncated document as if it were whole).
type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// At the limit: one more byte means the body is too large.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, ErrTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// LimitBody wraps rc like the policy's responses: reads past n bytes fail
// with ErrTooLarge.
func LimitBody(rc io.ReadCloser, n int64) io.ReadCloser { return &limitedBody{rc: rc, left: n} }
