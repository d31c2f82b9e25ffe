package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
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

// Login checks a password (or an app password) for a DID, handle or email.
func (a *Accounts) Login(ctx context.Context, identifier, password string) (*Session, error) {
	key := strings.ToLower(strings.TrimSpace(identifier))
	if ok, wait := a.throttle.Allowed(key); !ok {
		return nil, errs.New(errs.ErrRateLimited, "too many failed logins; try again in %s", wait.Round(time.Second))
	}
	acc, err := a.find(ctx, identifier)
	if err != nil {
		return nil, err
	}
	if acc == nil {
		auth.CheckPassword(dummyHash, password)
		a.throttle.Fail(key)
		return nil, errs.New(errs.ErrAuthRequired, "Invalid identifier or password")
	}
	scope, appName := "", ""
	if auth.CheckPassword(acc.passwordHash, password) {
		scope = auth.ScopeAccess
	} else if appName, scope, err = a.checkAppPassword(ctx, acc.DID, password); err != nil {
		return nil, err
	}
	if scope == "" {
		a.throttle.Fail(key)
		return nil, errs.New(errs.ErrAuthRequired, "Invalid identifier or password")
	}
	a.throttle.Succeed(key)
	if acc.Status != StatusActive && acc.Status != StatusDeactivated {
		return nil, errs.New(errs.ErrAccountTakedown, "account is %s", acc.Status)
	}
	return a.issue(ctx, &acc.Account, scope, appName)
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
