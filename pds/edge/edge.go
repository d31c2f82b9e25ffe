package edge

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// Limits of every Hearth HTTP server. A server-wide ReadTimeout or
// WriteTimeout is deliberately absent: it would cut websocket subscriptions
// (which outlive any request timeout after the hijack), repo exports and
// big blob uploads. Request bodies get a read deadline per request instead
// (pds/xrpc sizes it to the endpoint).
type Limits struct {
	ReadHeaderTimeout time.Duration // request line and headers
	IdleTimeout       time.Duration // a keep-alive connection between requests
	MaxHeaderBytes    int
}

// DefaultLimits: 10 s for headers, 60 s idle, 32 KiB of headers.
var DefaultLimits = Limits{ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 32 << 10}

// NewServer is the http.Server every Hearth listener uses (hearthd, the
// desktop app's loopback port), with DefaultLimits.
func NewServer(h http.Handler) *http.Server { return NewServerWith(h, DefaultLimits) }

// NewTunnelServer is NewServer for the tunnel's listener: its requests are
// marked as arriving through the tunnel (see ClientAddr).
func NewTunnelServer(h http.Handler) *http.Server {
	s := NewServer(h)
	s.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, tunnelKey{}, true)
	}
	return s
}

// NewServerWith is NewServer with other limits (tests).
func NewServerWith(h http.Handler, l Limits) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: l.ReadHeaderTimeout, IdleTimeout: l.IdleTimeout, MaxHeaderBytes: l.MaxHeaderBytes}
}

type tunnelKey struct{}

// ViaTunnel marks ctx as carrying a request that came through the tunnel
// (for servers not built with NewTunnelServer, e.g. tests).
func ViaTunnel(ctx context.Context) context.Context {
	return context.WithValue(ctx, tunnelKey{}, true)
}

// FromTunnel reports whether r came through the tunnel.
func FromTunnel(r *http.Request) bool {
	v, _ := r.Context().Value(tunnelKey{}).(bool)
	return v
}

// Client is where a request came from.
type Client struct {
	Addr   string // an IP address ("" if unknown)
	Tunnel bool   // it came through the tunnel
}

// Limited reports whether per-address limits apply: always through the
// tunnel; on direct connections unless the peer is a loopback address (the
// owner's own tools, benchmarks and test suites on this machine).
func (c Client) Limited() bool {
	if c.Tunnel {
		return true
	}
	a, err := netip.ParseAddr(c.Addr)
	return err != nil || !a.IsLoopback()
}

// ClientAddr returns where r came from. Through the tunnel it is the
// address the tunnel reports: the connection's remote address (ngrok
// connections carry the client's), or, when that is a loopback or private
// address (a local forwarder), the last X-Forwarded-For entry, which the
// tunnel's edge appends. On direct connections it is the TCP peer;
// X-Forwarded-For is never read there (anyone could send it).
func ClientAddr(r *http.Request) Client {
	peer := hostIP(r.RemoteAddr)
	if !FromTunnel(r) {
		return Client{Addr: peer}
	}
	c := Client{Addr: peer, Tunnel: true}
	if a, err := netip.ParseAddr(peer); err == nil && !a.IsLoopback() && !a.IsPrivate() && !a.IsUnspecified() {
		return c
	}
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		parts := strings.Split(xff[len(xff)-1], ",")
		if a, err := netip.ParseAddr(strings.TrimSpace(parts[len(parts)-1])); err == nil {
			c.Addr = a.Unmap().String()
		}
	}
	return c
}

func hostIP(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().WithZone("").String()
	}
	return host
}

// Key is the address as limits count it: an IPv4 address, or an IPv6
// address's /64 (one subscriber usually holds a whole /64).
func (c Client) Key() string {
	a, err := netip.ParseAddr(c.Addr)
	if err != nil || a.Is4() {
		return c.Addr
	}
	p, err := a.Prefix(64)
	if err != nil {
		return c.Addr
	}
	return p.String()
}
