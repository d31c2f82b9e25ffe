package plc

import (
	"fmt"
	"strings"
)

// State is what a signed operation says about an account.
type State struct {
	Handle       string   // from the first at:// alsoKnownAs
	PDS          string   // the atproto_pds service endpoint
	SigningKey   string   // did:key of the atproto verification method
	RotationKeys []string // did:keys, highest priority first
}

// OpState reads the account state an operation sets.
func OpState(opJSON []byte) (*State, error) {
	op, err := parseOp(opJSON)
	if err != nil {
		return nil, err
	}
	reg := op.Regular
	if reg == nil {
		return nil, fmt.Errorf("not a regular operation")
	}
	st := &State{RotationKeys: append([]string(nil), reg.RotationKeys...), SigningKey: reg.VerificationMethods[VerificationMethodAtproto]}
	for _, aka := range reg.AlsoKnownAs {
		if strings.HasPrefix(aka, "at://") {
			st.Handle = strings.TrimPrefix(aka, "at://")
			break
		}
	}
	if svc, ok := reg.Services[ServiceAtprotoPDS]; ok {
		st.PDS = svc.Endpoint
	}
	return st, nil
}
