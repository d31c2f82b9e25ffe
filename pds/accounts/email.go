package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/store"
)

// NormalizeEmail trims and lower-cases an address and refuses one without
// an @ (the check CreateAccount makes).
func NormalizeEmail(raw string) (string, error) {
	e := strings.TrimSpace(strings.ToLower(raw))
	if e == "" || !strings.Contains(e, "@") || len(e) > 320 {
		return "", errs.New(errs.ErrInvalidEmail, "invalid email %q", raw)
	}
	return e, nil
}

// ByEmail finds the account with email (ok is false when there is none).
func (a *Accounts) ByEmail(ctx context.Context, email string) (syntax.DID, bool, error) {
	var did string
	err := a.db.R.QueryRowContext(ctx, "SELECT did FROM account WHERE email = ?", strings.TrimSpace(strings.ToLower(email))).Scan(&did)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("find account by email: %w", err)
	}
	return syntax.DID(did), true, nil
}

// SetEmail changes did's email in tx (normalized by the caller), refusing
// one another account has; the new address is unconfirmed.
func (a *Accounts) SetEmail(tx *store.Tx, did syntax.DID, email string) error {
	var owner string
	err := tx.QueryRow("SELECT did FROM account WHERE email = ?", email).Scan(&owner)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("check email: %w", err)
	}
	if err == nil && owner != did.String() {
		return errs.Invalid("This email address is already in use, please use a different one.")
	}
	if _, err := tx.Exec("UPDATE account SET email = ? WHERE did = ?", email, did.String()); err != nil {
		return fmt.Errorf("update email: %w", err)
	}
	if _, err := tx.Exec("DELETE FROM email_confirmed WHERE did = ? AND email <> ?", did.String(), email); err != nil {
		return fmt.Errorf("update email: %w", err)
	}
	a.invalidate(tx, did)
	return nil
}

// MarkEmailConfirmed records that did confirmed email (in tx).
func (a *Accounts) MarkEmailConfirmed(tx *store.Tx, did syntax.DID, email string) error {
	_, err := tx.Exec(`INSERT INTO email_confirmed(did, email, confirmed_at) VALUES(?, ?, ?)
		ON CONFLICT(did) DO UPDATE SET email = excluded.email, confirmed_at = excluded.confirmed_at`,
		did.String(), email, syntax.DatetimeNow().String())
	if err != nil {
		return fmt.Errorf("confirm email of %s: %w", did, err)
	}
	return nil
}

// EmailConfirmed reports whether did's current email address was confirmed.
func (a *Accounts) EmailConfirmed(ctx context.Context, did syntax.DID) (bool, error) {
	var n int
	err := a.db.R.QueryRowContext(ctx, `SELECT count(*) FROM email_confirmed c JOIN account a ON a.did = c.did
		WHERE c.did = ? AND a.email = c.email`, did.String()).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("email confirmation of %s: %w", did, err)
	}
	return n > 0, nil
}

// SetPasswordHash replaces did's account password (hashed with
// HashPassword) in tx and ends its sessions: every refresh token goes.
func (a *Accounts) SetPasswordHash(tx *store.Tx, did syntax.DID, hash string) error {
	if _, err := tx.Exec("UPDATE account SET password_hash = ? WHERE did = ?", hash, did.String()); err != nil {
		return fmt.Errorf("set password of %s: %w", did, err)
	}
	if _, err := tx.Exec("DELETE FROM refresh_token WHERE did = ?", did.String()); err != nil {
		return fmt.Errorf("end sessions of %s: %w", did, err)
	}
	a.invalidate(tx, did)
	return nil
}

// GuessCheck runs check, a test of a secret a stranger may be guessing
// (an emailed token), under the login throttle for the address from: a
// spent budget refuses before check runs, and a check that fails with
// ErrInvalidToken counts as a failed attempt.
func (a *Accounts) GuessCheck(ctx context.Context, from string, check func() error) error {
	if err := a.throttled(ctx, "", from); err != nil {
		return err
	}
	err := check()
	if errors.Is(err, errs.ErrInvalidToken) {
		if ferr := a.throttle.Fail(ctx, "", from); ferr != nil {
			return ferr
		}
	}
	return err
}
