package plc_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"

	"github.com/hearth-pds/hearth/pds/plc"
)

func TestSignUpdate(t *testing.T) {
	rot, _ := atcrypto.GeneratePrivateKeyK256()
	sign, _ := atcrypto.GeneratePrivateKeyK256()
	signPub, _ := sign.PublicKey()
	user, _ := atcrypto.GeneratePrivateKeyK256()
	userPub, _ := user.PublicKey()
	rotPub, _ := rot.PublicKey()
	_, genesis, err := plc.GenesisOp(rot, signPub, "a.test", "https://old.example.com")
	if err != nil {
		t.Fatal(err)
	}
	prev, err := plc.UpdateOp(genesis, rot, signPub, "a.test", "https://old.example.com", []string{userPub.DIDKey()})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := atcrypto.GeneratePrivateKeyK256()
	tests := []struct {
		name     string
		key      atcrypto.PrivateKey
		f        plc.Fields
		wantRot  []string
		wantPDS  string
		wantErr  bool
		notRotor bool
	}{
		{"nothing set keeps everything", rot, plc.Fields{}, []string{rotPub.DIDKey(), userPub.DIDKey()}, "https://old.example.com", false, false},
		{"a new PDS keeps the user's key", rot, plc.Fields{Services: map[string]plc.Service{"atproto_pds": {Type: plc.ServiceTypePDS, Endpoint: "https://new.example.com"}}},
			[]string{rotPub.DIDKey(), userPub.DIDKey()}, "https://new.example.com", false, false},
		{"rotation keys as asked", rot, plc.Fields{RotationKeys: []string{userPub.DIDKey()}}, []string{userPub.DIDKey()}, "https://old.example.com", false, false},
		{"a key that is not a rotation key", other, plc.Fields{}, nil, "", true, true},
		{"bad did:key", rot, plc.Fields{RotationKeys: []string{"did:key:zzz"}}, nil, "", true, false},
		{"bad endpoint", rot, plc.Fields{Services: map[string]plc.Service{"atproto_pds": {Endpoint: "ftp://x"}}}, nil, "", true, false},
		{"too many keys", rot, plc.Fields{RotationKeys: slices.Repeat([]string{userPub.DIDKey()}, 6)}, nil, "", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op, err := plc.SignUpdate(prev, tc.key, tc.f)
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				if tc.notRotor != errors.Is(err, plc.ErrNotRotationKey) {
					t.Fatalf("error %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			st, err := plc.OpState(op)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(st.RotationKeys, tc.wantRot) || st.PDS != tc.wantPDS || st.Handle != "a.test" || st.SigningKey != signPub.DIDKey() {
				t.Fatalf("state %+v", st)
			}
		})
	}
}
