package pds

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/auth"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/apierr"
)

// Default AppView, as the reference PDS configures it.
const (
	DefaultAppViewURL = "https://api.bsky.app"
	DefaultAppViewDID = "did:web:api.bsky.app#bsky_appview"
)

// ServiceAuth signs a service-auth JWT (ES256K with the account's signing
// key) for aud (a service DID, with or without #fragment), valid for ttl
// (at most an hour), bound to lxm when given.
func (e *Engine) ServiceAuth(ctx context.Context, did, aud, lxm string, ttl time.Duration) (string, error) {
	if ttl <= 0 {
		ttl = 60 * time.Second
	}
	if ttl > time.Hour {
		return "", apierr.Invalid("expiration is too far in the future (at most one hour)")
	}
	audDID, _, _ := strings.Cut(aud, "#")
	if _, err := syntax.ParseDID(audDID); err != nil {
		return "", apierr.Invalid("aud must be a DID (with an optional #service): %v", err)
	}
	var nsid *syntax.NSID
	if lxm != "" {
		n, err := syntax.ParseNSID(lxm)
		if err != nil {
			return "", apierr.Invalid("lxm must be an NSID: %v", err)
		}
		nsid = &n
	}
	acc, err := e.lookup(ctx, e.db.R, "did = ?", did)
	if err != nil {
		return "", err
	}
	key, err := e.signingKey(acc)
	if err != nil {
		return "", err
	}
	tok, err := auth.SignServiceAuth(syntax.DID(did), aud, ttl, nsid, key.Key()) // indigo picks the JWT alg by key type
	if err != nil {
		return "", fmt.Errorf("sign service auth: %w", err)
	}
	return tok, nil
}

// AppView returns the configured AppView URL and service DID reference.
func (e *Engine) AppView() (url, did string) { return e.cfg.AppViewURL, e.cfg.AppViewDID }

// ResolveService finds the endpoint of a service reference "did#id": the
// configured AppView directly, other DIDs through their DID document.
func (e *Engine) ResolveService(ctx context.Context, ref string) (string, error) {
	did, id, ok := strings.Cut(ref, "#")
	if !ok || id == "" {
		return "", apierr.Invalid("atproto-proxy must be a service DID and #id, got %q", ref)
	}
	if ref == e.cfg.AppViewDID && e.cfg.AppViewURL != "" {
		return strings.TrimRight(e.cfg.AppViewURL, "/"), nil
	}
	d, err := syntax.ParseDID(did)
	if err != nil {
		return "", apierr.Invalid("atproto-proxy: %v", err)
	}
	ident, err := e.cfg.Directory.LookupDID(ctx, d)
	if err != nil {
		return "", apierr.New(http.StatusBadRequest, "InvalidRequest", "could not resolve service %s: %v", did, err)
	}
	svc, ok := ident.Services[id]
	if !ok || svc.URL == "" {
		return "", apierr.New(http.StatusBadRequest, "InvalidRequest", "%s has no service #%s", did, id)
	}
	return strings.TrimRight(svc.URL, "/"), nil
}

// GetPreferences returns the account's stored preferences (a JSON array).
func (e *Engine) GetPreferences(ctx context.Context, did string) (json.RawMessage, error) {
	var b []byte
	err := e.db.R.QueryRowContext(ctx, "SELECT prefs FROM preference WHERE did = ?", did).Scan(&b)
	if err == sql.ErrNoRows {
		return json.RawMessage("[]"), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read preferences: %w", err)
	}
	return b, nil
}

// PutPreferences replaces the account's preferences. Each must be an object
// with an app.bsky.actor.defs#… $type, as the reference PDS requires.
func (e *Engine) PutPreferences(ctx context.Context, did string, prefs json.RawMessage, privileged bool) error {
	var list []map[string]any
	if err := json.Unmarshal(prefs, &list); err != nil {
		return apierr.Invalid("preferences must be an array of objects")
	}
	for _, p := range list {
		t, _ := p["$type"].(string)
		if !strings.HasPrefix(t, "app.bsky.") {
			return apierr.Invalid("preference without an app.bsky $type: %q", t)
		}
		if t == "app.bsky.actor.defs#personalDetailsPref" && !privileged {
			return apierr.New(http.StatusBadRequest, "InvalidRequest", "personal details may only be changed with a privileged session")
		}
	}
	b, _ := json.Marshal(list)
	return e.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO preference(did, prefs) VALUES(?, ?) ON CONFLICT(did) DO UPDATE SET prefs = excluded.prefs", did, b)
		return err
	})
}
