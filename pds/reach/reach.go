package reach

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hearth-pds/hearth/pds/crawl"
)

// States of one relay.
const (
	StateIdle          = "idle"           // not asked (offline, or a default relay and a private host)
	StateAnnouncing    = "announcing"     // announced; checking whether it subscribed
	StateSubscribed    = "subscribed"     // the relay reports our host active (or, lacking that method, someone reads our firehose)
	StateNotSubscribed = "not-subscribed" // it is not: Reason says why, NextRetry when it is asked again
)

// Relay is one relay to keep subscribed.
type Relay struct {
	URL      string // base URL, e.g. https://bsky.network
	Explicit bool   // named by the operator (asked even for a private host)
}

// Status is one relay's state, for the GUI and logs.
type Status struct {
	Relay      string    `json:"relay"`
	Explicit   bool      `json:"explicit"`
	Hostname   string    `json:"hostname"`
	State      string    `json:"state"`
	Reason     string    `json:"reason"`     // why not subscribed, or why idle
	HostStatus string    `json:"hostStatus"` // the relay's own word (active, idle, offline, throttled, banned)
	Seq        int64     `json:"seq"`        // last sequence number of ours the relay has seen
	HasSeq     bool      `json:"hasSeq"`     // the relay reported Seq
	Announces  int       `json:"announces"`  // requestCrawl calls for this hostname
	LastCheck  time.Time `json:"lastCheck"`
	NextRetry  time.Time `json:"nextRetry"` // when not subscribed: the next announcement
	Since      time.Time `json:"since"`     // when State last changed
}

// Config tunes a Supervisor; zero values take the defaults.
type Config struct {
	Relays []Relay
	HTTP   *http.Client // default: 15 s timeout
	Log    *slog.Logger
	// MinBackoff (2 s) doubles up to MaxBackoff (60 s) between
	// announcements while a relay is not subscribed.
	MinBackoff, MaxBackoff time.Duration
	// Settle (2 s) is the wait between an accepted announcement and the
	// check that follows it; CheckEvery (1 min) the interval of checks while
	// subscribed.
	Settle, CheckEvery time.Duration
	// Watch (5 s) is how often the clocks and the network are looked at;
	// WakeGap (20 s) how much sleep counts as a wake.
	Watch, WakeGap time.Duration
	Clock          func() Reading         // default SystemClock()
	Network        func() (string, error) // default NetworkFingerprint; nil-returning "" disables
	Subscribers    func() int             // our firehose's subscriber count, for relays without getHostStatus
	OnChange       func()                 // called after any status change (not under a lock)
}

// Supervisor keeps every relay subscribed to one hostname.
type Supervisor struct {
	cfg Config

	mu     sync.Mutex
	host   string
	relays []*relayLoop
	closed bool

	stop chan struct{}
	wg   sync.WaitGroup
}

type relayLoop struct {
	r    Relay
	kick chan string // reasons to announce now
	mu   sync.Mutex
	st   Status
	// gen is bumped on every SetHost so that a loop for an old hostname
	// never writes a status for the new one.
	gen    int
	cancel context.CancelFunc
}

// HostOf returns the hostname relays use for publicURL: its host with the
// port when it has one ("localhost:2583", "pds.example.com").
func HostOf(publicURL string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(publicURL))
	if err != nil {
		return "", fmt.Errorf("public URL %q: %w", publicURL, err)
	}
	if u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("public URL %q: want http(s)://host[:port]", publicURL)
	}
	return strings.ToLower(u.Host), nil
}

