package accounts

import (
	"context"
	"fmt"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/store"
)

// MinPasswordLength is the shortest account password accepted.
const MinPasswordLength = 8

// ChangePassword replaces did's password after checking the current one
// (under the login throttle, as a login from address from), and signs out
// every session (SetPasswordHash: refresh tokens are revoked; access
// tokens already issued run out within their short lifetime). App
// passwords are kept.
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
	return a.db.Write(ctx, func(tx *store.Tx) error { return a.SetPasswordHash(tx, did, hash) })
}
