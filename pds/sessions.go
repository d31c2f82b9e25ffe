package pds

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hearth-pds/hearth/pds/apierr"
	"github.com/hearth-pds/hearth/pds/auth"
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
	DID   string
	Scope string
}

// Full reports whether the caller used the main password (not an app password).
func (c Caller) Full() bool { return c.Scope == auth.ScopeAccess }

// Privileged reports whether the caller may do privileged things (DMs etc.).
func (c Caller) Privileged() bool { return c.Scope != auth.ScopeAppPass }

func authErr(status int, name, format string, args ...any) error {
	return apierr.New(status, name, format, args...)
}

// Login checks a password (or an app password) for a DID, handle or email.
func (e *Engine) Login(ctx context.Context, identifier, password string) (*Session, error) {
	key := strings.ToLower(strings.TrimSpace(identifier))
	if ok, wait := e.throttle.Allowed(key); !ok {
		return nil, apierr.New(http.StatusTooManyRequests, "RateLimitExceeded", "too many failed logins; try again in %s", wait.Round(time.Second))
	}
	acc, err := e.findAccount(ctx, identifier)
	if err != nil && err != errNoAccount {
		return nil, err
	}
	if acc == nil {
		auth.CheckPassword("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", password) // same cost as a real check
		e.throttle.Fail(key)
		return nil, authErr(http.StatusUnauthorized, "AuthenticationRequired", "Invalid identifier or password")
	}
	scope, appName := "", ""
	if auth.CheckPassword(acc.passwordHash, password) {
		scope = auth.ScopeAccess
	} else {
		rows, err := e.db.R.QueryContext(ctx, "SELECT name, password_hash, privileged FROM app_password WHERE did = ?", acc.DID)
		if err != nil {
			return nil, fmt.Errorf("read app passwords: %w", err)
		}
		for rows.Next() {
			var name, hash string
			var priv bool
			rows.Scan(&name, &hash, &priv)
			if auth.CheckPassword(hash, password) {
				appName = name
				scope = auth.ScopeAppPass
				if priv {
					scope = auth.ScopeAppPassPriv
				}
				break
			}
		}
		rows.Close()
	}
	if scope == "" {
		e.throttle.Fail(key)
		return nil, authErr(http.StatusUnauthorized, "AuthenticationRequired", "Invalid identifier or password")
	}
	e.throttle.Succeed(key)
	if acc.Status != StatusActive && acc.Status != StatusDeactivated {
		return nil, authErr(http.StatusUnauthorized, "AccountTakedown", "account is %s", acc.Status)
	}
	return e.issue(ctx, acc, scope, appName)
}

func (e *Engine) issue(ctx context.Context, acc *accountRow, scope, appName string) (*Session, error) {
	access, err := e.tokens.Access(acc.DID, scope)
	if err != nil {
		return nil, err
	}
	id := auth.NewID()
	refresh, exp, err := e.tokens.Refresh(acc.DID, id)
	if err != nil {
		return nil, err
	}
	var app any
	if appName != "" {
		app = appName
	}
	err = e.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO refresh_token(id, did, app_password, expires_at) VALUES(?, ?, ?, ?)", id, acc.DID, app, exp.Unix())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store refresh token: %w", err)
	}
	return &Session{AccessJwt: access, RefreshJwt: refresh, Account: acc.Account, AppPassword: appName}, nil
}

func tokenError(err error) error {
	switch {
	case errors.Is(err, auth.ErrExpired):
		return authErr(http.StatusBadRequest, "ExpiredToken", "Token has expired")
	case errors.Is(err, auth.ErrWrongType):
		return authErr(http.StatusBadRequest, "InvalidToken", "Invalid token type")
	default:
		return authErr(http.StatusBadRequest, "InvalidToken", "Token could not be verified")
	}
}

// Authenticate verifies an access token.
func (e *Engine) Authenticate(ctx context.Context, token string) (*Caller, error) {
	c, err := e.tokens.ParseAccess(token)
	if err != nil {
		return nil, tokenError(err)
	}
	acc, err := e.lookup(ctx, e.db.R, "did = ?", c.DID)
	if err == errNoAccount {
		return nil, authErr(http.StatusUnauthorized, "AuthenticationRequired", "account no longer exists")
	}
	if err != nil {
		return nil, err
	}
	if acc.Status != StatusActive && acc.Status != StatusDeactivated {
		return nil, authErr(http.StatusUnauthorized, "AccountTakedown", "account is %s", acc.Status)
	}
	return &Caller{DID: c.DID, Scope: c.Scope}, nil
}

