package accounts

import (
	"context"
	"fmt"
	"strings"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/auth"
	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/store"
)

// AppPassword describes an app password (never its secret).
type AppPassword struct {
	Name       string
	CreatedAt  string
	Privileged bool
}

// checkAppPassword returns the name and scope of the app password of did
// that matches password ("" when none does).
func (a *Accounts) checkAppPassword(ctx context.Context, did syntax.DID, password string) (name, scope string, err error) {
	rows, err := a.db.R.QueryContext(ctx, "SELECT name, password_hash, privileged FROM app_password WHERE did = ?", did.String())
	if err != nil {
		return "", "", fmt.Errorf("read app passwords: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var hash string
		var priv bool
		if err := rows.Scan(&name, &hash, &priv); err != nil {
			return "", "", fmt.Errorf("read app passwords: %w", err)
		}
		if auth.CheckPassword(hash, password) {
			if priv {
				return name, auth.ScopeAppPassPriv, nil
			}
			return name, auth.ScopeAppPass, nil
		}
	}
	return "", "", rows.Err()
}

// CreateAppPassword creates an app password and returns its secret once.
func (a *Accounts) CreateAppPassword(ctx context.Context, did syntax.DID, name string, privileged bool) (string, *AppPassword, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return "", nil, errs.Invalid("app password name must be 1 to 100 characters")
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
	ap := &AppPassword{Name: name, CreatedAt: syntax.DatetimeNow().String(), Privileged: privileged}
	err = a.db.Write(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRow("SELECT count(*) FROM app_password WHERE did = ? AND name = ?", did.String(), name).Scan(&n); err != nil {
			return fmt.Errorf("check app password name: %w", err)
		}
		if n > 0 {
			return errs.Invalid("an app password named %q already exists", name)
		}
		if _, err := tx.Exec("INSERT INTO app_password(did, name, password_hash, privileged, created_at) VALUES(?, ?, ?, ?, ?)", did.String(), name, hash, privileged, ap.CreatedAt); err != nil {
			return fmt.Errorf("store app password: %w", err)
		}
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	return secret, ap, nil
}

// ListAppPasswords lists an account's app passwords.
func (a *Accounts) ListAppPasswords(ctx context.Context, did syntax.DID) ([]AppPassword, error) {
	rows, err := a.db.R.QueryContext(ctx, "SELECT name, created_at, privileged FROM app_password WHERE did = ? ORDER BY created_at", did.String())
	if err != nil {
		return nil, fmt.Errorf("list app passwords: %w", err)
	}
	defer rows.Close()
	out := []AppPassword{}
	for rows.Next() {
		var ap AppPassword
		if err := rows.Scan(&ap.Name, &ap.CreatedAt, &ap.Privileged); err != nil {
			return nil, fmt.Errorf("list app passwords: %w", err)
		}
		out = append(out, ap)
	}
	return out, rows.Err()
}

// RevokeAppPassword deletes an app password and every session made with it.
func (a *Accounts) RevokeAppPassword(ctx context.Context, did syntax.DID, name string) error {
	return a.db.Write(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec("DELETE FROM app_password WHERE did = ? AND name = ?", did.String(), name); err != nil {
			return fmt.Errorf("revoke app password: %w", err)
		}
		if _, err := tx.Exec("DELETE FROM refresh_token WHERE did = ? AND app_password = ?", did.String(), name); err != nil {
			return fmt.Errorf("revoke app password sessions: %w", err)
		}
		return nil
	})
}
