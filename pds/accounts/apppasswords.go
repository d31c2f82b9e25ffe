package accounts

import (
	"context"
	"database/sql"
	"errors"
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

func appScope(priv bool) string {
	if priv {
		return auth.ScopeAppPassPriv
	}
	return auth.ScopeAppPass
}

// findAppPassword finds the app password of did that is password by its
// lookup hash (no slow hash); name and scope are "" when none is.
func (a *Accounts) findAppPassword(ctx context.Context, did syntax.DID, password string) (name, scope string, err error) {
	var priv bool
	err = a.db.R.QueryRowContext(ctx, "SELECT name, privileged FROM app_password WHERE did = ? AND lookup_hash = ?",
		did.String(), auth.LookupHash(a.appKey, password)).Scan(&name, &priv)
	if err == sql.ErrNoRows {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("find app password: %w", err)
	}
	return name, appScope(priv), nil
}

// checkLegacyAppPasswords checks password against did's app passwords that
// were stored before lookup hashes (one argon2 run each) and gives the one
// that matches its lookup hash, so it is found by it from then on.
func (a *Accounts) checkLegacyAppPasswords(ctx context.Context, did syntax.DID, password string) (name, scope string, err error) {
	type legacy struct {
		name, hash string
		priv       bool
	}
	var rows []legacy
	q, err := a.db.R.QueryContext(ctx, "SELECT name, password_hash, privileged FROM app_password WHERE did = ? AND lookup_hash IS NULL", did.String())
	if err != nil {
		return "", "", fmt.Errorf("read app passwords: %w", err)
	}
	for q.Next() {
		var l legacy
		if err := q.Scan(&l.name, &l.hash, &l.priv); err != nil {
			_ = q.Close()
			return "", "", fmt.Errorf("read app passwords: %w", err)
		}
		rows = append(rows, l)
	}
	if err := errors.Join(q.Err(), q.Close()); err != nil {
		return "", "", fmt.Errorf("read app passwords: %w", err)
	}
	for _, l := range rows {
		ok, err := a.hasher.Check(ctx, l.hash, password)
		if err != nil {
			return "", "", hashError(err)
		}
		if !ok {
			continue
		}
		err = a.db.Write(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec("UPDATE app_password SET lookup_hash = ? WHERE did = ? AND name = ?", auth.LookupHash(a.appKey, password), did.String(), l.name)
			return err
		})
		if err != nil {
			return "", "", fmt.Errorf("store app password lookup hash: %w", err)
		}
		return l.name, appScope(l.priv), nil
	}
	return "", "", nil
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
	// The secret is server-made and high-entropy: a keyed fast hash is
	// enough to store it, and finds its row with one index lookup.
	lookup := auth.LookupHash(a.appKey, secret)
	ap := &AppPassword{Name: name, CreatedAt: syntax.DatetimeNow().String(), Privileged: privileged}
	err := a.db.Write(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRow("SELECT count(*) FROM app_password WHERE did = ? AND name = ?", did.String(), name).Scan(&n); err != nil {
			return fmt.Errorf("check app password name: %w", err)
		}
		if n > 0 {
			return errs.Invalid("an app password named %q already exists", name)
		}
		if _, err := tx.Exec("INSERT INTO app_password(did, name, password_hash, lookup_hash, privileged, created_at) VALUES(?, ?, '', ?, ?, ?)", did.String(), name, lookup, privileged, ap.CreatedAt); err != nil {
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
