package pds

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/http"

	"github.com/bluesky-social/indigo/atproto/atcrypto"

	"github.com/hearth-pds/hearth/pds/apierr"
	"github.com/hearth-pds/hearth/pds/events"
	"github.com/hearth-pds/hearth/pds/plc"
)

// latestOp returns the newest operation that was not refused.
func latestOp(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, did string) ([]byte, *plc.State, error) {
	var op []byte
	if err := q.QueryRowContext(ctx, "SELECT op FROM plc_op WHERE did = ? AND published >= 0 ORDER BY id DESC LIMIT 1", did).Scan(&op); err != nil {
		return nil, nil, fmt.Errorf("latest PLC op of %s: %w", did, err)
	}
	st, err := plc.OpState(op)
	if err != nil {
		return nil, nil, err
	}
	return op, st, nil
}

// queuePLCUpdate signs an update on top of the latest operation, changed by
// mutate, and stores it as pending (in tx).
func (e *Engine) queuePLCUpdate(ctx context.Context, tx *sql.Tx, did string, rot atcrypto.PrivateKey, signing atcrypto.PublicKey, mutate func(*plc.State)) error {
	prev, st, err := latestOp(ctx, tx, did)
	if err != nil {
		return err
	}
	rotPub, _ := rot.PublicKey()
	mutate(st)
	var extra []string
	for _, k := range st.RotationKeys {
		if k != rotPub.DIDKey() {
			extra = append(extra, k)
		}
	}
	op, err := plc.UpdateOp(prev, rot, signing, st.Handle, st.PDS, extra)
	if err != nil {
		return fmt.Errorf("build PLC update: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO plc_op(did, op, published, created_at) VALUES(?, ?, 0, ?)", did, op, nowString()); err != nil {
		return fmt.Errorf("queue PLC update: %w", err)
	}
	return nil
}

func (e *Engine) accountKeys(r *accountRow) (rot *atcrypto.PrivateKeyK256, signing atcrypto.PublicKey, err error) {
	rot, err = atcrypto.ParsePrivateBytesK256(r.rotationKey)
	if err != nil {
		return nil, nil, fmt.Errorf("rotation key: %w", err)
	}
	sk, err := e.signingKey(r)
	if err != nil {
		return nil, nil, err
	}
	pub, err := sk.PublicKey()
	return rot, pub, err
}

// SetPublicURL changes the URL the PDS is published at (the tunnel came up
// or moved). Accounts whose DID document points elsewhere get one signed PLC
// update each and an #identity event; nothing is submitted when the URL is
// what the documents already say. Pending operations are then published.
// It returns how many accounts were updated.
func (e *Engine) SetPublicURL(ctx context.Context, raw string) (int, error) {
	u, err := parsePublicURL(raw)
	if err != nil {
		return 0, apierr.Invalid("%v", err)
	}
	e.urlMu.Lock()
	e.publicURL = u
	e.urlMu.Unlock()
	accs, err := e.ListAccounts(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, acc := range accs {
		changed, err := e.moveAccount(ctx, acc.DID, u.String())
		if err != nil {
			return n, err
		}
		if changed {
			n++
		}
		e.publishPLC(ctx, acc.DID)
	}
	return n, nil
}

func (e *Engine) moveAccount(ctx context.Context, did, url string) (bool, error) {
	r, err := e.lookup(ctx, e.db.R, "did = ?", did)
	if err != nil {
		return false, err
	}
	rot, pub, err := e.accountKeys(r)
	if err != nil {
		return false, err
	}
	var change Change
	err = e.db.Write(ctx, func(tx *sql.Tx) error {
		_, st, err := latestOp(ctx, tx, did)
		if err != nil {
			return err
		}
		if st.PDS == url {
			return nil
		}
		if err := e.queuePLCUpdate(ctx, tx, did, rot, pub, func(st *plc.State) { st.PDS = url }); err != nil {
			return err
		}
		now := nowString()
		handle := r.Handle
		change, err = appendEvent(ctx, tx, did, events.KindIdentity, func(seq int64) ([]byte, error) {
			return events.Encode(events.KindIdentity, &identityBody{Did: did, Handle: &handle, Seq: seq, Time: now})
		})
		return err
	})
	if err != nil || change.Seq == 0 {
		return false, err
	}
	e.notify.publish(change)
	e.log.Info("account moved to a new public URL", "did", did, "url", url)
	return true, nil
}

// IdentityInfo is an account's identity as its latest PLC operation says.
type IdentityInfo struct {
	DID          string
	Handle       string
	PDS          string
	SigningKey   string
	RotationKeys []string
	PLCStatus
}

// Identity returns the account's signed identity state.
func (e *Engine) Identity(ctx context.Context, did string) (*IdentityInfo, error) {
	_, st, err := latestOp(ctx, e.db.R, did)
	if err != nil {
		return nil, err
	}
	ps, err := e.PLCStatus(ctx, did)
	if err != nil {
		return nil, err
	}
	return &IdentityInfo{DID: did, Handle: st.Handle, PDS: st.PDS, SigningKey: st.SigningKey, RotationKeys: st.RotationKeys, PLCStatus: ps}, nil
}

// AddRotationKey adds the owner's own rotation key (a did:key) after
// Hearth's, so they can recover the identity without Hearth.
func (e *Engine) AddRotationKey(ctx context.Context, did, didKey string) error {
	if _, err := atcrypto.ParsePublicDIDKey(didKey); err != nil {
		return apierr.Invalid("not a did:key public key: %v", err)
	}
	r, err := e.lookup(ctx, e.db.R, "did = ?", did)
	if err != nil {
		return err
	}
	rot, pub, err := e.accountKeys(r)
	if err != nil {
		return err
	}
	err = e.db.Write(ctx, func(tx *sql.Tx) error {
		return e.queuePLCUpdate(ctx, tx, did, rot, pub, func(st *plc.State) {
			for _, k := range st.RotationKeys {
				if k == didKey {
					return
				}
			}
			st.RotationKeys = append(st.RotationKeys, didKey)
		})
	})
	if err != nil {
		return err
	}
	e.publishPLC(ctx, did)
	return nil
}

// RecoveryKey returns the account's PLC rotation key: the private key as
// hex (secp256k1) and its did:key. Whoever holds it controls the identity.
func (e *Engine) RecoveryKey(ctx context.Context, did string) (privateHex, didKey string, err error) {
	r, err := e.lookup(ctx, e.db.R, "did = ?", did)
	if err == errNoAccount {
		return "", "", apierr.New(http.StatusBadRequest, "RepoNotFound", "no account %s", did)
	}
	if err != nil {
		return "", "", err
	}
	rot, err := atcrypto.ParsePrivateBytesK256(r.rotationKey)
	if err != nil {
		return "", "", err
	}
	pub, _ := rot.PublicKey()
	return hex.EncodeToString(rot.Bytes()), pub.DIDKey(), nil
}
