package pds

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/syntax"

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
	if isWebDID(did) {
		return e.moveWebAccount(ctx, r, url)
	}
	rot, pub, err := e.accountKeys(r)
	if err != nil {
		return false, err
	}
	var change Change
	err = e.db.Write(ctx, func(tx *sql.Tx) error {
		_, st, err := latestOp(ctx, tx, did)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // moving here: its DID document is updated by submitPlcOperation
		}
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
		change, err = e.appendEvent(ctx, tx, did, events.KindIdentity, func(seq int64) ([]byte, error) {
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
	st, err := e.identityState(ctx, did)
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
	if isWebDID(did) {
		return apierr.Invalid("a did:web has no rotation keys: whoever controls the domain controls the identity")
	}
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
	if isWebDID(did) {
		return "", "", apierr.Invalid("a did:web has no recovery key: it is controlled by whoever controls its domain")
	}
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

func isWebDID(did string) bool { return strings.HasPrefix(did, "did:web:") }

// webDIDHost checks a did:web domain: a plain hostname (no port, path or
// scheme) that atproto allows.
func webDIDHost(raw string) (string, error) {
	host := strings.ToLower(strings.TrimSpace(raw))
	h, err := syntax.ParseHandle(host)
	if err != nil || !h.AllowedTLD() {
		return "", apierr.Invalid("did:web needs a plain domain name you own, like alice.example.com (got %q)", raw)
	}
	return host, nil
}

func setWebEndpoint(ctx context.Context, tx *sql.Tx, did, url string) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO setting(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", "didweb_endpoint:"+did, []byte(url))
	if err != nil {
		return fmt.Errorf("store did:web endpoint: %w", err)
	}
	return nil
}

// identityState is what the account's DID document says (or will say).
func (e *Engine) identityState(ctx context.Context, did string) (*plc.State, error) {
	if !isWebDID(did) {
		_, st, err := latestOp(ctx, e.db.R, did)
		if errors.Is(err, sql.ErrNoRows) {
			return e.resolvedState(ctx, did) // moving here: no operation of ours yet
		}
		return st, err
	}
	r, err := e.lookup(ctx, e.db.R, "did = ?", did)
	if err != nil {
		return nil, err
	}
	k, err := e.signingKey(r)
	if err != nil {
		return nil, err
	}
	pub, _ := k.PublicKey()
	return &plc.State{Handle: r.Handle, PDS: e.PublicURL(), SigningKey: pub.DIDKey()}, nil
}

// WebDIDDocument returns the DID document for a did:web hosted here whose
// domain is host (for /.well-known/did.json), or nil.
func (e *Engine) WebDIDDocument(ctx context.Context, host string) map[string]any {
	did := "did:web:" + strings.ToLower(host)
	if _, err := e.lookup(ctx, e.db.R, "did = ?", did); err != nil {
		return nil
	}
	doc, err := e.DIDDocument(ctx, did)
	if err != nil {
		return nil
	}
	return doc
}

// moveWebAccount: a did:web document is served live, so a new URL needs no
// signed operation, only an #identity event (once per actual change).
func (e *Engine) moveWebAccount(ctx context.Context, r *accountRow, url string) (bool, error) {
	var change Change
	err := e.db.Write(ctx, func(tx *sql.Tx) error {
		var cur []byte
		tx.QueryRowContext(ctx, "SELECT value FROM setting WHERE key = ?", "didweb_endpoint:"+r.DID).Scan(&cur)
		if string(cur) == url {
			return nil
		}
		if err := setWebEndpoint(ctx, tx, r.DID, url); err != nil {
			return err
		}
		now := nowString()
		handle := r.Handle
		var err error
		change, err = e.appendEvent(ctx, tx, r.DID, events.KindIdentity, func(seq int64) ([]byte, error) {
			return events.Encode(events.KindIdentity, &identityBody{Did: r.DID, Handle: &handle, Seq: seq, Time: now})
		})
		return err
	})
	if err != nil || change.Seq == 0 {
		return false, err
	}
	e.notify.publish(change)
	return true, nil
}

// resolvedState reads an account's identity from its published DID document.
func (e *Engine) resolvedState(ctx context.Context, did string) (*plc.State, error) {
	id, err := e.cfg.Directory.LookupDID(ctx, syntax.DID(did))
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", did, err)
	}
	st := &plc.State{PDS: id.PDSEndpoint()}
	if h, err := id.DeclaredHandle(); err == nil {
		st.Handle = h.String()
	}
	if k, err := id.PublicKey(); err == nil {
		st.SigningKey = k.DIDKey()
	}
	return st, nil
}
