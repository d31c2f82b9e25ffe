package pds

import (
	"context"
	"encoding/json"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/accounts"
	"github.com/hearth-pds/hearth/pds/eventlog"
	"github.com/hearth-pds/hearth/pds/outbox"
	"github.com/hearth-pds/hearth/pds/plc"
	"github.com/hearth-pds/hearth/pds/store"
)

// RequestPLCSignature writes a PLC operation token for did to the outbox
// (com.atproto.identity.requestPlcOperationSignature: the reference PDS
// emails it).
func (e *Engine) RequestPLCSignature(ctx context.Context, did syntax.DID) (outbox.Message, error) {
	acc, err := e.Accounts.Get(ctx, did)
	if err != nil {
		return outbox.Message{}, err
	}
	m, err := e.Outbox.IssueNow(ctx, did, outbox.PurposePLCOperation, acc.Email)
	if err == nil {
		e.log.Info("PLC operation token written to the outbox", "did", did)
	}
	return m, err
}

// SignPLCOperation checks did's PLC token and signs the operation f asks
// for with Hearth's rotation key (com.atproto.identity.signPlcOperation).
// The token works once; an operation that moves the account away marks it
// so Hearth never points its identity back here on its own.
func (e *Engine) SignPLCOperation(ctx context.Context, did syntax.DID, token string, f plc.Fields) (json.RawMessage, error) {
	// Check the token before going to the directory; it is spent only
	// with a signature in hand.
	err := e.db.Read(ctx, func(tx *store.Tx) error {
		_, err := e.Outbox.Check(tx, did, outbox.PurposePLCOperation, token)
		return err
	})
	if err != nil {
		return nil, err
	}
	op, err := e.Identity.SignOperation(ctx, did, f)
	if err != nil {
		return nil, err
	}
	err = e.db.Write(ctx, func(tx *store.Tx) error {
		if _, err := e.Outbox.Use(tx, did, outbox.PurposePLCOperation, token); err != nil {
			return err
		}
		if op.MovesAway {
			return e.Identity.MarkMovedOut(tx, did, op.CID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	e.log.Info("signed a PLC operation for the owner", "did", did, "cid", op.CID, "moves_away", op.MovesAway)
	return op.Operation, nil
}

// DeactivateAccount deactivates did (com.atproto.server.deactivateAccount)
// and emits #account; when its identity was signed over to another PDS it
// first emits #identity, so relays and AppViews look the DID up again and
// find its new home.
func (e *Engine) DeactivateAccount(ctx context.Context, did syntax.DID) error {
	return e.db.Write(ctx, func(tx *store.Tx) error {
		changed, err := e.Accounts.SetStatus(tx, did, accounts.StatusDeactivated)
		if err != nil || !changed {
			return err
		}
		gone, err := e.Identity.MovedOut(tx, did)
		if err != nil {
			return err
		}
		if gone {
			acc, err := e.Accounts.Get(tx.Context(), did)
			if err != nil {
				return err
			}
			if _, err := e.Events.Append(tx, eventlog.Identity(did, acc.Handle)); err != nil {
				return err
			}
		}
		_, err = e.Events.Append(tx, eventlog.Account(did, false, accounts.StatusDeactivated))
		return err
	})
}
