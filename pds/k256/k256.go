package k256

import (
	"crypto/sha256"
	"fmt"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// Signer is an atcrypto.PrivateKeyExportable whose HashAndSign uses decred:
// RFC 6979 deterministic nonces and low-S [R | S] signatures, the form
// atproto requires.
type Signer struct {
	key  *atcrypto.PrivateKeyK256 // public key, encodings, Equal
	priv *secp256k1.PrivateKey
}

var _ atcrypto.PrivateKeyExportable = (*Signer)(nil)

// New wraps an atcrypto K-256 private key.
func New(k *atcrypto.PrivateKeyK256) *Signer {
	return &Signer{key: k, priv: secp256k1.PrivKeyFromBytes(k.Bytes())}
}

// Parse reads a private key in atcrypto's byte form.
func Parse(b []byte) (*Signer, error) {
	k, err := atcrypto.ParsePrivateBytesK256(b)
	if err != nil {
		return nil, fmt.Errorf("K-256 private key: %w", err)
	}
	return New(k), nil
}

// HashAndSign hashes content with SHA-256 and signs the digest.
func (s *Signer) HashAndSign(content []byte) ([]byte, error) {
	h := sha256.Sum256(content)
	sig := ecdsa.Sign(s.priv, h[:]) // canonical: S is always in the lower half
	r, sv := sig.R(), sig.S()
	out := make([]byte, 64)
	r.PutBytesUnchecked(out[:32])
	sv.PutBytesUnchecked(out[32:])
	return out, nil
}

// PublicKey returns the atcrypto public key.
func (s *Signer) PublicKey() (atcrypto.PublicKey, error) { return s.key.PublicKey() }

// Bytes is atcrypto's encoding of the secret key.
func (s *Signer) Bytes() []byte { return s.key.Bytes() }

// Multibase is atcrypto's multibase form of the secret key.
func (s *Signer) Multibase() string { return s.key.Multibase() }

// Key returns the wrapped atcrypto key.
func (s *Signer) Key() *atcrypto.PrivateKeyK256 { return s.key }

// Equal reports whether other holds the same secret key.
func (s *Signer) Equal(other atcrypto.PrivateKey) bool {
	if o, ok := other.(*Signer); ok {
		return s.key.Equal(o.key)
	}
	return s.key.Equal(other)
}
