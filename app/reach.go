package app

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/crawl"
	"github.com/hearth-pds/hearth/pds/reach"
	"github.com/hearth-pds/hearth/tunnel"
)

// States of the outside check (OutsideCheck.State).
const (
	CheckOff      = "off"      // publishing is off
	CheckDown     = "down"     // the tunnel is not online
	CheckChecking = "checking" // online; the first check is running
	CheckVerified = "verified" // every step passed: only now is the PDS "Online"
	CheckFailing  = "failing"  // a step failed: Failing names it, Hint the fix
)

// OutsideCheck is the honest publishing status: what the outside check
// (tunnel.SelfCheck through the public URL) found last.
type OutsideCheck struct {
	State     string         `json:"state"`
	URL       string         `json:"url"`
	CheckedAt time.Time      `json:"checkedAt"`
	NextCheck time.Time      `json:"nextCheck"`
	Checks    []tunnel.Check `json:"checks"`
	Failing   string         `json:"failing"` // the first failing step's name
	Hint      string         `json:"hint"`    // and how to fix it
	Passed    int            `json:"passed"`
}

// outside runs the outside check after every change and periodically.
type outside struct {
	mu   sync.Mutex
	cur  OutsideCheck
	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

func newOutside() *outside {
	return &outside{cur: OutsideCheck{State: CheckDown, Checks: []tunnel.Check{}}, kick: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
}

// recheck asks for a check now (coalesced).
func (o *outside) recheck() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

func (o *outside) get() OutsideCheck {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.cur
}

func (o *outside) set(c OutsideCheck) {
	o.mu.Lock()
	o.cur = c
	o.mu.Unlock()
}

// relaysFor turns the Publish panel's relay list into the supervisor's: a
// relay counts as named by the user when it is not one of the default
// relays (the panel's list starts out as the defaults, and earlier versions
// saved them as if chosen), so defaults are asked only for a public host.
func relaysFor(list []string) []reach.Relay {
	out := make([]reach.Relay, 0, len(list))
	for _, r := range list {
		out = append(out, reach.Relay{URL: r, Explicit: !crawl.IsDefaultRelay(r)})
	}
	return out
}

// runOutside is the outside checker's loop for publisher p.
func (a *App) runOutside(p *publisher) {
	o := p.outside
	defer close(o.done)
	every := a.cfg.OutsideCheckEvery
	if every <= 0 {
		every = 5 * time.Minute
	}
	t := time.NewTimer(every)
	defer t.Stop()
	// A check in flight ends when publishing stops (StopPublishing waits
	// for this loop).
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	go func() {
		select {
		case <-o.stop:
			cancelBase()
		case <-base.Done():
		}
	}()
	for {
		select {
		case <-o.stop:
			return
		case <-o.kick:
		case <-t.C:
		}
		ts := p.mgr.Status()
		if ts.State != tunnel.Online {
			o.set(OutsideCheck{State: CheckDown, URL: ts.URL, Checks: []tunnel.Check{}, Failing: "The tunnel is not online", Hint: ts.Reason})
		} else {
			prev := o.get()
			if prev.URL != ts.URL || prev.State == CheckDown {
				o.set(OutsideCheck{State: CheckChecking, URL: ts.URL, Checks: []tunnel.Check{}})
				a.emit("outside-check", o.get())
			}
			ctx, cancel := context.WithTimeout(base, 45*time.Second)
			checks, err := a.outsideChecks(ctx, ts.URL)
			cancel()
			c := OutsideCheck{URL: ts.URL, CheckedAt: time.Now(), Checks: checks}
			if err != nil {
				c.Checks = []tunnel.Check{}
				c.Failing, c.Hint = "The check could not run", err.Error()
			}
			for _, ch := range checks {
				if ch.OK {
					c.Passed++
				} else if c.Failing == "" {
					c.Failing, c.Hint = ch.Name, ch.Hint
				}
			}
			c.State = CheckVerified
			if c.Failing != "" {
				c.State = CheckFailing
			}
			select {
			case <-o.stop: // stopped meanwhile: do not report a stale check
				return
			default:
			}
			if p.mgr.Status().URL == ts.URL {
				o.set(c)
			}
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(every)
		cur := o.get()
		cur.NextCheck = time.Now().Add(every)
		o.set(cur)
		a.emit("outside-check", cur)
	}
}

// outsideChecks checks through publicURL what a relay or an app sees.
func (a *App) outsideChecks(ctx context.Context, publicURL string) ([]tunnel.Check, error) {
	e, acc, err := a.account(ctx)
	if err != nil {
		return nil, err
	}
	// Look the DID up afresh: the engine's directory caches documents.
	if err := e.Identity.Directory().Purge(ctx, syntax.AtIdentifier(acc.DID)); err != nil {
		a.log.Debug("purge cached DID document", "err", err)
	}
	return tunnel.SelfCheck(ctx, tunnel.SelfCheckInput{
		PublicURL: publicURL, DID: acc.DID.String(), Handle: acc.Handle.String(),
		Dir: e.Identity.Directory(), ResolveHandle: func(ctx context.Context, handle string) (string, error) {
			h, err := syntax.ParseHandle(strings.TrimSpace(handle))
			if err != nil {
				return "", err
			}
			return e.Identity.ResolveHandleNetwork(ctx, h)
		},
	}), nil
}

// NgrokTokenCheck is the answer to "is this ngrok authtoken good?".
type NgrokTokenCheck struct {
	OK       bool   `json:"ok"`
	Kind     string `json:"kind"`     // tunnel.Problem kinds: invalid-token, account-limit, no-network, …
	Sentence string `json:"sentence"` // one plain sentence
	Detail   string `json:"detail"`   // the raw error, for a fold-out
}

// CheckNgrokToken connects to ngrok once with token (nothing is published)
// and says in one sentence whether ngrok accepts it.
func (a *App) CheckNgrokToken(token string) *NgrokTokenCheck {
	token = strings.TrimSpace(token)
	a.mu.Lock()
	known := token != "" && token == a.ngrokOK
	a.mu.Unlock()
	if known {
		return &NgrokTokenCheck{OK: true, Sentence: "ngrok accepts this authtoken."}
	}
	err := tunnel.CheckNgrokToken(bg, token)
	if err == nil {
		a.mu.Lock()
		a.ngrokOK = token
		a.mu.Unlock()
		return &NgrokTokenCheck{OK: true, Sentence: "ngrok accepts this authtoken."}
	}
	p := tunnel.ExplainNgrok(err)
	c := &NgrokTokenCheck{Kind: p.Kind, Sentence: p.Sentence, Detail: p.Detail}
	if p.Kind == tunnel.ProblemNoNetwork {
		c.Sentence = "Hearth could not reach ngrok to check this authtoken: check that this computer is online, then try again."
	}
	a.log.Info("ngrok authtoken not accepted", "kind", p.Kind, "detail", p.Detail)
	return c
}
