package pds

import (
	"context"
	"crypto/rand"
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
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/actorrepo"
	"github.com/hearth-pds/hearth/pds/auth"
	"github.com/hearth-pds/hearth/pds/blobstore"
	"github.com/hearth-pds/hearth/pds/lexval"
	"github.com/hearth-pds/hearth/pds/plc"
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
	HandleResolver HandleResolver
	// AppViewURL and AppViewDID name the default service for app.bsky.*
	// (like the reference PDS's PDS_BSKY_APP_VIEW_URL / _DID).
	AppViewURL string
	AppViewDID string
	// Directory resolves DIDs (service DIDs for proxying); default: the
	// network, with PLCURL for did:plc.
	Directory identity.Directory
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
		c.AppViewURL = DefaultAppViewURL
	}
	if c.AppViewDID == "" {
		c.AppViewDID = DefaultAppViewDID
	}
	if c.Directory == nil {
		base := identity.BaseDirectory{PLCURL: c.PLCURL, SkipHandleVerification: true, HTTPClient: http.Client{Timeout: 10 * time.Second}}
		c.Directory = identity.NewCacheDirectory(&base, 10000, 10*time.Minute, time.Minute, 10*time.Minute)
	}
}

// Engine is a running PDS.
type Engine struct {
	cfg       Config
	log       *slog.Logger
	db        *store.Store
	blobs     *blobstore.Store
	lex       *lexval.Validator
	tokens    *auth.Issuer
	throttle  *auth.Throttle
	plc       *plc.Client
	publicURL *url.URL

	mu    sync.Mutex
	accts map[string]*account // by DID: lock + warm repo

	acctCacheMu sync.RWMutex
	acctCache   map[string]*accountRow

	urlMu sync.RWMutex // guards publicURL
	plcMu sync.Mutex   // one PLC publication at a time

	notify      *notifier
	handles     handleCache
	collections nsidCache

	bg     sync.WaitGroup
	cancel context.CancelFunc
}

type account struct {
	mu   sync.Mutex
	repo *actorrepo.Repo
}

// Open opens (creating if needed) the data dir and starts background jobs.
func Open(ctx context.Context, cfg Config) (*Engine, error) {
	cfg.setDefaults()
	if cfg.DataDir == "" {
		return nil, errors.New("no data dir configured")
	}
	pu, err := parsePublicURL(cfg.PublicURL)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	db, err := store.Open(ctx, filepath.Join(cfg.DataDir, "hearth.db"))
	if err != nil {
		return nil, err
	}
	blobs, err := blobstore.Open(filepath.Join(cfg.DataDir, "blobs"))
	if err != nil {
		db.Close()
		return nil, err
	}
	blobs.CleanTemp()
	lex, err := lexval.New()
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("load lexicons: %w", err)
	}
	secret, ok, err := db.GetSetting(ctx, "jwt_secret")
	if err != nil {
		db.Close()
		return nil, err
	}
	if !ok {
		secret = make([]byte, 32)
		rand.Read(secret)
		if err := db.PutSetting(ctx, "jwt_secret", secret); err != nil {
			db.Close()
			return nil, err
		}
	}
	e := &Engine{
		cfg:       cfg,
		log:       cfg.Logger,
		db:        db,
		blobs:     blobs,
		lex:       lex,
		throttle:  auth.NewThrottle(10, 15*time.Minute),
		plc:       &plc.Client{URL: strings.TrimRight(cfg.PLCURL, "/"), HTTP: cfg.HTTPClient},
		publicURL: pu,
		accts:     map[string]*account{},
		acctCache: map[string]*accountRow{},
		notify:    newNotifier(),
		handles:   handleCache{m: map[string]handleCheck{}},
	}
	if err := db.Prepare(ctx, hotStatements...); err != nil {
		db.Close()
		return nil, err
	}
	e.tokens = &auth.Issuer{Secret: secret, ServiceDID: e.ServiceDID(), AccessTTL: cfg.AccessTTL, RefreshTTL: cfg.RefreshTTL}
	bgctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.bg.Add(1)
	go e.maintenance(bgctx)
	return e, nil
}

func parsePublicURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("no public URL configured")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("public URL %q must be http(s)://host[:port] with no path", s)
	}
	u.Path = ""
	return u, nil
}

// Close stops background jobs and closes the database.
func (e *Engine) Close() error {
	e.cancel()
	e.bg.Wait()
	e.notify.close()
	return e.db.Close()
}

// PublicURL is the URL the PDS is published at.
func (e *Engine) PublicURL() string {
	e.urlMu.RLock()
	defer e.urlMu.RUnlock()
	return e.publicURL.String()
}

// Hostname is the public URL's hostname (no port).
func (e *Engine) Hostname() string {
	e.urlMu.RLock()
	defer e.urlMu.RUnlock()
	return e.publicURL.Hostname()
}

// ServiceDID is the server's did:web.
func (e *Engine) ServiceDID() string { return "did:web:" + e.Hostname() }

// Logger returns the engine's logger.
func (e *Engine) Logger() *slog.Logger { return e.log }

// BlobLimit is the largest accepted upload.
func (e *Engine) BlobLimit() int64 { return e.cfg.BlobLimit }

func (e *Engine) acct(did string) *account {
	e.mu.Lock()
	defer e.mu.Unlock()
	a := e.accts[did]
	if a == nil {
		a = &account{}
		e.accts[did] = a
	}
	return a
}

func (e *Engine) dropAcct(did string) {
	e.mu.Lock()
	delete(e.accts, did)
	e.mu.Unlock()
}

// maintenance runs periodic jobs: blob GC, expired tokens, pending PLC ops.
func (e *Engine) maintenance(ctx context.Context) {
	defer e.bg.Done()
	e.PublishPendingPLC(ctx)
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := e.CollectGarbageBlobs(ctx, time.Hour); err != nil {
				e.log.Warn("blob garbage collection failed", "err", err)
			} else if n > 0 {
				e.log.Info("collected unreferenced blobs", "count", n)
			}
			e.pruneTokens(ctx)
			e.PublishPendingPLC(ctx)
		}
	}
}

func nowString() string { return syntax.DatetimeNow().String() }
