package secrets

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// prefix marks a sealed value (version 1: AES-256-GCM, 12-byte nonce).
var prefix = []byte("hearth-sealed-v1:")

// KeySize is the data key's length.
const KeySize = 32

// Box seals and opens values under the data key.
type Box struct {
	aead cipher.AEAD
	// Where says where the data key lives, for logs and the user.
	Where string
}

// NewBox makes a Box from a 32-byte data key.
func NewBox(key []byte, where string) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("data key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	return &Box{aead: aead, Where: where}, nil
}

// IsSealed reports whether b is a sealed value (rather than a plain one
// stored by an older version).
func IsSealed(b []byte) bool { return bytes.HasPrefix(b, prefix) }

// Seal encrypts plain. label binds the value to its place (such as
// "account:<did>:signing"): a sealed value copied to another place does
// not open.
func (b *Box) Seal(plain []byte, label string) ([]byte, error) {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal %s: %w", label, err)
	}
	out := make([]byte, 0, len(prefix)+len(nonce)+len(plain)+b.aead.Overhead())
	out = append(out, prefix...)
	out = append(out, nonce...)
	return b.aead.Seal(out, nonce, plain, []byte(label)), nil
}

// ErrNotSealed is returned by Open for a value without the sealed prefix.
var ErrNotSealed = errors.New("value is not sealed")

// Open decrypts a sealed value stored under label.
func (b *Box) Open(sealed []byte, label string) ([]byte, error) {
	if !IsSealed(sealed) {
		return nil, ErrNotSealed
	}
	rest := sealed[len(prefix):]
	ns := b.aead.NonceSize()
	if len(rest) < ns+b.aead.Overhead() {
		return nil, fmt.Errorf("open %s: sealed value too short", label)
	}
	plain, err := b.aead.Open(nil, rest[:ns], rest[ns:], []byte(label))
	if err != nil {
		return nil, fmt.Errorf("open %s: wrong data key or damaged value: %w", label, err)
	}
	return plain, nil
}
