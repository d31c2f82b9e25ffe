package app

import (
	"context"
	"errors"

	"fmt"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"net/url"
	"strings"
	"time"

	"github.com/hearth-pds/hearth/pds/crawl"
	"github.com/hearth-pds/hearth/pds/reach"
	"github.com/hearth-pds/hearth/tunnel"
)

// PublishConfig is the Publish panel's choice.
type PublishConfig struct {
	Kind      string   `json:"kind"`      // "ngrok", "byo" or "loopback" (tests)
	Authtoken string   `json:"authtoken"` // ngrok; empty = saved one or $NGROK_AUTHTOKEN
	Domain    string   `json:"domain"`    // ngrok reserved domain (optional)
	URL       string   `json:"url"`       // byo
	Relays    []string `json:"relays"`    // empty = crawl.DefaultRelays
}

// PublishStatus is the Publish panel's state.
type PublishStatus struct {
	Tunnel      tunnel.Status `json:"tunnel"`
	Relays      []RelayStatus `json:"relays"`
	PDSEndpoint string        `json:"pdsEndpoint"` // what the DID document says
	Pending     int           `json:"pendingOps"`
	Refused     int           `json:"refusedOps"`
	LastError   string        `json:"lastError"`
	Config      PublishConfig `json:"config"` // token masked
	// Outside is the honest status: "Online" only while it is verified.
	Outside OutsideCheck `json:"outside"`
}

// RelayStatus is one relay's state under the reachability supervisor
// (pds/reach): idle, announcing, subscribed or not-subscribed.
type RelayStatus struct {
	Relay      string    `json:"relay"`
	State      string    `json:"state"`
	Attempts   int       `json:"attempts"`  // crawl requests sent for this hostname
	LastError  string    `json:"lastError"` // why not subscribed, or why not asked
	Hostname   string    `json:"hostname"`
	Explicit   bool      `json:"explicit"`   // named by the user (asked even for a local URL)
	HostStatus string    `json:"hostStatus"` // the relay's own word for our host
	Seq        int64     `json:"seq"`        // the last seq the relay reports having seen
	HasSeq     bool      `json:"hasSeq"`
	NextRetry  time.Time `json:"nextRetry"`
	LastCheck  time.Time `json:"lastCheck"`
}

type publisher struct {
	cfg     PublishConfig
	mgr     *tunnel.Manager
	sup     *reach.Supervisor // keeps the relays subscribed
	outside *outside          // the outside check
	online  chan string       // public URLs to publish identity at, in order ("" = offline)
	done    chan struct{}     // closed when the publishing goroutine ends
}

// StartPublishing switches publishing on with the given tunnel.
func (a *App) StartPublishing(cfg PublishConfig) (*PublishStatus, error) {
	e, err := a.eng()
	if err != nil {
		return nil, err
	}
	saved, err := loadSettings(a.dir())
	if err != nil {
		return nil, err // not saved over: see loadSettings
	}
	if cfg.Kind == "ngrok" && cfg.Authtoken == "" {
		cfg.Authtoken = saved.NgrokAuthtoken
	}
	if cfg.Kind == "ngrok" && strings.TrimSpace(cfg.Authtoken) != "" && strings.TrimSpace(cfg.Authtoken) != saved.NgrokAuthtoken {
		// A newly entered token is checked once, before it is saved.
		if c := a.CheckNgrokToken(cfg.Authtoken); !c.OK {
			return nil, errors.New(c.Sentence)
		}
	}
	var prov tunnel.Provider
	switch cfg.Kind {
	case "ngrok":
		prov = &tunnel.Ngrok{Authtoken: cfg.Authtoken, Domain: cfg.Domain}
		if _, err := prov.(*tunnel.Ngrok).Plan(); err != nil {
			return nil, err
		}
	case "byo":
		u, err := tunnel.CheckPublicURL(cfg.URL)
		if err != nil {
			return nil, err
		}
		cfg.URL = u
		prov = tunnel.BringYourOwn{URL: u}
	case "loopback":
		prov = &tunnel.Loopback{SamePort: true}
	default:
		return nil, fmt.Errorf("unknown tunnel kind %q", cfg.Kind)
	}
	if len(cfg.Relays) == 0 {
		cfg.Relays = append([]string(nil), crawl.DefaultRelays...)
	}
	// The new configuration is valid: only now replace the running tunnel.
	a.stopPublishing()
	a.mu.Lock()
	srv := a.server
	a.mu.Unlock()
	p := &publisher{cfg: cfg, outside: newOutside(), sup: reach.New(reach.Config{Relays: relaysFor(cfg.Relays), Log: a.log,
		Subscribers: func() int { return srv.Firehose().Stats().Subscribers }})}
	// Identity publication and crawl requests can take a while (the PLC
	// directory may be slow or down): they run in order on their own
	// goroutine, so the tunnel serves as soon as it is online.
	p.online = make(chan string, 16)
	p.done = make(chan struct{})
	go func() {
		defer close(p.done)
		for u := range p.online {
			if u == "" { // offline: relays idle until the tunnel is back
				if err := p.sup.SetHost(""); err != nil {
					a.log.Debug("relays: offline", "err", err)
				}
				p.outside.recheck()
				continue
			}
			if _, err := e.Identity.SetPublicURL(context.Background(), u); err != nil {
				a.log.Warn("publish identity at the new URL", "err", err)
			}
			// online (a start, a reconnect, a new URL): announce to the
			// relays and check from the outside
			if err := p.sup.SetHost(u); err != nil {
				a.log.Warn("relays: not announcing", "url", u, "err", err)
			}
			p.outside.recheck()
		}
	}()
	p.mgr = tunnel.NewManager(prov, srv, tunnel.Options{Logger: a.log, OnStatus: func(s tunnel.Status) {
		var u string
		switch {
		case s.State == tunnel.Online && s.URL != "":
			u = s.URL
		case s.State == tunnel.Offline:
			u = "" // offline
		default:
			a.emit("tunnel", s)
			return
		}
		select {
		case p.online <- u:
		default:
			a.log.Warn("identity publication is behind; dropping an older tunnel transition")
		}
		a.emit("tunnel", s)
	}})
	a.mu.Lock()
	a.pub = p
	a.mu.Unlock()
	st := saved
	st.Tunnel = cfg.Kind
	st.NgrokDomain, st.BYOURL, st.Relays = cfg.Domain, cfg.URL, cfg.Relays
	if cfg.Authtoken != "" {
		st.NgrokAuthtoken = cfg.Authtoken
	}
	a.settingsSaved(saveSettings(a.dir(), st))
	go a.runOutside(p)
	p.mgr.Start()
	return a.PublishingStatus()
}

