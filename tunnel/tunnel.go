package tunnel

import (
	"context"
	"errors"
	"fmt"
	"github.com/hearth-pds/hearth/pds/edge"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// State of a tunnel.
type State string

// States.
const (
	Stopped    State = "stopped"
	Connecting State = "connecting"
	Online     State = "online"
	Offline    State = "offline"
)

// Status is what the GUI shows.
type Status struct {
	Kind   string `json:"kind"`
	State  State  `json:"state"`
	URL    string `json:"url"`    // public URL while online (and the last one after)
	Reason string `json:"reason"` // why offline, in one plain sentence
	Detail string `json:"detail"` // the raw error behind Reason, for a fold-out
	// Stuck is set when retrying cannot help (a wrong ngrok token): the
	// manager stops trying until it is started again with other settings.
	Stuck bool      `json:"stuck"`
	Since time.Time `json:"since"`
}

// Provider opens the public side of a tunnel.
type Provider interface {
	Kind() string
	// Open connects and returns a listener for public connections and the
	// public URL. A nil listener means traffic arrives some other way (the
	// user's own reverse proxy to the loopback port).
	Open(ctx context.Context) (net.Listener, string, error)
}

// Options tune a Manager.
type Options struct {
	StartTimeout time.Duration // per connection attempt (default 20 s)
	MinBackoff   time.Duration // default 1 s
	MaxBackoff   time.Duration // default 2 min
	// OnStatus is called on every status change, in order, from one goroutine.
	OnStatus func(Status)
	Logger   *slog.Logger
}

// Manager keeps a tunnel up.
type Manager struct {
	p    Provider
	h    http.Handler
	opts Options

	mu     sync.Mutex
	status Status
	cancel context.CancelFunc
	done   chan struct{}
	ln     net.Listener
}

// NewManager returns a stopped manager serving h through p.
func NewManager(p Provider, h http.Handler, opts Options) *Manager {
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 20 * time.Second
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 2 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Manager{p: p, h: h, opts: opts, status: Status{Kind: p.Kind(), State: Stopped, Since: time.Now()}}
}

// Start begins connecting (in the background).
func (m *Manager) Start() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.done = make(chan struct{})
	go m.run(ctx)
}

// Stop disconnects and waits for the loop to end.
func (m *Manager) Stop() {
	m.mu.Lock()
	cancel, done, ln := m.cancel, m.done, m.ln
	m.cancel = nil
	m.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	if ln != nil {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			m.opts.Logger.Warn("close the tunnel listener", "kind", m.p.Kind(), "err", err)
		}
	}
	<-done
	m.set(Status{State: Stopped})
}

// Status returns the current status.
func (m *Manager) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.status
}

func (m *Manager) set(s Status) {
	m.mu.Lock()
	s.Kind = m.p.Kind()
	if s.URL == "" && s.State != Online {
		s.URL = m.status.URL
	}
	s.Since = time.Now()
	m.status = s
	cb := m.opts.OnStatus
	m.mu.Unlock()
	if cb != nil {
		cb(s)
	}
}

func (m *Manager) run(ctx context.Context) {
	defer close(m.done)
	backoff := m.opts.MinBackoff
	for ctx.Err() == nil {
		m.set(Status{State: Connecting})
		octx, cancel := context.WithTimeout(ctx, m.opts.StartTimeout)
		ln, url, err := m.p.Open(octx)
		timedOut := octx.Err() == context.DeadlineExceeded
		cancel()
		if ctx.Err() != nil {
			if ln != nil {
				if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
					m.opts.Logger.Warn("close the tunnel listener", "kind", m.p.Kind(), "err", err)
				}
			}
			return
		}
		if err != nil {
			reason, detail := err.Error(), ""
			var p *Problem
			if errors.As(err, &p) {
				reason, detail = p.Sentence, p.Detail
			}
			if timedOut {
				reason = fmt.Sprintf("could not connect within %s: %s", m.opts.StartTimeout, reason)
			}
			if IsPermanent(err) {
				// Retrying cannot help: say it once and wait for the user.
				m.set(Status{State: Offline, Reason: reason, Detail: detail, Stuck: true})
				m.opts.Logger.Warn("tunnel cannot connect until its settings change", "kind", m.p.Kind(), "reason", reason, "err", detail)
				<-ctx.Done()
				return
			}
			m.set(Status{State: Offline, Reason: reason, Detail: detail})
			m.opts.Logger.Warn("tunnel could not connect", "kind", m.p.Kind(), "err", reason, "detail", detail, "retry_in", backoff)
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(backoff*2, m.opts.MaxBackoff)
			continue
		}
		backoff = m.opts.MinBackoff
		m.mu.Lock()
		m.ln = ln
		m.mu.Unlock()
		m.set(Status{State: Online, URL: url})
		m.opts.Logger.Info("tunnel online", "kind", m.p.Kind(), "url", url)
		if ln == nil {
			<-ctx.Done() // nothing to serve: the user's proxy reaches the loopback port
			return
		}
		// Requests on this listener are marked as coming through the tunnel:
		// they are rate limited, and their client address is the one the
		// tunnel reports.
		srv := edge.NewTunnelServer(m.h)
		serr := srv.Serve(ln)
		go func() {
			if err := srv.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				m.opts.Logger.Debug("close the tunnel's HTTP server", "kind", m.p.Kind(), "err", err)
			}
		}()
		if ctx.Err() != nil {
			return
		}
		reason := "the tunnel connection was lost"
		if serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			reason += ": " + serr.Error()
		}
		m.set(Status{State: Offline, Reason: reason})
		m.opts.Logger.Warn("tunnel dropped", "kind", m.p.Kind(), "reason", reason)
		if !sleep(ctx, backoff) {
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
