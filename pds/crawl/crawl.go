package crawl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// States of a relay's crawl request.
const (
	StatePending = "pending" // trying (or waiting to retry)
	StateOK      = "ok"      // the relay accepted the request
	StateRefused = "refused" // the relay said no (4xx); not retried
	StateIdle    = "idle"    // nothing requested yet
)

// Status of one relay.
type Status struct {
	Relay       string
	Hostname    string
	State       string
	Attempts    int
	LastAttempt time.Time
	LastError   string
	NextRetry   time.Time
}

// Requester sends crawl requests to a set of relays.
type Requester struct {
	relays     []string
	client     *http.Client
	log        *slog.Logger
	MinBackoff time.Duration
	MaxBackoff time.Duration

	mu     sync.Mutex
	status map[string]*Status
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a requester for relays (base URLs such as https://bsky.network).
func New(relays []string, client *http.Client, log *slog.Logger) *Requester {
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	if log == nil {
		log = slog.Default()
	}
	r := &Requester{client: client, log: log, MinBackoff: 2 * time.Second, MaxBackoff: 10 * time.Minute, status: map[string]*Status{}}
	for _, rel := range relays {
		rel = NormalizeRelay(rel)
		if rel == "" || r.status[rel] != nil {
			continue
		}
		r.relays = append(r.relays, rel)
		r.status[rel] = &Status{Relay: rel, State: StateIdle}
	}
	return r
}

// Request asks every relay to crawl hostname, replacing any earlier
// request still being retried.
func (r *Requester) Request(hostname string) { r.RequestFrom(hostname, nil) }

// RequestFrom asks the relays for which ask returns true (every relay when
// ask is nil) to crawl hostname, replacing any earlier request still being
// retried; the others are left idle. It returns how many were asked.
func (r *Requester) RequestFrom(hostname string, ask func(relay string) bool) int {
	r.mu.Lock()
	if r.cancel != nil {
		r.cancel()
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	var asked []string
	for _, rel := range r.relays {
		if ask == nil || ask(rel) {
			asked = append(asked, rel)
			r.status[rel] = &Status{Relay: rel, Hostname: hostname, State: StatePending}
		} else {
			r.status[rel] = &Status{Relay: rel, State: StateIdle}
		}
	}
	r.mu.Unlock()
	for _, rel := range asked {
		r.wg.Add(1)
		go r.run(ctx, rel, hostname)
	}
	return len(asked)
}

// Close stops retries.
func (r *Requester) Close() {
	r.mu.Lock()
	if r.cancel != nil {
		r.cancel()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// Status returns the status of every relay.
func (r *Requester) Status() []Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Status, 0, len(r.relays))
	for _, rel := range r.relays {
		out = append(out, *r.status[rel])
	}
	return out
}

func (r *Requester) update(ctx context.Context, rel string, f func(s *Status)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ctx.Err() != nil {
		return // superseded
	}
	f(r.status[rel])
}

func (r *Requester) run(ctx context.Context, rel, hostname string) {
	defer r.wg.Done()
	backoff := r.MinBackoff
	for attempt := 1; ; attempt++ {
		err, permanent := r.once(ctx, rel, hostname)
		now := time.Now()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			r.update(ctx, rel, func(s *Status) { s.State, s.Attempts, s.LastAttempt, s.LastError = StateOK, attempt, now, "" })
			r.log.Info("relay accepted crawl request", "relay", rel, "hostname", hostname)
			return
		}
		if permanent {
			r.update(ctx, rel, func(s *Status) {
				s.State, s.Attempts, s.LastAttempt, s.LastError = StateRefused, attempt, now, err.Error()
			})
			r.log.Warn("relay refused crawl request", "relay", rel, "hostname", hostname, "err", err)
			return
		}
		r.update(ctx, rel, func(s *Status) {
			s.State, s.Attempts, s.LastAttempt, s.LastError, s.NextRetry = StatePending, attempt, now, err.Error(), now.Add(backoff)
		})
		r.log.Info("crawl request failed; will retry", "relay", rel, "hostname", hostname, "in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, r.MaxBackoff)
	}
}

// once makes one request; permanent is true when retrying cannot help.
func (r *Requester) once(ctx context.Context, rel, hostname string) (err error, permanent bool) {
	body, _ := json.Marshal(map[string]string{"hostname": hostname})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rel+"/xrpc/com.atproto.sync.requestCrawl", bytes.NewReader(body))
	if err != nil {
		return err, true
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("request crawl from %s: %w", rel, err), false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 == 2 {
		return nil, false
	}
	var e struct{ Error, Message string }
	msg := ""
	if json.Unmarshal(b, &e) == nil { // else: not an XRPC error body; quoted as is below
		msg = strings.TrimSpace(e.Error + " " + e.Message)
	}
	if msg == "" {
		msg = strings.TrimSpace(string(b))
	}
	err = fmt.Errorf("relay %s answered %d: %s", rel, resp.StatusCode, msg)
	return err, resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusRequestTimeout
}
