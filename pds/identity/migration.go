package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/bluesky-social/indigo/atproto/auth"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/plc"
	"github.com/hearth-pds/hearth/pds/store"
)

// VerifyMigrationAuth checks a service-auth JWT that an account's current
// PDS issued for createAccount here: signed by the DID's current key, for
// this server, bound to com.atproto.server.createAccount.
func (i *Identity) VerifyMigrationAuth(ctx context.Context, did syntax.DID, token string) error {
	lxm := syntax.NSID("com.atproto.server.createAccount")
	v := &auth.ServiceAuthValidator{Audience: i.ServiceDID(), Dir: i.cfg.Directory}
	iss, err := v.Validate(ctx, token, &lxm)
	if err != nil {
		return errs.Wrap(errs.ErrAuthRequired, err, "moving %s here needs a service-auth token from its current PDS: %v", did, err)
	}
	if iss != did {
		return errs.New(errs.ErrAuthRequired, "the token is for %s, not %s", iss, did)
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

// RecommendedCredentials returns the keys and endpoint of this PDS for did.
func (i *Identity) RecommendedCredentials(ctx context.Context, did syntax.DID) (*DIDCredentials, error) {
	acc, err := i.accounts.Get(ctx, did)
	if err != nil {
		return nil, err
	}
	keys, err := i.accounts.Keys(ctx, did)
	if err != nil {
		return nil, err
	}
	rotPub, err := keys.Rotation.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("rotation key of %s: %w", did, err)
	}
	pub, err := keys.SigningPublic()
	if err != nil {
		return nil, fmt.Errorf("signing key of %s: %w", did, err)
	}
	return &DIDCredentials{
		RotationKeys:        []string{rotPub.DIDKey()},
		AlsoKnownAs:         []string{"at://" + acc.Handle.String()},
		VerificationMethods: map[string]string{"atproto": pub.DIDKey()},
		Services:            map[string]any{plc.ServiceAtprotoPDS: map[string]string{"type": plc.ServiceTypePDS, "endpoint": i.PublicURL()}},
	}, nil
}

// SubmitOperation sends a PLC operation for did (signed elsewhere, e.g.
// by the previous PDS) to the directory, after checking that it makes this
// PDS the account's host with this PDS's keys. It is then the head that
// Hearth's own later updates chain on.
func (i *Identity) SubmitOperation(ctx context.Context, did syntax.DID, op json.RawMessage) error {
	if did.Method() != "plc" {
		return errs.Invalid("%s is not a did:plc", did)
	}
	st, err := plc.OpState(op)
	if err != nil {
		return errs.Invalid("not a PLC operation: %v", err)
	}
	want, err := i.RecommendedCredentials(ctx, did)
	if err != nil {
		return err
	}
	switch {
	case st.PDS != i.PublicURL():
		return errs.Invalid("the operation points the account at %s, not at this PDS (%s)", st.PDS, i.PublicURL())
	case st.SigningKey != want.VerificationMethods["atproto"]:
		return errs.Invalid("the operation's signing key is not this PDS's key for the account")
	case !slices.Contains(st.RotationKeys, want.RotationKeys[0]):
		return errs.Invalid("the operation does not include this PDS's rotation key")
	}
	if err := i.cfg.PLC.Submit(ctx, did.String(), op); err != nil {
		return errs.Wrap(errs.ErrInvalidRequest, err, "the PLC directory did not take the operation: %v", err)
	}
	return i.db.Write(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(sqlInsertOp, did.String(), []byte(op), 1, syntax.DatetimeNow().String()); err != nil {
			return fmt.Errorf("store submitted PLC operation: %w", err)
		}
		return nil
	})
}
