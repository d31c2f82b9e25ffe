package accounts

import (
	"context"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/auth"
	"github.com/hearth-pds/hearth/pds/errs"
)

// SignIn checks the account password (never an app password) for an
// identifier (DID, handle or email), under the same throttle as Login, and
// issues no session: the OAuth sign-in page uses it before a grant is made.
func (a *Accounts) SignIn(ctx context.Context, identifier, password, from string) (*Account, error) {
	if err := a.throttled(ctx, "", from); err != nil {
		return nil, err
	}
	acc, err := a.find(ctx, identifier)
	if err != nil {
		return nil, err
	}
	if acc == nil {
		if _, err := a.hasher.Check(ctx, dummyHash, password); err != nil {
			return nil, hashError(err)
		}
		if err := a.throttle.Fail(ctx, "", from); err != nil {
			return nil, err
		}
		return nil, errs.New(errs.ErrAuthRequired, "Invalid identifier or password")
	}
	account := acc.DID.String()
	if err := a.throttled(ctx, account, from); err != nil {
		return nil, err
	}
	ok, err := a.hasher.Check(ctx, acc.passwordHash, password)
	if err != nil {
		return nil, hashError(err)
	}
	if !ok {
		if err := a.throttle.Fail(ctx, account, from); err != nil {
			return nil, err
		}
		return nil, errs.New(errs.ErrAuthRequired, "Invalid identifier or password (app passwords cannot be used here)")
	}
	if err := a.throttle.Succeed(ctx, account, from); err != nil {
		return nil, err
	}
	if acc.Status != StatusActive && acc.Status != StatusDeactivated {
		return nil, errs.New(errs.ErrAccountTakedown, "account is %s", acc.Status)
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
