package identity

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/errs"
)

type handleCheck struct {
	ok  bool
	at  time.Time
	did syntax.DID
}

type handleCache struct {
	mu sync.Mutex
	m  map[string]handleCheck
}

// HandleIsCorrect reports whether handle resolves back to did (cached for
// five minutes; a failed lookup counts as incorrect).
func (i *Identity) HandleIsCorrect(ctx context.Context, did syntax.DID, handle syntax.Handle) bool {
	if i.cfg.Handles == nil {
		return false
	}
	key := handle.Normalize().String()
	i.handles.mu.Lock()
	if c, ok := i.handles.m[key]; ok && c.did == did && time.Since(c.at) < 5*time.Minute {
		i.handles.mu.Unlock()
		return c.ok
	}
	i.handles.mu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	got, err := i.cfg.Handles.ResolveHandle(rctx, key)
	ok := err == nil && got == did.String()
	i.handles.mu.Lock()
	if len(i.handles.m) > 10000 {
		clear(i.handles.m)
	}
	i.handles.m[key] = handleCheck{ok: ok, at: time.Now(), did: did}
	i.handles.mu.Unlock()
	return ok
}

// ResolveHandle returns the DID of a handle: one hosted here, or else one
// resolved over DNS/HTTPS with the configured resolver.
func (i *Identity) ResolveHandle(ctx context.Context, h syntax.Handle) (syntax.DID, error) {
	did, ok, err := i.accounts.HandleDID(ctx, h)
	if err != nil {
		return "", err
	}
	if ok {
		return did, nil
	}
	if i.cfg.Handles != nil {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if s, err := i.cfg.Handles.ResolveHandle(rctx, h.Normalize().String()); err == nil && s != "" {
			if did, err := syntax.ParseDID(s); err == nil {
				return did, nil
			}
		}
	}
	return "", errs.New(errs.ErrHandleNotFound, "unable to resolve handle %s", h)
}

// ResolveHandleNetwork resolves a handle over DNS/HTTPS only (not from the
// local account table), to check that a domain handle really points here.
func (i *Identity) ResolveHandleNetwork(ctx context.Context, h syntax.Handle) (string, error) {
	if i.cfg.Handles == nil {
		return "", errors.New("no handle resolver configured")
	}
	return i.cfg.Handles.ResolveHandle(ctx, h.Normalize().String())
}

// VerifyHandle checks that handle resolves (DNS/HTTPS) to did before an
// account switches to it. The PDS's own public hostname is accepted without
// a lookup (this server answers its /.well-known/atproto-did), and so is a
// handle under one of this server's UserDomains (as the reference PDS does
// for its service handle domains). Without a resolver configured, nothing
// can be checked and it returns nil.
func (i *Identity) VerifyHandle(ctx context.Context, did syntax.DID, handle syntax.Handle) error {
	h := strings.ToLower(handle.String())
	if i.cfg.Handles == nil || h == i.Hostname() || i.UnderUserDomain(handle) {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	got, err := i.cfg.Handles.ResolveHandle(rctx, h)
	if err != nil {
		return errs.Wrap(errs.ErrInvalidHandle, err, "%s does not resolve to your DID yet (%v): add the DNS TXT record _atproto.%s = \"did=%s\" or serve %s at https://%s/.well-known/atproto-did", h, err, h, did, did, h)
	}
	if got != did.String() {
		return errs.New(errs.ErrInvalidHandle, "%s resolves to %s, not to your DID", h, got)
	}
	return nil
}
