package oauth

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
)

// parseES256 verifies a compact ES256 JWS and decodes its header and
// claims. It does not use golang-jwt's method registry: other packages
// in the binary (indigo's OAuth client) register their own "ES256" there.
// keyFor picks the key from the decoded header.
func parseES256(token string, claims any, keyFor func(header map[string]any) (*ecdsa.PublicKey, error)) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a compact JWS")
	}
	hb, err := b64.DecodeString(parts[0])
	if err != nil {
		return nil, errors.New("malformed header")
	}
	var header map[string]any
	if err := json.Unmarshal(hb, &header); err != nil {
		return nil, errors.New("malformed header")
	}
	if header["alg"] != "ES256" {
		return nil, errors.New("alg must be ES256")
	}
	key, err := keyFor(header)
	if err != nil {
		return nil, err
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return nil, errors.New("malformed signature")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(key, sum[:], r, s) {
		return nil, errors.New("signature is invalid")
	}
	cb, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, errors.New("malformed claims")
	}
	if err := json.Unmarshal(cb, claims); err != nil {
		return nil, errors.New("malformed claims")
	}
	return header, nil
}
