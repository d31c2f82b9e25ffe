package pds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bluesky-social/indigo/atproto/identity"

	"github.com/hearth-pds/hearth/pds/accounts"
	"github.com/hearth-pds/hearth/pds/auth"
	"github.com/hearth-pds/hearth/pds/blobs"
	"github.com/hearth-pds/hearth/pds/eventlog"
	"github.com/hearth-pds/hearth/pds/folder"
	hid "github.com/hearth-pds/hearth/pds/identity"
	"github.com/hearth-pds/hearth/pds/oauth"
	"github.com/hearth-pds/hearth/pds/outbound"
	"github.com/hearth-pds/hearth/pds/outbox"
	"github.com/hearth-pds/hearth/pds/plc"
	"github.com/hearth-pds/hearth/pds/repos"
	"github.com/hearth-pds/hearth/pds/secrets"
	"github.com/hearth-pds/hearth/pds/store"
)

// DefaultPLCURL is the public PLC directory.
const DefaultPLCURL = "https://plc.directory"

// Config configures an Engine.
type Config struct {
	DataDir   string
	PublicURL string // e.g. https://pds.example.com or http://localhost:2583
	PLCURL    string
	// BlobLimit is the largest accepted blob in bytes (default 100 MB).
	BlobLimit int64
	// AccessTTL and RefreshTTL are session token lifetimes.
	AccessTTL  time.Duration
	RefreshTTL time.Duration
	// RefreshGrace is how long a rotated refresh token still works (a
	// client's retry after a lost response).
	RefreshGrace time.Duration
	Logger       *slog.Logger
	HTTPClient   *http.Client
	// HandleResolver checks handles for describeRepo's handleIsCorrect;
	// nil means handles are never reported correct.
	HandleResolver hid.HandleResolver
	// AppViewURL and AppViewDID name the default service for app.bsky.*
	// (like the reference PDS's PDS_BSKY_APP_VIEW_URL / _DID).
	AppViewURL string
	AppViewDID string
	// Directory resolves DIDs (service DIDs for proxying); default: the
	// network, with PLCURL for did:plc and did:web fetched through the
	// outbound policy.
	Directory identity.Directory
	// KeyStore is where the data key that seals private keys is kept:
	// secrets.StoreAuto (default: the OS keyring when it answers, else
	// keys/data.key in the data folder), StoreFile or StoreKeyring.
	KeyStore string
	// Keyring is the OS keyring (default secrets.OSKeyring).
	Keyring secrets.Keyring
	// AllowPrivateNetwork lifts the outbound address rule (loopback, LAN
	// and other non-public addresses) for offline development networks;
	// hearthd's --allow-private-network.
	AllowPrivateNetwork bool
	// LoginThrottle is the password throttle's policy (zero:
	// auth.DefaultThrottlePolicy); Hasher runs every password hash (nil:
	// min(CPUs, 4) at once, 32 waiting).
	LoginThrottle auth.ThrottlePolicy
	Hasher        *auth.Hasher
	// OutboxNotify, when set, hears of every token written to the outbox
	// (the desktop window shows a notification).
	OutboxNotify func(outbox.Message)
	// NoBackground opens the engine without its background jobs (blob
	// GC, publishing pending PLC operations): for a short check of a
	// folder, such as a restore verifying what it unpacked, that must not
	// talk to the PLC directory or change anything.
	NoBackground bool
	// UserDomains are the handle domains this server offers
	// (describeServer's availableUserDomains, e.g. ".test" on a development
	// network); empty: "."+the public hostname. A handle under one of them
	// needs no outside resolution to be taken.
	UserDomains []string
	// PrivacyPolicyURL, TermsOfServiceURL and ContactEmail are reported by
	// describeServer (links, contact) when set.
	PrivacyPolicyURL, TermsOfServiceURL, ContactEmail string
	// OAuthFetch fetches OAuth client metadata documents (nil: the
	// outbound policy's client); tests set one that trusts their TLS
	// server.
	OAuthFetch *http.Client
	// LexiconTXT looks up DNS TXT records for OAuth permission sets (the
	// _lexicon.<authority> record naming a set's publisher); nil: the
	// system resolver. Tests set a fixed table.
	LexiconTXT func(ctx context.Context, name string) ([]string, error)
}