// StopPublishing switches publishing off (the PDS stays on loopback).
func (a *App) StopPublishing() error {
	a.stopPublishing()
	st, err := loadSettings(a.dir())
	if err != nil {
		return err
	}
	st.Tunnel = ""
	err = saveSettings(a.dir(), st)
	a.settingsSaved(err)
	return err
}

func (a *App) stopPublishing() {
	a.mu.Lock()
	p := a.pub
	a.pub = nil
	a.mu.Unlock()
	if p != nil {
		p.mgr.Stop()
		close(p.online)
		<-p.done
		p.sup.Close()
		close(p.outside.stop)
		<-p.outside.done
		a.emit("outside-check", OutsideCheck{State: CheckOff, Checks: []tunnel.Check{}})
	}
}

func (a *App) dir() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dataDir
}

// PublishingStatus returns the tunnel, relay and identity state.
func (a *App) PublishingStatus() (*PublishStatus, error) {
	e, acc, err := a.account(bg)
	if err != nil {
		return nil, err
	}
	out := &PublishStatus{Tunnel: tunnel.Status{State: tunnel.Stopped}, Relays: []RelayStatus{}, Outside: OutsideCheck{State: CheckOff, Checks: []tunnel.Check{}}}
	a.mu.Lock()
	p := a.pub
	a.mu.Unlock()
	if p != nil {
		out.Tunnel = p.mgr.Status()
		for _, r := range p.sup.Status() {
			out.Relays = append(out.Relays, RelayStatus{Relay: r.Relay, State: r.State, Attempts: r.Announces, LastError: r.Reason, Hostname: r.Hostname,
				Explicit: r.Explicit, HostStatus: r.HostStatus, Seq: r.Seq, HasSeq: r.HasSeq, NextRetry: r.NextRetry, LastCheck: r.LastCheck})
		}
		out.Config = p.cfg
		out.Outside = p.outside.get()
	} else {
		// Off: show what was saved, so the form can start from it.
		// (Unreadable settings: an empty form; Status reports the problem.)
		st, _ := loadSettings(a.dir())
		out.Config = PublishConfig{Kind: st.Tunnel, Authtoken: st.NgrokAuthtoken, Domain: st.NgrokDomain, URL: st.BYOURL, Relays: st.Relays}
	}
	if out.Config.Authtoken != "" {
		out.Config.Authtoken = "••••" + out.Config.Authtoken[max(0, len(out.Config.Authtoken)-4):]
	}
	id, err := e.Identity.Info(bg, acc.DID)
	if err != nil {
		return nil, err
	}
	out.PDSEndpoint, out.Pending, out.Refused, out.LastError = id.PDS, id.Pending, id.Refused, id.LastError
	return out, nil
}

