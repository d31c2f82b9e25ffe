package identity

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/auth"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/errs"
)

// ServiceAuth signs a service-auth JWT (ES256K with the account's signing
// key) for aud (a service DID, with or without #fragment), valid for ttl
// (at most an hour), bound to lxm when given.
func (i *Identity) ServiceAuth(ctx context.Context, did syntax.DID, aud, lxm string, ttl time.Duration) (string, error) {
	if ttl <= 0 {
		ttl = 60 * time.Second
	}
	if ttl > time.Hour {
		return "", errs.New(errs.ErrBadExpiration, "expiration is too far in the future (at most one hour)")
	}
	audDID, _, _ := strings.Cut(aud, "#")
	if _, err := syntax.ParseDID(audDID); err != nil {
		return "", errs.Invalid("aud must be a DID (with an optional #service): %v", err)
	}
	var nsid *syntax.NSID
	if lxm != "" {
		n, err := syntax.ParseNSID(lxm)
		if err != nil {
			return "", errs.Invalid("lxm must be an NSID: %v", err)
		}
		nsid = &n
	}
	keys, err := i.accounts.Keys(ctx, did)
	if err != nil {
		return "", err
	}
	tok, err := auth.SignServiceAuth(did, aud, ttl, nsid, keys.Signing.Key()) // indigo picks the JWT alg by key type
	if err != nil {
		return "", fmt.Errorf("sign service auth: %w", err)
	}
	return tok, nil
}

// ResolveService finds the endpoint of a service reference "did#id": the
// configured AppView directly, other DIDs through their DID document.
func (i *Identity) ResolveService(ctx context.Context, ref string) (string, error) {
	did, id, ok := strings.Cut(ref, "#")
	if !ok || id == "" {
		return "", errs.Invalid("atproto-proxy must be a service DID and #id, got %q", ref)
	}
	if ref == i.cfg.AppViewDID && i.cfg.AppViewURL != "" {
		return strings.TrimRight(i.cfg.AppViewURL, "/"), nil
	}
	d, err := syntax.ParseDID(did)
	if err != nil {
		return "", errs.Invalid("atproto-proxy: %v", err)
	}
	ident, err := i.cfg.Directory.LookupDID(ctx, d)
	if err != nil {
		i.log.Info("could not resolve proxied service", "did", did, "err", err)
		return "", errs.Wrap(errs.ErrInvalidRequest, err, "could not resolve service %s", did)
	}
	svc, ok := ident.Services[id]
	if !ok || svc.URL == "" {
		return "", errs.Invalid("%s has no service #%s", did, id)
	}
	return strings.TrimRight(svc.URL, "/"), nil
}