// New returns a running supervisor with every relay idle; SetHost starts
// the announcements. Duplicate relays are merged (explicit wins).
func New(cfg Config) *Supervisor {
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 15 * time.Second}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.MinBackoff, 2*time.Second)
	def(&cfg.MaxBackoff, 60*time.Second)
	def(&cfg.Settle, 2*time.Second)
	def(&cfg.CheckEvery, time.Minute)
	def(&cfg.Watch, 5*time.Second)
	def(&cfg.WakeGap, 20*time.Second)
	if cfg.Clock == nil {
		cfg.Clock = SystemClock()
	}
	if cfg.Network == nil {
		cfg.Network = NetworkFingerprint
	}
	s := &Supervisor{cfg: cfg, stop: make(chan struct{})}
	seen := map[string]*relayLoop{}
	for _, r := range cfg.Relays {
		r.URL = crawl.NormalizeRelay(r.URL)
		if r.URL == "" {
			continue
		}
		if l := seen[r.URL]; l != nil {
			l.r.Explicit = l.r.Explicit || r.Explicit
			l.st.Explicit = l.r.Explicit
			continue
		}
		l := &relayLoop{r: r, kick: make(chan string, 1), st: Status{Relay: r.URL, Explicit: r.Explicit, State: StateIdle, Reason: "not online yet", Since: time.Now()}}
		seen[r.URL] = l
		s.relays = append(s.relays, l)
	}
	s.wg.Add(1)
	go s.watch()
	return s
}

// SetHost says the PDS is now reachable at publicURL (a start, a new URL,
// a tunnel reconnect): every relay that may be asked is announced to at
// once. An empty publicURL means offline: every relay goes idle.
func (s *Supervisor) SetHost(publicURL string) error {
	host := ""
	if publicURL != "" {
		h, err := HostOf(publicURL)
		if err != nil {
			return err
		}
		host = h
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("reachability supervisor is closed")
	}
	s.host = host
	for _, l := range s.relays {
		l.mu.Lock()
		if l.cancel != nil {
			l.cancel()
			l.cancel = nil
		}
		l.gen++
		gen := l.gen
		now := time.Now()
		switch {
		case host == "":
			l.st = Status{Relay: l.r.URL, Explicit: l.r.Explicit, State: StateIdle, Reason: "not online", Since: now}
		case !crawl.ShouldAsk(host, l.r.Explicit):
			l.st = Status{Relay: l.r.URL, Explicit: l.r.Explicit, Hostname: host, State: StateIdle, Since: now,
				Reason: "the public address is local or private, so this default relay on the internet could not reach it (name the relay yourself to ask it anyway)"}
		default:
			l.st = Status{Relay: l.r.URL, Explicit: l.r.Explicit, Hostname: host, State: StateAnnouncing, Since: now}
			ctx, cancel := context.WithCancel(context.Background())
			l.cancel = cancel
			s.wg.Add(1)
			go s.run(ctx, l, host, gen)
		}
		l.mu.Unlock()
	}
	s.changed()
	return nil
}

// Kick announces to every asked relay now, resetting its backoff (after a
// wake or a network change).
func (s *Supervisor) Kick(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.relays {
		select {
		case l.kick <- reason:
		default: // one is already waiting
		}
	}
}

// Status returns every relay's state, in the configured order.
func (s *Supervisor) Status() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, 0, len(s.relays))
	for _, l := range s.relays {
		l.mu.Lock()
		out = append(out, l.st)
		l.mu.Unlock()
	}
	return out
}

// Close stops every loop and waits for them.
func (s *Supervisor) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.stop)
	for _, l := range s.relays {
		l.mu.Lock()
		if l.cancel != nil {
			l.cancel()
		}
		l.mu.Unlock()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Supervisor) changed() {
	if s.cfg.OnChange != nil {
		go s.cfg.OnChange()
	}
}

