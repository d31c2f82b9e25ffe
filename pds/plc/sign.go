package plc

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/did-method-plc/go-didplc/didplc"
)

// Service is one entry of an operation's services.
type Service = didplc.OpService

// Fields are the parts of an operation that com.atproto.identity.signPlcOperation
// may set. A nil field keeps the previous operation's value.
type Fields struct {
	RotationKeys        []string           `json:"rotationKeys,omitempty"`
	AlsoKnownAs         []string           `json:"alsoKnownAs,omitempty"`
	VerificationMethods map[string]string  `json:"verificationMethods,omitempty"`
	Services            map[string]Service `json:"services,omitempty"`
}

// SignUpdate builds an operation on top of prevOpJSON with f applied
// (everything f leaves nil is kept as it was, the rotation keys included,
// so a key the user holds survives a move) and signs it with rotation,
// which must be one of the previous operation's rotation keys. It checks
// what the directory would refuse: unknown key formats, too many rotation
// keys, endpoints that are not URLs.
func SignUpdate(prevOpJSON []byte, rotation atcrypto.PrivateKey, f Fields) ([]byte, error) {
	prev, err := parseOp(prevOpJSON)
	if err != nil {
		return nil, fmt.Errorf("plc update: previous op: %w", err)
	}
	var base didplc.RegularOp
	switch {
	case prev.Regular != nil:
		base = *prev.Regular
	case prev.Legacy != nil:
		base = prev.Legacy.RegularOp()
	default:
		return nil, errors.New("plc update: the identity was tombstoned")
	}
	pub, err := rotation.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("plc update: rotation key: %w", err)
	}
	if !slices.Contains(base.RotationKeys, pub.DIDKey()) {
		return nil, ErrNotRotationKey
	}
	prevCID := prev.AsOperation().CID().String()
	op := didplc.RegularOp{
		Type:                OpTypeOperation,
		RotationKeys:        base.RotationKeys,
		VerificationMethods: base.VerificationMethods,
		AlsoKnownAs:         base.AlsoKnownAs,
		Services:            base.Services,
		Prev:                &prevCID,
	}
	if f.RotationKeys != nil {
		op.RotationKeys = f.RotationKeys
	}
	if f.AlsoKnownAs != nil {
		op.AlsoKnownAs = f.AlsoKnownAs
	}
	if f.VerificationMethods != nil {
		op.VerificationMethods = f.VerificationMethods
	}
	if f.Services != nil {
		op.Services = f.Services
	}
	if err := checkFields(&op); err != nil {
		return nil, err
	}
	if err := op.Sign(rotation); err != nil {
		return nil, fmt.Errorf("plc update: sign: %w", err)
	}
	out, err := json.Marshal(&op)
	if err != nil {
		return nil, fmt.Errorf("plc update: encode: %w", err)
	}
	return out, nil
}

// ErrNotRotationKey: the key asked to sign is not among the identity's
// rotation keys, so the directory would refuse what it signs.
var ErrNotRotationKey = errors.New("this key is not one of the identity's rotation keys")

// FieldError is a field of a requested operation the directory would refuse.
type FieldError struct{ Msg string }

func (e *FieldError) Error() string { return e.Msg }

func checkFields(op *didplc.RegularOp) error {
	bad := func(format string, args ...any) error { return &FieldError{Msg: fmt.Sprintf(format, args...)} }
	switch {
	case len(op.RotationKeys) == 0:
		return bad("an operation needs at least one rotation key")
	case len(op.RotationKeys) > MaxRotationKeys:
		return bad("%d rotation keys: the PLC directory allows at most %d", len(op.RotationKeys), MaxRotationKeys)
	}
	for _, k := range op.RotationKeys {
		if _, err := atcrypto.ParsePublicDIDKey(k); err != nil {
			return bad("rotation key %q is not a did:key", k)
		}
	}
	for name, k := range op.VerificationMethods {
		if _, err := atcrypto.ParsePublicDIDKey(k); err != nil {
			return bad("verification method %q is not a did:key", name)
		}
	}
	for name, s := range op.Services {
		if u, err := url.Parse(s.Endpoint); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return bad("service %q has no http(s) endpoint", name)
		}
	}
	if op.VerificationMethods == nil {
		op.VerificationMethods = map[string]string{}
	}
	if op.Services == nil {
		op.Services = map[string]Service{}
	}
	if op.AlsoKnownAs == nil {
		op.AlsoKnownAs = []string{}
	}
	return nil
}
