package k256_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/repo"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/hearth-pds/hearth/pds/k256"
)

// Every signature must verify under atcrypto, which rejects high-S
// signatures, for many keys and messages; signing is deterministic.
func TestSignaturesVerifyWithAtcrypto(t *testing.T) {
	for i := 0; i < 20; i++ {
		k, err := atcrypto.GeneratePrivateKeyK256()
		if err != nil {
			t.Fatal(err)
		}
		s := k256.New(k)
		pub, err := s.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		for j := 0; j < 50; j++ {
			msg := make([]byte, 1+j*7)
			rand.Read(msg)
			sig, err := s.HashAndSign(msg)
			if err != nil {
				t.Fatal(err)
			}
			if len(sig) != 64 {
				t.Fatalf("signature is %d bytes", len(sig))
			}
			if err := pub.HashAndVerify(msg, sig); err != nil {
				t.Fatalf("key %d msg %d: atcrypto refuses the signature: %v", i, j, err)
			}
			if err := pub.HashAndVerifyLenient(msg, sig); err != nil {
				t.Fatalf("lenient verify: %v", err)
			}
			again, _ := s.HashAndSign(msg)
			if !bytes.Equal(sig, again) {
				t.Fatal("signing is not deterministic (RFC 6979)")
			}
			msg[0] ^= 1
			if pub.HashAndVerify(msg, sig) == nil {
				t.Fatal("a signature verified for a different message")
			}
		}
	}
}

func TestKeyRoundTripAndEqual(t *testing.T) {
	k, _ := atcrypto.GeneratePrivateKeyK256()
	s, err := k256.Parse(k.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	other, _ := atcrypto.GeneratePrivateKeyK256()
	cases := []struct {
		name string
		b    atcrypto.PrivateKey
		want bool
	}{
		{"same atcrypto key", k, true},
		{"same key as Signer", k256.New(k), true},
		{"other key", other, false},
		{"other Signer", k256.New(other), false},
	}
	for _, tc := range cases {
		if got := s.Equal(tc.b); got != tc.want {
			t.Errorf("%s: Equal = %v", tc.name, got)
		}
	}
	if !bytes.Equal(s.Bytes(), k.Bytes()) || s.Multibase() != k.Multibase() {
		t.Fatal("encodings differ from atcrypto's")
	}
	if _, err := k256.Parse([]byte("short")); err == nil {
		t.Fatal("a 5-byte key parsed")
	}
}

// A commit signed through indigo's repo.Commit with a Signer verifies with
// indigo's VerifySignature.
func TestSignsRepoCommits(t *testing.T) {
	k, _ := atcrypto.GeneratePrivateKeyK256()
	s := k256.New(k)
	pub, _ := s.PublicKey()
	for i := 0; i < 10; i++ {
		data, err := cid.V1Builder{Codec: cid.DagCBOR, MhType: multihash.SHA2_256}.Sum([]byte(fmt.Sprint("root ", i)))
		if err != nil {
			t.Fatal(err)
		}
		c := repo.Commit{DID: "did:plc:abcdefghijklmnopqrstuvwx", Version: repo.ATPROTO_REPO_VERSION, Data: data, Rev: fmt.Sprintf("3n2vaaaaaaa%02d", i)}
		if err := c.Sign(s); err != nil {
			t.Fatal(err)
		}
		if err := c.VerifySignature(pub); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	k, _ := atcrypto.GeneratePrivateKeyK256()
	s := k256.New(k)
	msg := bytes.Repeat([]byte("commit"), 30)
	b.Run("decred", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := s.HashAndSign(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("atcrypto", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := k.HashAndSign(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}
