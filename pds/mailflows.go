package pds

import (
	"context"
	"strings"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/accounts"
	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/outbox"
	"github.com/hearth-pds/hearth/pds/store"
)

// The flows the reference PDS runs by email, with the outbox as the mail.

// accountEmail returns did's email, refusing an account that has none.
func (e *Engine) accountEmail(ctx context.Context, did syntax.DID) (string, error) {
	acc, err := e.Accounts.Get(ctx, did)
	if err != nil {
		return "", err
	}
	if acc.Email == "" {
		return "", errs.Invalid("account does not have an email address")
	}
	return acc.Email, nil
}

// RequestEmailConfirmation writes a confirm_email token to the outbox.
func (e *Engine) RequestEmailConfirmation(ctx context.Context, did syntax.DID) error {
	email, err := e.accountEmail(ctx, did)
	if err != nil {
		return err
	}
	_, err = e.Outbox.IssueNow(ctx, did, outbox.PurposeConfirmEmail, email)
	return err
}

// ConfirmEmail confirms did's email with its confirm_email token; email
// must be the account's current address.
func (e *Engine) ConfirmEmail(ctx context.Context, did syntax.DID, email, token string) error {
	cur, err := e.accountEmail(ctx, did)
	if err != nil {
		return err
	}
	if !strings.EqualFold(strings.TrimSpace(email), cur) {
		return errs.New(errs.ErrInvalidEmail, "invalid email")
	}
	return e.db.Write(ctx, func(tx *store.Tx) error {
		if _, err := e.Outbox.Use(tx, did, outbox.PurposeConfirmEmail, token); err != nil {
			return err
		}
		return e.Accounts.MarkEmailConfirmed(tx, did, cur)
	})
}

// RequestEmailUpdate says whether changing did's email needs a token (it
// does once the address is confirmed) and, if so, writes an update_email
// token to the outbox.
func (e *Engine) RequestEmailUpdate(ctx context.Context, did syntax.DID) (tokenRequired bool, err error) {
	email, err := e.accountEmail(ctx, did)
	if err != nil {
		return false, err
	}
	confirmed, err := e.Accounts.EmailConfirmed(ctx, did)
	if err != nil || !confirmed {
		return false, err
	}
	_, err = e.Outbox.IssueNow(ctx, did, outbox.PurposeUpdateEmail, email)
	return err == nil, err
}

// UpdateEmail changes did's email; a confirmed address needs the
// update_email token. The new address is unconfirmed.
func (e *Engine) UpdateEmail(ctx context.Context, did syntax.DID, email, token string) error {
	addr, err := accounts.NormalizeEmail(email)
	if err != nil {
		return err
	}
	confirmed, err := e.Accounts.EmailConfirmed(ctx, did)
	if err != nil {
		return err
	}
	if confirmed && strings.TrimSpace(token) == "" {
		return errs.New(errs.ErrAuthRequired, "confirmation token required")
	}
	return e.db.Write(ctx, func(tx *store.Tx) error {
		if confirmed {
			if _, err := e.Outbox.Use(tx, did, outbox.PurposeUpdateEmail, token); err != nil {
				return err
			}
		}
		return e.Accounts.SetEmail(tx, did, addr)
	})
}

// RequestPasswordReset writes a reset_password token to the outbox of the
// account with email. An unknown address is not an error, so the answer
// does not tell strangers which addresses have accounts here.
func (e *Engine) RequestPasswordReset(ctx context.Context, email string) error {
	did, ok, err := e.Accounts.ByEmail(ctx, email)
	if err != nil || !ok {
		return err
	}
	_, err = e.Outbox.IssueNow(ctx, did, outbox.PurposeResetPassword, strings.TrimSpace(strings.ToLower(email)))
	return err
}

// ResetPassword sets a new password for the account a reset_password
// token was issued to, and ends its sessions. Token guesses share the
// login throttle (from is the caller's address).
func (e *Engine) ResetPassword(ctx context.Context, token, password, from string) error {
	if len(password) < 8 {
		return errs.Invalid("password must be at least 8 characters")
	}
	var did syntax.DID
	err := e.Accounts.GuessCheck(ctx, from, func() error {
		var err error
		did, err = e.Outbox.Owner(ctx, outbox.PurposeResetPassword, token)
		return err
	})
	if err != nil {
		return err
	}
	hash, err := e.Accounts.HashPassword(ctx, password)
	if err != nil {
		return err
	}
	return e.db.Write(ctx, func(tx *store.Tx) error {
		if _, err := e.Outbox.Use(tx, did, outbox.PurposeResetPassword, token); err != nil {
			return err
		}
		return e.Accounts.SetPasswordHash(tx, did, hash)
	})
}

// RequestAccountDelete writes a delete_account token to did's outbox.
func (e *Engine) RequestAccountDelete(ctx context.Context, did syntax.DID) error {
	acc, err := e.Accounts.Get(ctx, did)
	if err != nil {
		return err
	}
	_, err = e.Outbox.IssueNow(ctx, did, outbox.PurposeDeleteAccount, acc.Email)
	return err
}

// DeleteAccountWithToken is DeleteAccount that also spends did's
// delete_account token, in the deleting transaction (a wrong token deletes
// nothing and counts against the throttle).
func (e *Engine) DeleteAccountWithToken(ctx context.Context, did syntax.DID, password, token, from string) error {
	if err := e.Accounts.CheckPassword(ctx, did, password, from); err != nil {
		return err
	}
	return e.Accounts.GuessCheck(ctx, from, func() error {
		return e.deleteAccount(ctx, did, func(tx *store.Tx) error {
			_, err := e.Outbox.Use(tx, did, outbox.PurposeDeleteAccount, token)
			return err
		})
	})
}
