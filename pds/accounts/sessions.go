package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/auth"
	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/store"
)

// Session is a logged-in session.
type Session struct {
	AccessJwt  string
	RefreshJwt string
	Account
	AppPassword string // name, if logged in with an app password
}

// Caller is an authenticated request's identity.
type Caller struct {
	DID   syntax.DID
	Scope string
}

// Full reports whether the caller used the main password (not an app password).
func (c Caller) Full() bool { return c.Scope == auth.ScopeAccess }

// Privileged reports whether the caller may do privileged things (DMs etc.).
func (c Caller) Privileged() bool { return c.Scope != auth.ScopeAppPass }

// dummyHash makes a login for an unknown account cost as much as a real one.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"

// Login checks a password (or an app password) for a DID, handle
// ("@handle" too) or email, from a client at address from. All spellings
// of one account share its throttle budgets (auth.ThrottlePolicy); an
// identifier that names no account spends only the address's budget.
func (a *Accounts) Login(ctx context.Context, identifier, password, from string) (*Session, error) {
	var appName string
	acc, scope, err := a.checkLogin(ctx, identifier, password, from, "Invalid identifier or password",
		func(acc *row) (string, error) {
			scope, name, err := a.checkPasswords(ctx, acc, password)
			appName = name
			return scope, err
		})
	if err != nil {
		return nil, err
	}
	return a.issue(ctx, &acc.Account, scope, appName)
}

// checkLogin is the one password check behind Login and SignIn: it finds
// the account an identifier names, runs check (which returns the granted
// scope, "" when the password is wrong) under the throttle's budgets, and
// refuses accounts that are taken down. An unknown identifier costs one
// hash like a known one and spends only the address's budget; wrong is the
// message for a wrong identifier or password.
func (a *Accounts) checkLogin(ctx context.Context, identifier, password, from, wrong string, check func(*row) (string, error)) (*row, string, error) {
	if err := a.throttled(ctx, "", from); err != nil {
		return nil, "", err
	}
	acc, err := a.find(ctx, identifier)
	if err != nil {
		return nil, "", err
	}
	if acc == nil {
		if _, err := a.hasher.Check(ctx, dummyHash, password); err != nil {
			return nil, "", hashError(err)
		}
		if err := a.throttle.Fail(ctx, "", from); err != nil {
			return nil, "", err
		}
		return nil, "", errs.New(errs.ErrAuthRequired, "%s", wrong)
	}
	account := acc.DID.String()
	if err := a.throttled(ctx, account, from); err != nil {
		return nil, "", err
	}
	scope, err := check(acc)
	if err != nil {
		return nil, "", err
	}
	if scope == "" {
		if err := a.throttle.Fail(ctx, account, from); err != nil {
			return nil, "", err
		}
		return nil, "", errs.New(errs.ErrAuthRequired, "%s", wrong)
	}
	if err := a.throttle.Succeed(ctx, account, from); err != nil {
		return nil, "", err
	}
	if acc.Status != StatusActive && acc.Status != StatusDeactivated {
		return nil, "", errs.New(errs.ErrAccountTakedown, "account is %s", acc.Status)
	}
	return acc, scope, nil
}

// NewSession issues a full session for did without a password check (for
// an account that was just created with that password).
func (a *Accounts) NewSession(ctx context.Context, did syntax.DID) (*Session, error) {
	r, err := a.byDID(ctx, did)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, errs.RepoNotFound(did.String())
	}
	return a.issue(ctx, &r.Account, auth.ScopeAccess, "")
}

// throttled refuses an attempt whose throttle budget is spent.
func (a *Accounts) throttled(ctx context.Context, account, from string) error {
	wait, err := a.throttle.Wait(ctx, account, from)
	if err != nil {
		return err
	}
	if wait > 0 {
		wait = max(wait.Round(time.Second), time.Second)
		return errs.RateLimited(wait, "Too many failed logins; try again in %s", wait)
	}
	return nil
}

// hashError turns a refusal of the hashing limit into a caller's error.
func hashError(err error) error {
	if errors.Is(err, auth.ErrHasherBusy) {
		return errs.RateLimited(time.Second, "The server is busy checking passwords; try again shortly")
	}
	return err
}

// checkPasswords returns the scope (and app password name) password grants
// on acc, or "" when it is wrong. An app password is found by its lookup
// hash, so it costs no argon2 run; the account password costs one. Only
// app passwords stored before lookup hashes existed still need an argon2
// run each, and only for passwords shaped like an app password.
func (a *Accounts) checkPasswords(ctx context.Context, acc *row, password string) (scope, appName string, err error) {
	shaped := auth.AppPasswordShaped(password)
	if shaped {
		if appName, scope, err = a.findAppPassword(ctx, acc.DID, password); err != nil || scope != "" {
			return scope, appName, err
		}
	}
	ok, err := a.hasher.Check(ctx, acc.passwordHash, password)
	if err != nil {
		return "", "", hashError(err)
	}
	if ok {
		return auth.ScopeAccess, "", nil
	}
	if shaped {
		return a.checkLegacyAppPasswords(ctx, acc.DID, password)
	}
	return "", "", nil
}

func (a *Accounts) issue(ctx context.Context, acc *Account, scope, appName string) (*Session, error) {
	access, err := a.tokens.Access(acc.DID.String(), scope)
	if err != nil {
		return nil, err
	}
	id := auth.NewID()
	refresh, exp, err := a.tokens.Refresh(acc.DID.String(), id)
	if err != nil {
		return nil, err
	}
	var app any
	if appName != "" {
		app = appName
	}
	err = a.db.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec("INSERT INTO refresh_token(id, did, app_password, expires_at) VALUES(?, ?, ?, ?)", id, acc.DID.String(), app, exp.Unix())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store refresh token: %w", err)
	}
	return &Session{AccessJwt: access, RefreshJwt: refresh, Account: *acc, AppPassword: appName}, nil
}

