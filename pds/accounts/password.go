package accounts

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/store"
)

// MinPasswordLength is the shortest account password accepted.
const MinPasswordLength = 8

// ChangePassword replaces did's password after checking the current one
// (under the login throttle, as a login from address from), and signs out
// every session: refresh tokens are revoked (access tokens already issued
// run out within their short lifetime). App passwords are kept.
func (a *Accounts) ChangePassword(ctx context.Context, did syntax.DID, current, next, from string) error {
	if len(next) < MinPasswordLength {
		return errs.Invalid("the new password must be at least %d characters", MinPasswordLength)
	}
	if err := a.CheckPassword(ctx, did, current, from); err != nil {
		return err
	}
	hash, err := a.HashPassword(ctx, next)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	return a.db.Write(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec("UPDATE account SET password_hash = ? WHERE did = ?", hash, did.String())
		if err != nil {
			return fmt.Errorf("update password: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.RepoNotFound(did.String())
		}
		if _, err := tx.Exec("DELETE FROM refresh_token WHERE did = ?", did.String()); err != nil {
			return fmt.Errorf("revoke sessions: %w", err)
		}
		a.invalidate(tx, did)
		return nil
	})
}

// SetEmail records did's email address ("" removes it). Hearth sends no
// mail: the address is only kept and shown (getSession reports it as not
// confirmed).
func (a *Accounts) SetEmail(ctx context.Context, did syntax.DID, raw string) error {
	email := strings.ToLower(strings.TrimSpace(raw))
	if email != "" && (!strings.Contains(email, "@") || len(email) > 320 || strings.ContainsAny(email, " \t\r\n")) {
		return errs.New(errs.ErrInvalidEmail, "invalid email %q", raw)
	}
	return a.db.Write(ctx, func(tx *store.Tx) error {
		var owner string
		if email != "" {
			err := tx.QueryRow("SELECT did FROM account WHERE email = ?", email).Scan(&owner)
			if err != nil && err != sql.ErrNoRows {
				return fmt.Errorf("check email: %w", err)
			}
			if err == nil && owner != did.String() {
				return errs.New(errs.ErrInvalidEmail, "that email is used by another account here")
			}
		}
		var v any = email
		if email == "" {
			v = nil
		}
		res, err := tx.Exec("UPDATE account SET email = ? WHERE did = ?", v, did.String())
		if err != nil {
			return fmt.Errorf("update email: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.RepoNotFound(did.String())
		}
		a.invalidate(tx, did)
		return nil
	})
}
