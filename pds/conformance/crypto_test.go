package conformance

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/mr-tron/base58"
)

type signatureFixture struct {
	Comment            string   `json:"comment"`
	MessageBase64      string   `json:"messageBase64"`
	Algorithm          string   `json:"algorithm"`
	DIDDocSuite        string   `json:"didDocSuite"`
	PublicKeyDID       string   `json:"publicKeyDid"`
	PublicKeyMultibase string   `json:"publicKeyMultibase"`
	SignatureBase64    string   `json:"signatureBase64"`
	ValidSignature     bool     `json:"validSignature"`
	Tags               []string `json:"tags"`
}

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("base64 %q: %v", s, err)
	}
	return b
}

func TestSignatureVectors(t *testing.T) {
	var fixtures []signatureFixture
	readJSON(t, "crypto/signature-fixtures.json", &fixtures)
	if len(fixtures) == 0 {
		t.Fatal("no fixtures")
	}
	for i, fx := range fixtures {
		t.Run(fmt.Sprintf("%d %s", i, fx.Comment), func(t *testing.T) {
			msg := b64(t, fx.MessageBase64)
			sig := b64(t, fx.SignatureBase64)

			didKey, err := atcrypto.ParsePublicDIDKey(fx.PublicKeyDID)
			if err != nil {
				t.Fatalf("ParsePublicDIDKey: %v", err)
			}
			if got := didKey.DIDKey(); got != fx.PublicKeyDID {
				t.Errorf("DIDKey() re-encoding = %q, want %q", got, fx.PublicKeyDID)
			}

			// publicKeyMultibase is "z" + base58btc of the compressed key,
			// without a multicodec prefix (DID document style).
			if fx.PublicKeyMultibase == "" || fx.PublicKeyMultibase[0] != 'z' {
				t.Fatalf("unexpected multibase %q", fx.PublicKeyMultibase)
			}
			raw, err := base58.Decode(fx.PublicKeyMultibase[1:])
			if err != nil {
				t.Fatal(err)
			}
			var mbKey atcrypto.PublicKey
			switch fx.Algorithm {
			case "ES256":
				if fx.DIDDocSuite != "EcdsaSecp256r1VerificationKey2019" {
					t.Fatalf("suite %q for %s", fx.DIDDocSuite, fx.Algorithm)
				}
				mbKey, err = atcrypto.ParsePublicBytesP256(raw)
			case "ES256K":
				if fx.DIDDocSuite != "EcdsaSecp256k1VerificationKey2019" {
					t.Fatalf("suite %q for %s", fx.DIDDocSuite, fx.Algorithm)
				}
				mbKey, err = atcrypto.ParsePublicBytesK256(raw)
			default:
				t.Fatalf("unknown algorithm %q", fx.Algorithm)
			}
			if err != nil {
				t.Fatalf("parsing multibase key: %v", err)
			}
			if !mbKey.Equal(didKey) {
				t.Error("did:key and multibase keys differ")
			}

			for name, key := range map[string]atcrypto.PublicKey{"did:key": didKey, "multibase": mbKey} {
				err := key.HashAndVerify(msg, sig)
				if fx.ValidSignature && err != nil {
					t.Errorf("%s: HashAndVerify: %v", name, err)
				}
				if !fx.ValidSignature && err == nil {
					t.Errorf("%s: HashAndVerify accepted an invalid signature (tags %v)", name, fx.Tags)
				}

				// The lenient verifier (for JWTs) accepts high-S but still
				// not DER-encoded signatures.
				lerr := key.HashAndVerifyLenient(msg, sig)
				wantLenient := fx.ValidSignature || slices.Contains(fx.Tags, "high-s")
				if wantLenient && lerr != nil {
					t.Errorf("%s: HashAndVerifyLenient: %v", name, lerr)
				}
				if !wantLenient && lerr == nil {
					t.Errorf("%s: HashAndVerifyLenient accepted a signature tagged %v", name, fx.Tags)
				}

				// A valid signature does not verify other data.
				if key.HashAndVerifyLenient(append(slices.Clone(msg), 0), sig) == nil {
					t.Errorf("%s: signature verified for different message", name)
				}
			}
		})
	}
}

