package plc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/did-method-plc/go-didplc/didplc"
)

const (
	// OpTypeOperation is the "type" of a regular (non-tombstone) operation.
	OpTypeOperation = "plc_operation"
	// VerificationMethodAtproto is the verification method holding the repo signing key.
	VerificationMethodAtproto = "atproto"
	// ServiceAtprotoPDS is the service entry pointing at the account's PDS.
	ServiceAtprotoPDS = "atproto_pds"
	// ServiceTypePDS is the type of the [ServiceAtprotoPDS] service.
	ServiceTypePDS = "AtprotoPersonalDataServer"
)

// GenesisOp builds and signs (with rotation) a genesis operation for an account
// whose repo signing key is signing, and returns the resulting DID and the
// signed operation as JSON.
func GenesisOp(rotation atcrypto.PrivateKey, signing atcrypto.PublicKey, handle, pdsURL string) (did string, opJSON []byte, err error) {
	op, err := buildOp(nil, nil, rotation, signing, handle, pdsURL, nil)
	if err != nil {
		return "", nil, fmt.Errorf("plc genesis: %w", err)
	}
	did, err = op.DID()
	if err != nil {
		return "", nil, fmt.Errorf("plc genesis: compute DID: %w", err)
	}
	opJSON, err = json.Marshal(op)
	if err != nil {
		return "", nil, fmt.Errorf("plc genesis: encode: %w", err)
	}
	return did, opJSON, nil
}

// UpdateOp builds and signs (with rotation, which must be a rotation key of
// the previous operation for the directory to accept it) an operation whose
// prev is the CID of prevOpJSON. It sets the handle, the PDS endpoint and the
// signing key; rotation keys become [rotation, extraRotationKeys...]
// (did:key strings; may be nil). Other verification methods, services and
// non-at:// alsoKnownAs entries of the previous operation are kept.
func UpdateOp(prevOpJSON []byte, rotation atcrypto.PrivateKey, signing atcrypto.PublicKey, handle, pdsURL string, extraRotationKeys []string) (opJSON []byte, err error) {
	prev, err := parseOp(prevOpJSON)
	if err != nil {
		return nil, fmt.Errorf("plc update: previous op: %w", err)
	}
	var base *didplc.RegularOp
	switch {
	case prev.Regular != nil:
		base = prev.Regular
	case prev.Legacy != nil:
		r := prev.Legacy.RegularOp()
		base = &r
	default:
		return nil, errors.New("plc update: previous op is a tombstone")
	}
	prevCID := prev.AsOperation().CID().String()

	op, err := buildOp(base, &prevCID, rotation, signing, handle, pdsURL, extraRotationKeys)
	if err != nil {
		return nil, fmt.Errorf("plc update: %w", err)
	}
	opJSON, err = json.Marshal(op)
	if err != nil {
		return nil, fmt.Errorf("plc update: encode: %w", err)
	}
	return opJSON, nil
}

// OpCID returns the CID of a signed operation (the value a following
// operation's prev must hold), computed as the directory does.
func OpCID(opJSON []byte) (string, error) {
	op, err := parseOp(opJSON)
	if err != nil {
		return "", fmt.Errorf("plc op CID: %w", err)
	}
	return op.AsOperation().CID().String(), nil
}

// parseOp decodes any operation type; it fails on unknown fields, since
// dropping them would silently change the CID and invalidate the signature.
func parseOp(opJSON []byte) (*didplc.OpEnum, error) {
	var op didplc.OpEnum
	if err := json.Unmarshal(opJSON, &op); err != nil {
		return nil, fmt.Errorf("decode operation: %w", err)
	}
	if op.AsOperation() == nil {
		return nil, errors.New("decode operation: empty")
	}
	// OpEnum.UnmarshalJSON ignores unknown fields; re-check strictly.
	dec := json.NewDecoder(bytes.NewReader(opJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(op.AsOperation()); err != nil {
		return nil, fmt.Errorf("decode operation: %w", err)
	}
	return &op, nil
}

// buildOp returns an operation derived from base (nil for genesis) with the
// atproto fields replaced, linked to prev (nil for genesis) and signed by
// rotation.
// MaxRotationKeys is the most rotation keys a did:plc may list.
const MaxRotationKeys = 5

func buildOp(base *didplc.RegularOp, prev *string, rotation atcrypto.PrivateKey, signing atcrypto.PublicKey, handle, pdsURL string, extraRotationKeys []string) (*didplc.RegularOp, error) {
	switch {
	case rotation == nil:
		return nil, errors.New("missing rotation key")
	case signing == nil:
		return nil, errors.New("missing signing key")
	}
	if _, err := syntax.ParseHandle(handle); err != nil {
		return nil, fmt.Errorf("handle: %w", err)
	}
	if u, err := url.Parse(pdsURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("invalid PDS URL %q", pdsURL)
	}
	rotPub, err := rotation.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("rotation public key: %w", err)
	}
	// Hearth's key comes first, then the others, unless the others already
	// name it: then they are the whole list in its order of priority (a key
	// the user holds may rank above Hearth's).
	rotationKeys := []string{rotPub.DIDKey()}
	if slices.Contains(extraRotationKeys, rotPub.DIDKey()) {
		rotationKeys = nil
	}
	for _, k := range extraRotationKeys {
		if _, err := atcrypto.ParsePublicDIDKey(k); err != nil {
			return nil, fmt.Errorf("extra rotation key %q: %w", k, err)
		}
		if !slices.Contains(rotationKeys, k) {
			rotationKeys = append(rotationKeys, k)
		}
	}

	if len(rotationKeys) > MaxRotationKeys {
		return nil, fmt.Errorf("%d rotation keys: the PLC directory allows at most %d", len(rotationKeys), MaxRotationKeys)
	}
	op := &didplc.RegularOp{
		Type:                OpTypeOperation,
		RotationKeys:        rotationKeys,
		VerificationMethods: map[string]string{},
		AlsoKnownAs:         []string{"at://" + handle},
		Services:            map[string]didplc.OpService{},
		Prev:                prev,
	}
	if base != nil {
		for k, v := range base.VerificationMethods {
			op.VerificationMethods[k] = v
		}
		for k, v := range base.Services {
			op.Services[k] = v
		}
		for _, aka := range base.AlsoKnownAs {
			if !strings.HasPrefix(aka, "at://") {
				op.AlsoKnownAs = append(op.AlsoKnownAs, aka)
			}
		}
	}
	op.VerificationMethods[VerificationMethodAtproto] = signing.DIDKey()
	op.Services[ServiceAtprotoPDS] = didplc.OpService{Type: ServiceTypePDS, Endpoint: pdsURL}

	if err := op.Sign(rotation); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return op, nil
}
