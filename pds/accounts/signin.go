package accounts

import (
	"context"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/auth"
)

// SignIn checks the account password (never an app password) for an
// identifier (DID, handle or email), under the same throttle as Login, and
// issues no session: the OAuth sign-in page uses it before a grant is made.
func (a *Accounts) SignIn(ctx context.Context, identifier, password, from string) (*Account, error) {
	acc, _, err := a.checkLogin(ctx, identifier, password, from, "Invalid identifier or password (app passwords cannot be used here)",
		func(acc *row) (string, error) {
			ok, err := a.hasher.Check(ctx, acc.passwordHash, password)
			if err != nil {
				return "", hashError(err)
			}
			if !ok {
				return "", nil
			}
			return auth.ScopeAccess, nil
		})
	if err != nil {
		return nil, err
	}
	out := acc.Account
	return &out, nil
}

// OAuthCaller is the caller of a request made with an OAuth access token:
// like an app password, privileged (chat) only when the grant says so.
func OAuthCaller(did syntax.DID, privileged bool) *Caller {
	if privileged {
		return &Caller{DID: did, Scope: auth.ScopeAppPassPriv}
	}
	return &Caller{DID: did, Scope: auth.ScopeAppPass}
}
