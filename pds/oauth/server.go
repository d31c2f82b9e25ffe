package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/accounts"
	"github.com/hearth-pds/hearth/pds/secrets"
	"github.com/hearth-pds/hearth/pds/store"
)

// Lifetimes, per the atproto profile and the reference implementation.
const (
	// RequestLifetime is how long a pushed request_uri stays usable.
	RequestLifetime = 5 * time.Minute
	// CodeLifetime is how long an authorization code stays usable.
	CodeLifetime = time.Minute
	// AccessLifetime is an access token's lifetime.
	AccessLifetime = 30 * time.Minute
	// PublicSessionLifetime bounds a public client's grant; its refresh
	// tokens live as long.
	PublicSessionLifetime = 14 * 24 * time.Hour
	// ConfidentialSessionLifetime bounds a confidential client's grant;
	// ConfidentialRefreshLifetime is one refresh token's (rolling) life.
	ConfidentialSessionLifetime = 365 * 24 * time.Hour
	ConfidentialRefreshLifetime = 90 * 24 * time.Hour
)

// Accounts is what the server needs of the accounts component.
type Accounts interface {
	SignIn(ctx context.Context, identifier, password, from string) (*accounts.Account, error)
	Lookup(ctx context.Context, id syntax.AtIdentifier) (*accounts.Account, error)
}

// Config configures a Server.
type Config struct {
	// Issuer returns the PDS's URL now (the public URL while publishing,
	// the local one otherwise): the issuer and the resource.
	Issuer   func() string
	Accounts Accounts
	Box      *secrets.Box
	// Fetch fetches client metadata documents and JWKS: the outbound
	// policy's client.
	Fetch *http.Client
	// Directory resolves DIDs: the publisher of a permission set's lexicon.
	Directory identity.Directory
	// LookupTXT looks up DNS TXT records (a permission set's
	// _lexicon.<authority> record); nil: the system resolver. The one
	// seam tests replace, with a fixed table.
	LookupTXT func(ctx context.Context, name string) ([]string, error)
	Now       func() time.Time
	Logger    *slog.Logger
}

// Server is the authorization server.
type Server struct {
	cfg     Config
	db      *store.Store
	secret  []byte
	dpop    *dpopChecker
	clients *clientStore
	assert  *dpopChecker // the client-assertion jti cache
}

const settingSecret = "oauth_secret"

// Open loads (or makes) the server's secret and returns the Server.
func Open(ctx context.Context, db *store.Store, cfg Config) (*Server, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	secret, err := loadSecret(ctx, db, cfg.Box)
	if err != nil {
		return nil, err
	}
	return &Server{
		cfg: cfg, db: db, secret: secret,
		dpop:    newDPoPChecker(secret, cfg.Now),
		assert:  newDPoPChecker(secret, cfg.Now),
		clients: &clientStore{http: cfg.Fetch, now: cfg.Now, cache: map[string]cachedDoc{}},
	}, nil
}

func loadSecret(ctx context.Context, db *store.Store, box *secrets.Box) ([]byte, error) {
	var secret []byte
	err := db.Write(ctx, func(tx *store.Tx) error {
		stored, ok, err := tx.Setting(settingSecret)
		if err != nil {
			return err
		}
		if ok {
			secret, err = box.Open(stored, settingSecret)
			return err
		}
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return err
		}
		sealed, err := box.Seal(secret, settingSecret)
		if err != nil {
			return err
		}
		return tx.PutSetting(settingSecret, sealed)
	})
	if err != nil {
		return nil, fmt.Errorf("oauth secret: %w", err)
	}
	return secret, nil
}

// Nonce is the current DPoP nonce (sent as DPoP-Nonce).
func (s *Server) Nonce() string { return s.dpop.Nonce() }

func (s *Server) issuer() string { return s.cfg.Issuer() }

func randomToken(prefix string) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return prefix + b64.EncodeToString(b)
}

func hashToken(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}

// Prune deletes expired requests, grants and used refresh tokens.
func (s *Server) Prune(ctx context.Context) error {
	now := s.cfg.Now().Unix()
	return s.db.Write(ctx, func(tx *store.Tx) error {
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{"DELETE FROM oauth_request WHERE expires_at < ?", []any{now - 3600}},
			{"DELETE FROM oauth_grant WHERE expires_at < ? OR refresh_expires_at < ?", []any{now, now}},
			{"DELETE FROM oauth_used_refresh WHERE expires_at < ?", []any{now}},
		} {
			if _, err := tx.Exec(q.sql, q.args...); err != nil {
				return fmt.Errorf("prune oauth: %w", err)
			}
		}
		return nil
	})
}