// SelfCheck checks through the public URL whether the PDS is reachable
// (the same check that runs on its own; a manual run also updates it).
func (a *App) SelfCheck() ([]tunnel.Check, error) {
	a.mu.Lock()
	p := a.pub
	a.mu.Unlock()
	if p == nil || p.mgr.Status().State != tunnel.Online {
		return nil, fmt.Errorf("publishing is not on: start it first")
	}
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	checks, err := a.outsideChecks(ctx, p.mgr.Status().URL)
	if err != nil {
		return nil, err
	}
	p.outside.recheck() // the status follows what the user just saw
	return checks, nil
}

// RecoveryKeyExport is the account's PLC rotation key.
type RecoveryKeyExport struct {
	PrivateKeyHex string `json:"privateKeyHex"`
	DIDKey        string `json:"didKey"`
	Warning       string `json:"warning"`
}

// ExportRecoveryKey returns the PLC rotation key (the user's recovery key).
func (a *App) ExportRecoveryKey() (*RecoveryKeyExport, error) {
	e, acc, err := a.account(bg)
	if err != nil {
		return nil, err
	}
	priv, did, err := e.Identity.RecoveryKey(bg, acc.DID)
	if err != nil {
		return nil, err
	}
	return &RecoveryKeyExport{PrivateKeyHex: priv, DIDKey: did,
		Warning: "Whoever has this key controls your identity: they can move your account anywhere. Keep it offline (a password manager or paper), never paste it into a website, and never share it."}, nil
}

// CreateRecoveryKey makes a recovery key that ranks above Hearth's own
// rotation key and returns its private half once: Hearth does not keep it.
func (a *App) CreateRecoveryKey() (*RecoveryKeyExport, error) {
	e, acc, err := a.account(bg)
	if err != nil {
		return nil, err
	}
	priv, did, err := e.Identity.CreateRecoveryKey(bg, acc.DID)
	if err != nil {
		return nil, err
	}
	return &RecoveryKeyExport{PrivateKeyHex: priv, DIDKey: did,
		Warning: "This is the only time this key is shown: Hearth does not keep it. Write it down or put it in a password manager now. It ranks above Hearth's own key: with it you can take your identity back, even if this computer is lost."}, nil
}

// AddRotationKey adds a rotation key of your own (a did:key) to your DID.
func (a *App) AddRotationKey(didKey string) error {
	e, acc, err := a.account(bg)
	if err != nil {
		return err
	}
	return e.Identity.AddRotationKey(bg, acc.DID, strings.TrimSpace(didKey))
}

// HandleInstructions says how to point a domain handle at your DID.
type HandleInstructions struct {
	Handle        string `json:"handle"`
	DNSName       string `json:"dnsName"`
	DNSValue      string `json:"dnsValue"`
	WellKnownURL  string `json:"wellKnownURL"`
	WellKnownBody string `json:"wellKnownBody"`
}

// HandleSetup returns the DNS TXT record or well-known file to set up.
func (a *App) HandleSetup(handle string) (*HandleInstructions, error) {
	_, acc, err := a.account(bg)
	if err != nil {
		return nil, err
	}
	h := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(handle, "@")))
	return &HandleInstructions{Handle: h, DNSName: "_atproto." + h, DNSValue: "did=" + acc.DID.String(),
		WellKnownURL: "https://" + h + "/.well-known/atproto-did", WellKnownBody: acc.DID.String()}, nil
}

// SetHandle switches to handle after checking it resolves to your DID
// (DNS or HTTPS), or when it is the public hostname of your tunnel, which
// Hearth itself answers for.
func (a *App) SetHandle(handle string) (*AccountInfo, error) {
	e, acc, err := a.account(bg)
	if err != nil {
		return nil, err
	}
	h := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(handle, "@")))
	a.mu.Lock()
	p := a.pub
	a.mu.Unlock()
	own := false
	if p != nil {
		if u, err := url.Parse(p.mgr.Status().URL); err == nil && u.Hostname() == h {
			own = true
		}
	}
	if !own {
		parsed, err := syntax.ParseHandle(h)
		if err != nil {
			return nil, fmt.Errorf("not a handle: %w", err)
		}
		if err := e.Identity.VerifyHandle(bg, acc.DID, parsed); err != nil {
			return nil, err
		}
	}
	if err := e.UpdateHandle(bg, acc.DID, h); err != nil {
		return nil, err
	}
	if p != nil {
		p.outside.recheck() // the handle step of the outside check changed
	}
	accs, err := e.Accounts.List(bg)
	if err != nil {
		return nil, err
	}
	for i := range accs {
		if accs[i].DID == acc.DID {
			return a.accountInfo(e, &accs[i])
		}
	}
	return nil, fmt.Errorf("account vanished")
}
