package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bluesky-social/indigo/atproto/auth"
	"github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/golang-jwt/jwt/v5"

	"github.com/hearth-pds/hearth/pds/accounts"
	"github.com/hearth-pds/hearth/pds/errs"
)

// ServiceDIDs are the audiences this server answers to in service-auth
// tokens: did:web of the public hostname (what the reference PDS and the
// Bluesky app use) and, when the public URL has a port, the did:web that
// includes it (did:web:localhost%3A2583).
func (i *Identity) ServiceDIDs() []string {
	i.urlMu.RLock()
	host, port := i.publicURL.Hostname(), i.publicURL.Port()
	i.urlMu.RUnlock()
	out := []string{"did:web:" + host}
	if port != "" {
		out = append(out, "did:web:"+host+"%3A"+port)
	}
	return out
}

// VerifyServiceAuth checks a service-auth JWT that a service presents to
// this PDS on behalf of one of its accounts (the video service calling
// uploadBlob with the token the Bluesky app got from getServiceAuth):
// signed by the account's current signing key, which this server holds, so
// nothing is resolved outside; addressed to this server (ServiceDIDs);
// bound to method lxm; not expired. It returns the account's DID.
func (i *Identity) VerifyServiceAuth(ctx context.Context, token string, lxm syntax.NSID) (syntax.DID, error) {
	var lastErr error
	for _, aud := range i.ServiceDIDs() {
		v := &auth.ServiceAuthValidator{Audience: aud, Dir: localKeys{i}}
		did, err := v.Validate(ctx, token, &lxm)
		if err == nil {
			acc, gerr := i.accounts.Get(ctx, did)
			if gerr != nil {
				return "", errs.Wrap(errs.ErrAuthRequired, gerr, "the token's issuer has no account here")
			}
			if acc.Status != accounts.StatusActive && acc.Status != accounts.StatusDeactivated {
				return "", errs.New(errs.ErrAccountTakedown, "account is %s", acc.Status)
			}
			return did, nil
		}
		lastErr = err
		if !errors.Is(err, jwt.ErrTokenInvalidAudience) {
			break
		}
	}
	return "", errs.Wrap(errs.ErrInvalidToken, lastErr, "service auth token refused: %s", serviceAuthReason(lastErr))
}

// serviceAuthReason names what was wrong with a token, without internals.
func serviceAuthReason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "not addressed to this server"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "issuer is not an account here"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad signature"
	case errors.Is(err, jwt.ErrTokenInvalidClaims) && strings.Contains(err.Error(), "LXM"):
		return "bound to another method"
	}
	return "malformed"
}

// localKeys is an identity.Directory over the accounts hosted here: a
// DID's current signing key, as this server holds it.
type localKeys struct{ i *Identity }

func (l localKeys) LookupDID(ctx context.Context, did syntax.DID) (*identity.Identity, error) {
	keys, err := l.i.accounts.Keys(ctx, did)
	if err != nil {
		return nil, fmt.Errorf("no account %s here: %w", did, err)
	}
	pub, err := keys.SigningPublic()
	if err != nil {
		return nil, fmt.Errorf("signing key of %s: %w", did, err)
	}
	return &identity.Identity{DID: did, Keys: map[string]identity.VerificationMethod{
		"atproto": {Type: "Multikey", PublicKeyMultibase: pub.Multibase()},
	}}, nil
}

func (l localKeys) LookupHandle(context.Context, syntax.Handle) (*identity.Identity, error) {
	return nil, errors.New("handles are not looked up for service auth")
}

func (l localKeys) Lookup(ctx context.Context, atid syntax.AtIdentifier) (*identity.Identity, error) {
	did, err := atid.AsDID()
	if err != nil {
		return nil, errors.New("handles are not looked up for service auth")
	}
	return l.LookupDID(ctx, did)
}

func (l localKeys) Purge(context.Context, syntax.AtIdentifier) error { return nil }
