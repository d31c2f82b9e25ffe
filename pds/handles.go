package pds

import (
	"context"
	"errors"
	"net/http"

	"github.com/bluesky-social/indigo/atproto/identity"

	"github.com/hearth-pds/hearth/pds/apierr"
	"strings"
	"sync"
	"time"
)

// HandleResolver resolves a handle to a DID through DNS or HTTPS.
type HandleResolver interface {
	ResolveHandle(ctx context.Context, handle string) (string, error)
}

type handleCheck struct {
	ok  bool
	at  time.Time
	did string
}

type handleCache struct {
	mu sync.Mutex
	m  map[string]handleCheck
}

// HandleIsCorrect reports whether handle resolves back to did (cached for
// five minutes; a failed lookup counts as incorrect).
func (e *Engine) HandleIsCorrect(ctx context.Context, did, handle string) bool {
	if e.cfg.HandleResolver == nil {
		return false
	}
	key := strings.ToLower(handle)
	e.handles.mu.Lock()
	if c, ok := e.handles.m[key]; ok && c.did == did && time.Since(c.at) < 5*time.Minute {
		e.handles.mu.Unlock()
		return c.ok
	}
	e.handles.mu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	got, err := e.cfg.HandleResolver.ResolveHandle(rctx, key)
	ok := err == nil && got == did
	e.handles.mu.Lock()
	e.handles.m[key] = handleCheck{ok: ok, at: time.Now(), did: did}
	e.handles.mu.Unlock()
	return ok
}

// ResolveHandleNetwork resolves a handle over DNS/HTTPS only (not from the
// local account table), to check that a domain handle really points here.
func (e *Engine) ResolveHandleNetwork(ctx context.Context, handle string) (string, error) {
	if e.cfg.HandleResolver == nil {
		return "", errors.New("no handle resolver configured")
	}
	return e.cfg.HandleResolver.ResolveHandle(ctx, strings.ToLower(handle))
}

// Directory is the engine's DID resolver.
func (e *Engine) Directory() identity.Directory { return e.cfg.Directory }

// VerifyHandle checks that handle resolves (DNS/HTTPS) to did before an
// account switches to it. The PDS's own public hostname is accepted without
// a lookup (this server answers its /.well-known/atproto-did). Without a
// resolver configured, nothing can be checked and it returns nil.
func (e *Engine) VerifyHandle(ctx context.Context, did, handle string) error {
	h := strings.ToLower(strings.TrimSpace(handle))
	if e.cfg.HandleResolver == nil || h == e.Hostname() {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	got, err := e.cfg.HandleResolver.ResolveHandle(rctx, h)
	if err != nil {
		return apierr.New(http.StatusBadRequest, "InvalidHandle", "%s does not resolve to your DID yet (%v): add the DNS TXT record _atproto.%s = \"did=%s\" or serve %s at https://%s/.well-known/atproto-did", h, err, h, did, did, h)
	}
	if got != did {
		return apierr.New(http.StatusBadRequest, "InvalidHandle", "%s resolves to %s, not to your DID", h, got)
	}
	return nil
}