func tokenError(err error) error {
	switch {
	case errors.Is(err, auth.ErrExpired):
		return errs.Wrap(errs.ErrExpiredToken, err, "Token has expired")
	case errors.Is(err, auth.ErrWrongType):
		return errs.Wrap(errs.ErrInvalidToken, err, "Invalid token type")
	default:
		return errs.Wrap(errs.ErrInvalidToken, err, "Token could not be verified")
	}
}

// Authenticate verifies an access token.
func (a *Accounts) Authenticate(ctx context.Context, token string) (*Caller, error) {
	c, err := a.tokens.ParseAccess(token)
	if err != nil {
		return nil, tokenError(err)
	}
	did, err := syntax.ParseDID(c.DID)
	if err != nil {
		return nil, errs.Wrap(errs.ErrInvalidToken, err, "Token could not be verified")
	}
	acc, err := a.byDID(ctx, did)
	if err != nil {
		return nil, err
	}
	if acc == nil {
		return nil, errs.New(errs.ErrAuthRequired, "account no longer exists")
	}
	if acc.Status != StatusActive && acc.Status != StatusDeactivated {
		return nil, errs.New(errs.ErrAccountTakedown, "account is %s", acc.Status)
	}
	return &Caller{DID: did, Scope: c.Scope}, nil
}

func revoked() error { return errs.New(errs.ErrExpiredToken, "Token has been revoked") }

// RefreshSession rotates a refresh token. A token that was already rotated
// still works within the grace period (returning the same successor), and
// is refused after it.
func (a *Accounts) RefreshSession(ctx context.Context, token string) (*Session, error) {
	c, err := a.tokens.ParseRefresh(token)
	if err != nil {
		return nil, tokenError(err)
	}
	var sess *Session
	err = a.db.Write(ctx, func(tx *store.Tx) error {
		var didStr string
		var app, next sql.NullString
		var rotated sql.NullInt64
		var expires int64
		err := tx.QueryRow("SELECT did, app_password, next_id, rotated_at, expires_at FROM refresh_token WHERE id = ?", c.ID).Scan(&didStr, &app, &next, &rotated, &expires)
		if err == sql.ErrNoRows {
			return revoked()
		}
		if err != nil {
			return fmt.Errorf("read refresh token: %w", err)
		}
		now := time.Now()
		nextID := auth.NewID()
		if next.Valid {
			if now.Sub(time.UnixMilli(rotated.Int64)) > a.cfg.RefreshGrace {
				return revoked()
			}
			nextID = next.String
		}
		did := syntax.DID(didStr)
		acc, err := a.byDID(ctx, did)
		if err != nil {
			return err
		}
		if acc == nil {
			return revoked()
		}
		scope := auth.ScopeAccess
		if app.Valid {
			var priv bool
			if err := tx.QueryRow("SELECT privileged FROM app_password WHERE did = ? AND name = ?", didStr, app.String).Scan(&priv); err != nil {
				return revoked()
			}
			scope = auth.ScopeAppPass
			if priv {
				scope = auth.ScopeAppPassPriv
			}
		}
		access, err := a.tokens.Access(didStr, scope)
		if err != nil {
			return err
		}
		refresh, exp, err := a.tokens.Refresh(didStr, nextID)
		if err != nil {
			return err
		}
		if !next.Valid {
			if _, err := tx.Exec("INSERT INTO refresh_token(id, did, app_password, expires_at) VALUES(?, ?, ?, ?)", nextID, didStr, app, exp.Unix()); err != nil {
				return fmt.Errorf("store refresh token: %w", err)
			}
			if _, err := tx.Exec("UPDATE refresh_token SET next_id = ?, rotated_at = ? WHERE id = ?", nextID, now.UnixMilli(), c.ID); err != nil {
				return fmt.Errorf("rotate refresh token: %w", err)
			}
		}
		sess = &Session{AccessJwt: access, RefreshJwt: refresh, Account: acc.Account, AppPassword: app.String}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sess, nil
}

// Logout revokes a refresh token (and its successors).
func (a *Accounts) Logout(ctx context.Context, token string) error {
	c, err := a.tokens.ParseRefresh(token)
	if err != nil {
		return tokenError(err)
	}
	return a.db.Write(ctx, func(tx *store.Tx) error {
		id := c.ID
		for id != "" {
			var next sql.NullString
			if err := tx.QueryRow("SELECT next_id FROM refresh_token WHERE id = ?", id).Scan(&next); err != nil && err != sql.ErrNoRows {
				return fmt.Errorf("read session: %w", err)
			}
			if _, err := tx.Exec("DELETE FROM refresh_token WHERE id = ?", id); err != nil {
				return fmt.Errorf("revoke session: %w", err)
			}
			id = next.String
		}
		return nil
	})
}

// PruneTokens deletes expired refresh tokens and rotated ones past their
// grace period.
func (a *Accounts) PruneTokens(ctx context.Context) error {
	now := time.Now()
	return a.db.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec("DELETE FROM refresh_token WHERE expires_at < ? OR (rotated_at IS NOT NULL AND rotated_at < ?)",
			now.Unix(), now.Add(-a.cfg.RefreshGrace).UnixMilli())
		if err != nil {
			return fmt.Errorf("prune sessions: %w", err)
		}
		return nil
	})
}
