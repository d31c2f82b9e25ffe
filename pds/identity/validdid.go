package identity

import (
	"context"
	"fmt"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/plc"
)

// ValidDID reports whether did's identity makes this PDS the account's
// host with the account's signing key here, as checkAccountStatus's
// validDid does on the reference PDS: false while an account moving in
// still points at its old PDS (no operation of ours yet: the published
// document is read, and an unresolvable one is not valid), true once the
// operation that moves it here is submitted, and false again after Hearth
// signed the identity over to another PDS.
func (i *Identity) ValidDID(ctx context.Context, did syntax.DID) (bool, error) {
	if IsWebDID(did) {
		return true, nil // served from the account and the current public URL
	}
	movedOut, ok, err := i.db.GetSetting(ctx, movedOutKey(did))
	if err != nil {
		return false, fmt.Errorf("moved-out mark of %s: %w", did, err)
	}
	if ok && len(movedOut) > 0 {
		return false, nil
	}
	_, st, ok, err := latestOp(i.db.R.QueryRowContext(ctx, sqlLatestOp, did.String()), did)
	if err != nil {
		return false, err
	}
	if !ok {
		if st, err = i.resolvedState(ctx, did); err != nil {
			return false, nil //nolint:nilerr // an identity that does not resolve is not valid
		}
	}
	return i.pointsHere(ctx, did, st)
}

// pointsHere checks st's PDS endpoint and signing key against this PDS.
func (i *Identity) pointsHere(ctx context.Context, did syntax.DID, st *plc.State) (bool, error) {
	if st.PDS != i.PublicURL() {
		return false, nil
	}
	keys, err := i.accounts.Keys(ctx, did)
	if err != nil {
		return false, err
	}
	pub, err := keys.SigningPublic()
	if err != nil {
		return false, fmt.Errorf("signing key of %s: %w", did, err)
	}
	return st.SigningKey == pub.DIDKey(), nil
}