// watch looks at the clocks and the network, and kicks on a wake or a
// network change.
func (s *Supervisor) watch() {
	defer s.wg.Done()
	wd := WakeDetector{Gap: s.cfg.WakeGap}
	wd.Observe(s.cfg.Clock())
	lastNet, _ := s.cfg.Network() // an error: compare against "" and retry next tick
	t := time.NewTicker(s.cfg.Watch)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		if slept := wd.Observe(s.cfg.Clock()); slept > 0 {
			s.cfg.Log.Info("woke from sleep: announcing to the relays again", "slept", slept.Round(time.Second))
			s.Kick(fmt.Sprintf("woke after about %s asleep", slept.Round(time.Second)))
		}
		if n, err := s.cfg.Network(); err == nil && n != lastNet {
			if lastNet != "" || n != "" {
				s.cfg.Log.Info("the network changed: announcing to the relays again")
				s.Kick("the network changed")
			}
			lastNet = n
		}
	}
}

// update changes l's status unless a newer SetHost superseded gen.
func (s *Supervisor) update(l *relayLoop, gen int, f func(st *Status)) {
	l.mu.Lock()
	if l.gen != gen {
		l.mu.Unlock()
		return
	}
	old := l.st.State
	f(&l.st)
	if l.st.State != old {
		l.st.Since = time.Now()
	}
	l.mu.Unlock()
	s.changed()
}

// run announces to one relay and keeps it subscribed.
func (s *Supervisor) run(ctx context.Context, l *relayLoop, host string, gen int) {
	defer s.wg.Done()
	backoff := s.cfg.MinBackoff
	announce := true
	lastState := ""
	for {
		if announce {
			err := s.requestCrawl(ctx, l.r.URL, host)
			if ctx.Err() != nil {
				return
			}
			s.update(l, gen, func(st *Status) { st.Announces++ })
			if err != nil {
				s.cfg.Log.Info("relay did not take the crawl request", "relay", l.r.URL, "hostname", host, "err", err, "retry_in", backoff)
				s.update(l, gen, func(st *Status) {
					st.State, st.Reason, st.NextRetry = StateNotSubscribed, err.Error(), time.Now().Add(backoff)
				})
				kicked, ok := s.waitKick(ctx, l, backoff)
				if !ok {
					return
				}
				if kicked {
					backoff = s.cfg.MinBackoff
				} else {
					backoff = min(backoff*2, s.cfg.MaxBackoff)
				}
				continue
			}
			if !sleepCtx(ctx, s.cfg.Settle) {
				return
			}
		}
		res := s.check(ctx, l.r.URL, host)
		if ctx.Err() != nil {
			return
		}
		now := time.Now()
		if res.subscribed {
			backoff = s.cfg.MinBackoff
			s.update(l, gen, func(st *Status) {
				st.State, st.Reason, st.HostStatus, st.Seq, st.HasSeq, st.LastCheck, st.NextRetry = StateSubscribed, res.reason, res.hostStatus, res.seq, res.hasSeq, now, time.Time{}
			})
			if lastState != StateSubscribed {
				s.cfg.Log.Info("relay is subscribed", "relay", l.r.URL, "hostname", host, "seq", res.seq)
			}
			lastState = StateSubscribed
			kicked, ok := s.waitKick(ctx, l, s.cfg.CheckEvery)
			if !ok {
				return
			}
			// after a wake or a network change announce again anyway: the
			// relay may have given up on us while we were away
			announce = kicked
			continue
		}
		s.update(l, gen, func(st *Status) {
			st.State, st.Reason, st.HostStatus, st.Seq, st.HasSeq, st.LastCheck, st.NextRetry = StateNotSubscribed, res.reason, res.hostStatus, res.seq, res.hasSeq, now, now.Add(backoff)
		})
		if lastState != StateNotSubscribed {
			s.cfg.Log.Info("relay is not subscribed; announcing again", "relay", l.r.URL, "hostname", host, "reason", res.reason, "retry_in", backoff)
		}
		lastState = StateNotSubscribed
		kicked, ok := s.waitKick(ctx, l, backoff)
		if !ok {
			return
		}
		if kicked {
			backoff = s.cfg.MinBackoff
		} else {
			backoff = min(backoff*2, s.cfg.MaxBackoff)
		}
		announce = true
	}
}