// RefreshSession rotates a refresh token. A token that was already rotated
// still works within the grace period (returning the same successor), and
// is refused after it.
func (e *Engine) RefreshSession(ctx context.Context, token string) (*Session, error) {
	c, err := e.tokens.ParseRefresh(token)
	if err != nil {
		return nil, tokenError(err)
	}
	var sess *Session
	err = e.db.Write(ctx, func(tx *sql.Tx) error {
		var did string
		var app, next sql.NullString
		var rotated sql.NullInt64
		var expires int64
		err := tx.QueryRowContext(ctx, "SELECT did, app_password, next_id, rotated_at, expires_at FROM refresh_token WHERE id = ?", c.ID).Scan(&did, &app, &next, &rotated, &expires)
		if err == sql.ErrNoRows {
			return authErr(http.StatusBadRequest, "ExpiredToken", "Token has been revoked")
		}
		if err != nil {
			return fmt.Errorf("read refresh token: %w", err)
		}
		now := time.Now()
		nextID := auth.NewID()
		if next.Valid {
			if now.Sub(time.UnixMilli(rotated.Int64)) > e.cfg.RefreshGrace {
				return authErr(http.StatusBadRequest, "ExpiredToken", "Token has been revoked")
			}
			nextID = next.String
		}
		acc, err := e.lookup(ctx, e.db.R, "did = ?", did)
		if err != nil {
			return err
		}
		scope := auth.ScopeAccess
		if app.Valid {
			var priv bool
			if err := tx.QueryRowContext(ctx, "SELECT privileged FROM app_password WHERE did = ? AND name = ?", did, app.String).Scan(&priv); err != nil {
				return authErr(http.StatusBadRequest, "ExpiredToken", "Token has been revoked")
			}
			scope = auth.ScopeAppPass
			if priv {
				scope = auth.ScopeAppPassPriv
			}
		}
		access, err := e.tokens.Access(did, scope)
		if err != nil {
			return err
		}
		refresh, exp, err := e.tokens.Refresh(did, nextID)
		if err != nil {
			return err
		}
		if !next.Valid {
			if _, err := tx.ExecContext(ctx, "INSERT INTO refresh_token(id, did, app_password, expires_at) VALUES(?, ?, ?, ?)", nextID, did, app, exp.Unix()); err != nil {
				return fmt.Errorf("store refresh token: %w", err)
			}
			if _, err := tx.ExecContext(ctx, "UPDATE refresh_token SET next_id = ?, rotated_at = ? WHERE id = ?", nextID, now.UnixMilli(), c.ID); err != nil {
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
func (e *Engine) Logout(ctx context.Context, token string) error {
	c, err := e.tokens.ParseRefresh(token)
	if err != nil {
		return tokenError(err)
	}
	return e.db.Write(ctx, func(tx *sql.Tx) error {
		id := c.ID
		for id != "" {
			var next sql.NullString
			tx.QueryRowContext(ctx, "SELECT next_id FROM refresh_token WHERE id = ?", id).Scan(&next)
			if _, err := tx.ExecContext(ctx, "DELETE FROM refresh_token WHERE id = ?", id); err != nil {
				return fmt.Errorf("revoke session: %w", err)
			}
			id = next.String
		}
		return nil
	})
}

func (e *Engine) pruneTokens(ctx context.Context) {
	now := time.Now()
	e.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM refresh_token WHERE expires_at < ? OR (rotated_at IS NOT NULL AND rotated_at < ?)",
			now.Unix(), now.Add(-e.cfg.RefreshGrace).UnixMilli())
		return err
	})
}

// AppPassword describes an app password (never its secret).
type AppPassword struct {
	Name       string
	CreatedAt  string
	Privileged bool
}

// CreateAppPassword creates an app password and returns its secret once.
func (e *Engine) CreateAppPassword(ctx context.Context, did, name string, privileged bool) (string, *AppPassword, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return "", nil, apierr.Invalid("app password name must be 1 to 100 characters")
	}
	raw := strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(auth.NewID()))
	for len(raw) < 16 {
		raw += strings.ToLower(auth.NewID())
	}
	secret := raw[0:4] + "-" + raw[4:8] + "-" + raw[8:12] + "-" + raw[12:16]
	hash, err := auth.HashPassword(secret)
	if err != nil {
		return "", nil, err
	}
	ap := &AppPassword{Name: name, CreatedAt: nowString(), Privileged: privileged}
	err = e.db.Write(ctx, func(tx *sql.Tx) error {
		var n int
		tx.QueryRowContext(ctx, "SELECT count(*) FROM app_password WHERE did = ? AND name = ?", did, name).Scan(&n)
		if n > 0 {
			return apierr.Invalid("an app password named %q already exists", name)
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO app_password(did, name, password_hash, privileged, created_at) VALUES(?, ?, ?, ?, ?)", did, name, hash, privileged, ap.CreatedAt)
		return err
	})
	if err != nil {
		return "", nil, err
	}
	return secret, ap, nil
}

// ListAppPasswords lists an account's app passwords.
func (e *Engine) ListAppPasswords(ctx context.Context, did string) ([]AppPassword, error) {
	rows, err := e.db.R.QueryContext(ctx, "SELECT name, created_at, privileged FROM app_password WHERE did = ? ORDER BY created_at", did)
	if err != nil {
		return nil, fmt.Errorf("list app passwords: %w", err)
	}
	defer rows.Close()
	out := []AppPassword{}
	for rows.Next() {
		var a AppPassword
		rows.Scan(&a.Name, &a.CreatedAt, &a.Privileged)
		out = append(out, a)
	}
	return out, rows.Err()
}

// RevokeAppPassword deletes an app password and every session made with it.
func (e *Engine) RevokeAppPassword(ctx context.Context, did, name string) error {
	return e.db.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM app_password WHERE did = ? AND name = ?", did, name); err != nil {
			return fmt.Errorf("revoke app password: %w", err)
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM refresh_token WHERE did = ? AND app_password = ?", did, name)
		return err
	})
}