// Signatures made by atcrypto are always low-S: they verify with the strict
// verifier, for both curves.
func TestSignaturesAreLowS(t *testing.T) {
	k256, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		t.Fatal(err)
	}
	p256, err := atcrypto.GeneratePrivateKeyP256()
	if err != nil {
		t.Fatal(err)
	}
	for name, priv := range map[string]atcrypto.PrivateKey{"K-256": k256, "P-256": p256} {
		t.Run(name, func(t *testing.T) {
			pub, err := priv.PublicKey()
			if err != nil {
				t.Fatal(err)
			}
			for i := range 64 {
				msg := []byte(fmt.Sprintf("hearth commit %d", i))
				sig, err := priv.HashAndSign(msg)
				if err != nil {
					t.Fatal(err)
				}
				if len(sig) != 64 {
					t.Fatalf("signature length %d, want 64 (compact r||s)", len(sig))
				}
				if err := pub.HashAndVerify(msg, sig); err != nil {
					t.Fatalf("strict verify of own signature: %v", err)
				}
			}
		})
	}
}

type didKeyFixture struct {
	PrivateKeyBytesBase58 string `json:"privateKeyBytesBase58"`
	PrivateKeyBytesHex    string `json:"privateKeyBytesHex"`
	PublicDIDKey          string `json:"publicDidKey"`
}

func TestDIDKeyVectors(t *testing.T) {
	for _, batch := range []struct {
		file  string
		curve string
	}{
		{"crypto/w3c_didkey_P256.json", "P-256"},
		{"crypto/w3c_didkey_K256.json", "K-256"},
	} {
		t.Run(batch.curve, func(t *testing.T) {
			var fixtures []didKeyFixture
			readJSON(t, batch.file, &fixtures)
			if len(fixtures) == 0 {
				t.Fatal("no fixtures")
			}
			for _, fx := range fixtures {
				t.Run(fx.PublicDIDKey, func(t *testing.T) {
					var raw []byte
					var err error
					switch {
					case fx.PrivateKeyBytesBase58 != "":
						raw, err = base58.Decode(fx.PrivateKeyBytesBase58)
					case fx.PrivateKeyBytesHex != "":
						raw, err = hex.DecodeString(fx.PrivateKeyBytesHex)
					default:
						t.Fatal("fixture has no private key")
					}
					if err != nil {
						t.Fatal(err)
					}
					var priv atcrypto.PrivateKeyExportable
					if batch.curve == "P-256" {
						priv, err = atcrypto.ParsePrivateBytesP256(raw)
					} else {
						priv, err = atcrypto.ParsePrivateBytesK256(raw)
					}
					if err != nil {
						t.Fatalf("parsing private key: %v", err)
					}
					pub, err := priv.PublicKey()
					if err != nil {
						t.Fatal(err)
					}
					if got := pub.DIDKey(); got != fx.PublicDIDKey {
						t.Errorf("DIDKey() = %q, want %q", got, fx.PublicDIDKey)
					}
					parsed, err := atcrypto.ParsePublicDIDKey(fx.PublicDIDKey)
					if err != nil {
						t.Fatalf("ParsePublicDIDKey: %v", err)
					}
					if !parsed.Equal(pub) {
						t.Error("parsed did:key differs from derived public key")
					}
					if got := parsed.DIDKey(); got != fx.PublicDIDKey {
						t.Errorf("re-encoded did:key = %q, want %q", got, fx.PublicDIDKey)
					}
					// Private keys survive the multibase export Hearth uses
					// to store them.
					again, err := atcrypto.ParsePrivateMultibase(priv.Multibase())
					if err != nil {
						t.Fatalf("ParsePrivateMultibase: %v", err)
					}
					if !again.Equal(priv) {
						t.Error("private key changed through Multibase round trip")
					}
				})
			}
		})
	}
}
