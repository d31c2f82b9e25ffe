package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"

	"golang.ngrok.com/ngrok/v2"
)

// BringYourOwn is a public URL the user runs themselves (a reverse proxy, a
// Tailscale Funnel, a VPS) pointing at the PDS's loopback port.
type BringYourOwn struct {
	URL string
}

// Kind implements Provider.
func (b BringYourOwn) Kind() string { return "byo" }

// Open implements Provider.
func (b BringYourOwn) Open(context.Context) (net.Listener, string, error) {
	u, err := CheckPublicURL(b.URL)
	if err != nil {
		return nil, "", err
	}
	return nil, u, nil
}

// CheckPublicURL validates a URL a user typed: https (http only for
// localhost), a host, no path. Relays require https with no port.
func CheckPublicURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%q is not a URL like https://pds.example.com", raw)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		return "", fmt.Errorf("the public URL must not have a path: %q", raw)
	}
	local := u.Hostname() == "localhost" || strings.HasSuffix(u.Hostname(), ".localhost") || net.ParseIP(u.Hostname()) != nil && net.ParseIP(u.Hostname()).IsLoopback()
	if u.Scheme != "https" && (u.Scheme != "http" || !local) {
		return "", fmt.Errorf("the public URL must be https (relays and apps will not use plain http): %q", raw)
	}
	return u.Scheme + "://" + u.Host, nil
}

// Loopback serves on a local port and calls it public; for tests. Drop
// simulates the tunnel breaking; with SamePort a reconnect keeps the URL.
type Loopback struct {
	Host     string // name used in the URL (default localhost)
	SamePort bool

	mu   sync.Mutex
	ln   net.Listener
	addr string
	fail error
}

// Kind implements Provider.
func (l *Loopback) Kind() string { return "loopback" }

// Open implements Provider.
func (l *Loopback) Open(ctx context.Context) (net.Listener, string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return nil, "", l.fail
	}
	addr := "127.0.0.1:0"
	if l.SamePort && l.addr != "" {
		addr = l.addr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	l.ln, l.addr = ln, ln.Addr().String()
	host := l.Host
	if host == "" {
		host = "localhost"
	}
	return ln, fmt.Sprintf("http://%s:%d", host, ln.Addr().(*net.TCPAddr).Port), nil
}

// Drop closes the current connection, as a dropped tunnel would.
func (l *Loopback) Drop() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		return l.ln.Close()
	}
	return nil
}

// FailWith makes the next Opens fail (nil to recover).
func (l *Loopback) FailWith(err error) {
	l.mu.Lock()
	l.fail = err
	l.mu.Unlock()
}

// Ngrok is an ngrok tunnel (golang.ngrok.com/ngrok/v2).
type Ngrok struct {
	Authtoken string // default: $NGROK_AUTHTOKEN
	Domain    string // a reserved/static domain such as you.ngrok.app; "" = ngrok assigns one

	mu    sync.Mutex
	agent ngrok.Agent
}

// Kind implements Provider.
func (n *Ngrok) Kind() string { return "ngrok" }

// NgrokPlan is how settings map onto ngrok options.
type NgrokPlan struct {
	Authtoken string
	URL       string // endpoint URL option ("" = assigned)
}

// ErrNoAuthtoken means neither the settings nor NGROK_AUTHTOKEN give a token.
var ErrNoAuthtoken = errors.New("no ngrok authtoken: paste yours from the ngrok dashboard, or set NGROK_AUTHTOKEN")

// Plan maps the settings to ngrok options.
func (n *Ngrok) Plan() (NgrokPlan, error) {
	p := NgrokPlan{Authtoken: strings.TrimSpace(n.Authtoken)}
	if p.Authtoken == "" {
		p.Authtoken = strings.TrimSpace(os.Getenv("NGROK_AUTHTOKEN"))
	}
	if p.Authtoken == "" {
		return p, ErrNoAuthtoken
	}
	if d := strings.TrimSpace(n.Domain); d != "" {
		d = strings.TrimPrefix(strings.TrimPrefix(d, "https://"), "http://")
		d = strings.TrimSuffix(d, "/")
		if strings.ContainsAny(d, "/ :") {
			return p, fmt.Errorf("the ngrok domain should look like you.ngrok.app, not %q", n.Domain)
		}
		p.URL = "https://" + d
	}
	return p, nil
}

// Open implements Provider: connects the agent (once) and opens an HTTPS
// endpoint whose connections come back as a net.Listener.
func (n *Ngrok) Open(ctx context.Context) (net.Listener, string, error) {
	plan, err := n.Plan()
	if err != nil {
		return nil, "", err
	}
	n.mu.Lock()
	if n.agent == nil {
		a, err := ngrok.NewAgent(ngrok.WithAuthtoken(plan.Authtoken), ngrok.WithClientInfo("hearth", "dev"))
		if err != nil {
			n.mu.Unlock()
			return nil, "", ExplainNgrok(fmt.Errorf("start ngrok agent: %w", err))
		}
		n.agent = a
	}
	agent := n.agent
	n.mu.Unlock()
	var opts []ngrok.EndpointOption
	if plan.URL != "" {
		opts = append(opts, ngrok.WithURL(plan.URL))
	}
	ln, err := agent.Listen(ctx, opts...)
	if err != nil {
		return nil, "", ExplainNgrok(fmt.Errorf("open ngrok endpoint: %w", err))
	}
	return ln, ln.URL().String(), nil
}