// waitKick sleeps d or until kicked; ok is false when cancelled.
func (s *Supervisor) waitKick(ctx context.Context, l *relayLoop, d time.Duration) (kicked, ok bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false, false
	case <-l.kick:
		return true, true
	case <-t.C:
		return false, true
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// requestCrawl announces host to relay.
func (s *Supervisor) requestCrawl(ctx context.Context, relay, host string) error {
	body, err := json.Marshal(map[string]string{"hostname": host})
	if err != nil {
		return fmt.Errorf("encode requestCrawl: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, relay+"/xrpc/com.atproto.sync.requestCrawl", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("requestCrawl to %s: %w", relay, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.cfg.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("relay unreachable: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096)) // a short body only quotes less
	if resp.StatusCode/100 == 2 {
		return nil
	}
	return fmt.Errorf("relay refused the crawl request (HTTP %d%s)", resp.StatusCode, xrpcMessage(b))
}

type checkResult struct {
	subscribed bool
	reason     string
	hostStatus string
	seq        int64
	hasSeq     bool
}

// check asks relay whether it is subscribed to host.
func (s *Supervisor) check(ctx context.Context, relay, host string) checkResult {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, relay+"/xrpc/com.atproto.sync.getHostStatus?hostname="+url.QueryEscape(host), nil)
	if err != nil {
		return checkResult{reason: err.Error()}
	}
	resp, err := s.cfg.HTTP.Do(req)
	if err != nil {
		return checkResult{reason: "relay unreachable: " + err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e struct{ Error, Message string }
	if resp.StatusCode/100 != 2 {
		_ = json.Unmarshal(b, &e) // not JSON: e stays empty, which the cases below handle
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		var out struct {
			Status *string `json:"status"`
			Seq    *int64  `json:"seq"`
		}
		if err := json.Unmarshal(b, &out); err != nil {
			return checkResult{reason: "relay answered getHostStatus with something else than JSON"}
		}
		r := checkResult{}
		if out.Status != nil {
			r.hostStatus = *out.Status
		}
		if out.Seq != nil && *out.Seq >= 0 { // indigo says -1 before the first event
			r.seq, r.hasSeq = *out.Seq, true
		}
		if r.hostStatus == "active" || r.hostStatus == "" {
			r.subscribed = true
			return r
		}
		r.reason = "the relay reports this host as " + r.hostStatus
		return r
	case e.Error == "HostNotFound" || (resp.StatusCode == http.StatusBadRequest && e.Error == "InvalidRequest" && strings.Contains(strings.ToLower(e.Message), "not found")):
		return checkResult{reason: "the relay does not know this host (it may have restarted or dropped it)"}
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusNotImplemented || e.Error == "MethodNotImplemented":
		// An older relay: no getHostStatus. Fall back on our own firehose.
		if s.cfg.Subscribers == nil {
			return checkResult{reason: "the relay does not report host status and this PDS cannot see its firehose"}
		}
		if n := s.cfg.Subscribers(); n > 0 {
			return checkResult{subscribed: true, reason: fmt.Sprintf("the relay does not report host status; %d connected to this PDS's firehose", n)}
		}
		return checkResult{reason: "the relay does not report host status, and nobody is connected to this PDS's firehose"}
	default:
		return checkResult{reason: fmt.Sprintf("relay answered getHostStatus with HTTP %d%s", resp.StatusCode, xrpcMessage(b))}
	}
}

// xrpcMessage quotes an XRPC error body briefly (": Error message").
func xrpcMessage(b []byte) string {
	var e struct{ Error, Message string }
	msg := ""
	if json.Unmarshal(b, &e) == nil {
		msg = strings.TrimSpace(e.Error + " " + e.Message)
	}
	if msg == "" {
		msg = strings.TrimSpace(string(b))
	}
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	if msg == "" {
		return ""
	}
	return ": " + msg
}
