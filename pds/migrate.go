package pds

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/bluesky-social/indigo/atproto/auth"
	"github.com/bluesky-social/indigo/atproto/repo"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/actorrepo"
	"github.com/hearth-pds/hearth/pds/apierr"
	"github.com/hearth-pds/hearth/pds/events"
	"github.com/hearth-pds/hearth/pds/plc"
)

// VerifyMigrationAuth checks a service-auth JWT that an account's current
// PDS issued for createAccount here: signed by the DID's current key, for
// this server, bound to com.atproto.server.createAccount.
func (e *Engine) VerifyMigrationAuth(ctx context.Context, did, token string) error {
	lxm := syntax.NSID("com.atproto.server.createAccount")
	v := &auth.ServiceAuthValidator{Audience: e.ServiceDID(), Dir: e.cfg.Directory}
	iss, err := v.Validate(ctx, token, &lxm)
	if err != nil {
		return apierr.New(http.StatusUnauthorized, "AuthenticationRequired", "moving %s here needs a service-auth token from its current PDS: %v", did, err)
	}
	if iss.String() != did {
		return apierr.New(http.StatusUnauthorized, "AuthenticationRequired", "the token is for %s, not %s", iss, did)
	}
	return nil
}

// DIDCredentials are what the DID document should say for this PDS to host
// the account (com.atproto.identity.getRecommendedDidCredentials).
type DIDCredentials struct {
	RotationKeys        []string          `json:"rotationKeys"`
	AlsoKnownAs         []string          `json:"alsoKnownAs"`
	VerificationMethods map[string]string `json:"verificationMethods"`
	Services            map[string]any    `json:"services"`
}

// RecommendedDIDCredentials returns the keys and endpoint of this PDS for did.
func (e *Engine) RecommendedDIDCredentials(ctx context.Context, did string) (*DIDCredentials, error) {
	r, err := e.lookup(ctx, e.db.R, "did = ?", did)
	if err != nil {
		return nil, err
	}
	rot, pub, err := e.accountKeys(r)
	if err != nil {
		return nil, err
	}
	rotPub, _ := rot.PublicKey()
	return &DIDCredentials{
		RotationKeys:        []string{rotPub.DIDKey()},
		AlsoKnownAs:         []string{"at://" + r.Handle},
		VerificationMethods: map[string]string{"atproto": pub.DIDKey()},
		Services:            map[string]any{plc.ServiceAtprotoPDS: map[string]string{"type": plc.ServiceTypePDS, "endpoint": e.PublicURL()}},
	}, nil
}

// SubmitPLCOperation sends a PLC operation for did (signed elsewhere, e.g.
// by the previous PDS) to the directory, after checking that it makes this
// PDS the account's host with this PDS's keys. It is then the head that
// Hearth's own later updates chain on.
func (e *Engine) SubmitPLCOperation(ctx context.Context, did string, op json.RawMessage) error {
	if !strings.HasPrefix(did, "did:plc:") {
		return apierr.Invalid("%s is not a did:plc", did)
	}
	st, err := plc.OpState(op)
	if err != nil {
		return apierr.Invalid("not a PLC operation: %v", err)
	}
	want, err := e.RecommendedDIDCredentials(ctx, did)
	if err != nil {
		return err
	}
	switch {
	case st.PDS != e.PublicURL():
		return apierr.Invalid("the operation points the account at %s, not at this PDS (%s)", st.PDS, e.PublicURL())
	case st.SigningKey != want.VerificationMethods["atproto"]:
		return apierr.Invalid("the operation's signing key is not this PDS's key for the account")
	case !contains(st.RotationKeys, want.RotationKeys[0]):
		return apierr.Invalid("the operation does not include this PDS's rotation key")
	}
	if err := e.plc.Submit(ctx, did, op); err != nil {
		return apierr.Wrap(err, http.StatusBadRequest, "InvalidRequest", "the PLC directory did not take the operation: %v", err)
	}
	return e.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO plc_op(did, op, published, created_at) VALUES(?, ?, 1, ?)", did, []byte(op), nowString())
		return err
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// announceMigrated, when a migrated account is first activated, emits its
// #identity and a #sync of its current commit (in tx) so relays pick up the
// account and repo here.
func (e *Engine) announceMigrated(ctx context.Context, tx *sql.Tx, did, now string) ([]Change, error) {
	res, err := tx.ExecContext(ctx, "DELETE FROM setting WHERE key = ?", "migrating:"+did)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, nil
	}
	var handle string
	var head []byte
	if err := tx.QueryRowContext(ctx, "SELECT a.handle, r.commit_bytes FROM account a JOIN repo_root r ON r.did = a.did WHERE a.did = ?", did).Scan(&handle, &head); err != nil {
		return nil, fmt.Errorf("read migrated account: %w", err)
	}
	var c repo.Commit
	if err := c.UnmarshalCBOR(bytes.NewReader(head)); err != nil {
		return nil, err
	}
	hc, _ := actorrepo.CBORCID(head)
	idc, err := e.appendEvent(ctx, tx, did, events.KindIdentity, func(seq int64) ([]byte, error) {
		return events.Encode(events.KindIdentity, &identityBody{Did: did, Handle: &handle, Seq: seq, Time: now})
	})
	if err != nil {
		return nil, err
	}
	syc, err := e.appendEvent(ctx, tx, did, events.KindSync, func(seq int64) ([]byte, error) {
		body, err := events.SyncBody(did, seq, now, actorrepo.Head{CID: hc, Commit: c, Bytes: head})
		if err != nil {
			return nil, err
		}
		return events.Encode(events.KindSync, body)
	})
	return []Change{idc, syc}, err
}
