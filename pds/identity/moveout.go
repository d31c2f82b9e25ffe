package identity

import (
	"context"
	"errors"
	"fmt"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/plc"
	"github.com/hearth-pds/hearth/pds/store"
)

// movedOutKey marks an account whose DID document Hearth signed over to
// another PDS (signPlcOperation): from then on Hearth never repoints that
// document at itself (MoveTo skips it) until the account is activated here
// again. The value is the CID of the operation signed.
func movedOutKey(did syntax.DID) string { return "moved_out:" + did.String() }

// SignedOp is an operation signed for the owner (signPlcOperation).
type SignedOp struct {
	Operation []byte
	CID       string
	// MovesAway is true when the operation points the account at another
	// PDS (or changes its signing key): the account is on its way out.
	MovesAway bool
}

// SignOperation signs, with Hearth's rotation key for did, an update of
// did's PLC identity with f applied on top of the directory's latest
// operation (the log everyone reads, which also covers accounts whose
// earlier operations another PDS signed). Fields f leaves unset are kept,
// so rotation keys the user holds survive unless f names the list. It
// publishes Hearth's pending operations first and refuses while some are
// still unpublished: signing on a stale head would fork the log.
func (i *Identity) SignOperation(ctx context.Context, did syntax.DID, f plc.Fields) (*SignedOp, error) {
	if IsWebDID(did) {
		return nil, errs.Invalid("a did:web has no PLC operations: point its did.json at the new PDS on the domain's web server")
	}
	keys, err := i.accounts.Keys(ctx, did)
	if err != nil {
		return nil, err
	}
	i.Publish(ctx, did)
	st, err := i.PLCStatus(ctx, did)
	if err != nil {
		return nil, err
	}
	if st.Pending > 0 {
		return nil, errs.New(errs.ErrUpstreamFailure, "%d change(s) of this identity have not reached the PLC directory yet; try again once it is reachable", st.Pending)
	}
	prev, err := i.cfg.PLC.LastOp(ctx, did.String())
	if err != nil {
		return nil, errs.Wrap(errs.ErrUpstreamFailure, err, "could not read the identity's latest operation from the PLC directory")
	}
	op, err := plc.SignUpdate(prev, keys.Rotation, f)
	var fe *plc.FieldError
	switch {
	case errors.Is(err, plc.ErrNotRotationKey):
		return nil, errs.Invalid("Hearth's key is no longer one of this identity's rotation keys: sign the operation with a key you hold")
	case errors.As(err, &fe):
		return nil, errs.Invalid("%s", fe.Msg)
	case err != nil:
		return nil, fmt.Errorf("sign a PLC operation for %s: %w", did, err)
	}
	out := &SignedOp{Operation: op}
	if out.CID, err = plc.OpCID(op); err != nil {
		return nil, fmt.Errorf("signed PLC operation of %s: %w", did, err)
	}
	next, err := plc.OpState(op)
	if err != nil {
		return nil, fmt.Errorf("signed PLC operation of %s: %w", did, err)
	}
	pub, err := keys.SigningPublic()
	if err != nil {
		return nil, fmt.Errorf("signing key of %s: %w", did, err)
	}
	out.MovesAway = next.PDS != i.PublicURL() || next.SigningKey != pub.DIDKey()
	return out, nil
}

// MarkMovedOut records in tx that did's identity was signed over to
// another PDS by the operation with CID opCID.
func (i *Identity) MarkMovedOut(tx *store.Tx, did syntax.DID, opCID string) error {
	return tx.PutSetting(movedOutKey(did), []byte(opCID))
}

// ClearMovedOut forgets that mark (the account is active here again).
func (i *Identity) ClearMovedOut(tx *store.Tx, did syntax.DID) error {
	_, err := tx.DeleteSetting(movedOutKey(did))
	return err
}

// MovedOut reports whether did's identity was signed over to another PDS
// and the account has not been activated here since.
func (i *Identity) MovedOut(tx *store.Tx, did syntax.DID) (bool, error) {
	_, ok, err := tx.Setting(movedOutKey(did))
	return ok, err
}