func (c *Config) setDefaults() {
	if c.PLCURL == "" {
		c.PLCURL = DefaultPLCURL
	}
	if c.BlobLimit == 0 {
		c.BlobLimit = 100 << 20
	}
	if c.AccessTTL == 0 {
		c.AccessTTL = 30 * time.Minute
	}
	if c.RefreshTTL == 0 {
		c.RefreshTTL = 90 * 24 * time.Hour
	}
	if c.RefreshGrace == 0 {
		c.RefreshGrace = 2 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if c.AppViewURL == "" {
		c.AppViewURL = hid.DefaultAppViewURL
	}
	if c.AppViewDID == "" {
		c.AppViewDID = hid.DefaultAppViewDID
	}
	if c.Directory == nil {
		// did:web documents come from hosts strangers name; the PLC
		// directory is the operator's choice and is trusted.
		pol := c.outbound()
		pol.Timeout = 10 * time.Second
		base := identity.BaseDirectory{PLCURL: c.PLCURL, SkipHandleVerification: true, HTTPClient: *pol.Client()}
		c.Directory = identity.NewCacheDirectory(&base, 10000, 10*time.Minute, time.Minute, 10*time.Minute)
	}
}

// outbound is the policy for fetches of URLs that came from outside: the
// configured PLC and AppView origins are trusted.
func (c *Config) outbound() outbound.Policy {
	return outbound.Policy{AllowPrivateNetwork: c.AllowPrivateNetwork, Trusted: []string{c.PLCURL, c.AppViewURL}}
}

// Engine is a running PDS: its components, wired on one store. The desktop
// shell, hearthd and the XRPC handlers call the components directly; the
// Engine's own methods are the operations that span several of them.
type Engine struct {
	Accounts *accounts.Accounts
	Repos    *repos.Repos
	Blobs    *blobs.Blobs
	Events   *eventlog.Log
	Identity *hid.Identity
	// Outbox holds the tokens the reference PDS would email.
	Outbox *outbox.Outbox
	OAuth  *oauth.Server

	cfg  Config
	log  *slog.Logger
	db   *store.Store
	lock *folder.Lock

	stateMu sync.Mutex // serialises hearth.state updates
	state   folder.State
	// quickChecked says whether this start ran SQLite's quick_check (it
	// is skipped when the database is as a clean stop left it).
	quickChecked bool

	bg     sync.WaitGroup
	cancel context.CancelFunc
}

// Open opens (creating if needed) the data dir, wires the components and
// starts background jobs. It holds the folder's lock (folder.Acquire) until
// Close, so no second engine, in this process or another, opens the same
// folder; and it refuses a folder whose data is missing or damaged
// (openChecked) rather than serve an empty or broken PDS.
func Open(ctx context.Context, cfg Config) (*Engine, error) {
	cfg.setDefaults()
	if cfg.DataDir == "" {
		return nil, errors.New("no data dir configured")
	}
	pu, err := hid.ParsePublicURL(cfg.PublicURL)
	if err != nil {
		return nil, err
	}
	if _, err := hid.ParseAppView(cfg.AppViewURL, cfg.AppViewDID); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, folder.DirMode); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	lock, err := folder.Acquire(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	e, err := openChecked(ctx, cfg, pu)
	if err != nil {
		return nil, errors.Join(err, lock.Release())
	}
	e.lock = lock
	bgctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	if !cfg.NoBackground {
		e.bg.Add(1)
		go e.maintenance(bgctx)
	}
	return e, nil
}

// wire builds the components on db, each given the ones it uses.
func wire(ctx context.Context, db *store.Store, box *secrets.Box, pu *url.URL, cfg Config) (*Engine, error) {
	e := &Engine{cfg: cfg, log: cfg.Logger, db: db}
	var err error
	if e.Events, err = eventlog.Open(ctx, db); err != nil {
		return nil, err
	}
	if e.Accounts, err = accounts.Open(ctx, db, accounts.Config{
		ServiceDID: "did:web:" + pu.Hostname(), AccessTTL: cfg.AccessTTL, RefreshTTL: cfg.RefreshTTL, RefreshGrace: cfg.RefreshGrace,
		Box:      box,
		Throttle: cfg.LoginThrottle, Hasher: cfg.Hasher,
	}); err != nil {
		return nil, err
	}
	if e.Blobs, err = blobs.Open(ctx, db, filepath.Join(cfg.DataDir, "blobs"), cfg.BlobLimit, cfg.Logger); err != nil {
		return nil, err
	}
	if e.Repos, err = repos.Open(ctx, db, e.Events, e.Accounts, e.Blobs, cfg.Logger); err != nil {
		return nil, err
	}
	e.Identity = hid.New(db, e.Events, e.Accounts, hid.Config{
		PublicURL:  pu,
		PLC:        &plc.Client{URL: strings.TrimRight(cfg.PLCURL, "/"), HTTP: cfg.HTTPClient},
		Directory:  cfg.Directory,
		Handles:    cfg.HandleResolver,
		AppViewURL: cfg.AppViewURL,
		AppViewDID: cfg.AppViewDID,
		Logger:     cfg.Logger,

		AllowPrivateNetwork: cfg.AllowPrivateNetwork,
		UserDomains:         cfg.UserDomains,
		Links:               hid.Links{PrivacyPolicy: cfg.PrivacyPolicyURL, TermsOfService: cfg.TermsOfServiceURL},
		ContactEmail:        cfg.ContactEmail,
	})
	e.Outbox = outbox.New(db, cfg.OutboxNotify)
	fetch := cfg.OAuthFetch
	if fetch == nil {
		pol := cfg.outbound()
		pol.MaxBody, pol.Timeout = oauth.MetadataMaxBytes, oauth.MetadataTimeout
		fetch = pol.Client()
	}
	if e.OAuth, err = oauth.Open(ctx, db, oauth.Config{
		Issuer: e.Identity.PublicURL, Accounts: e.Accounts, Box: box, Fetch: fetch, Logger: cfg.Logger,
		Directory: cfg.Directory, LookupTXT: cfg.LexiconTXT,
	}); err != nil {
		return nil, err
	}
	return e, nil
}

// Close stops background jobs, closes the database and releases the data
// folder.
func (e *Engine) Close() error {
	e.cancel()
	e.bg.Wait()
	e.Events.Close()
	err := e.db.Close()
	if err == nil {
		e.markCleanStop()
	}
	return errors.Join(err, e.lock.Release())
}

// markCleanStop records in hearth.state the database file as this clean
// stop leaves it (the WAL checkpointed by the close), so the next start
// may skip the full-file quick_check. Failing to record it only costs the
// next start that check.
func (e *Engine) markCleanStop() {
	fp, ok := folder.TakeFingerprint(e.cfg.DataDir)
	if !ok {
		return
	}
	e.stateMu.Lock()
	defer e.stateMu.Unlock()
	st := e.state
	st.Clean = &fp
	if err := folder.WriteState(e.cfg.DataDir, st); err != nil {
		e.log.Warn("clean stop not recorded in hearth.state: the next start checks the whole database", "err", err)
		return
	}
	e.state = st
}

// Outbound returns the engine's policy for fetching URLs that came from
// outside (callers set their own size and time limits on it). It trusts
// the PLC directory and the AppView in use now (see SetAppView).
func (e *Engine) Outbound() outbound.Policy {
	p := e.cfg.outbound()
	if svc, err := e.Identity.AppViewService(); err == nil {
		p.Trusted = []string{e.cfg.PLCURL, svc.URL.String()}
	}
	return p
}

// Logger returns the engine's logger.
func (e *Engine) Logger() *slog.Logger { return e.log }

// maintenance runs periodic jobs: blob GC, expired tokens, pending PLC ops.
func (e *Engine) maintenance(ctx context.Context) {
	defer e.bg.Done()
	e.Identity.PublishPending(ctx)
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := e.Blobs.CollectGarbage(ctx, time.Hour); err != nil {
				e.log.Warn("blob garbage collection failed", "err", err)
			} else if n > 0 {
				e.log.Info("collected unreferenced blobs", "count", n)
			}
			if err := e.Accounts.PruneTokens(ctx); err != nil {
				e.log.Warn("pruning sessions failed", "err", err)
			}
			if err := e.OAuth.Prune(ctx); err != nil {
				e.log.Warn("pruning OAuth requests failed", "err", err)
			}
			if err := e.Accounts.PruneLoginFailures(ctx); err != nil {
				e.log.Warn("pruning login failures failed", "err", err)
			}
			e.Identity.PublishPending(ctx)
		}
	}
}
