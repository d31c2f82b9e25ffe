package plc

import (
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
)

func TestOpState(t *testing.T) {
	rot, _ := atcrypto.GeneratePrivateKeyK256()
	sig, _ := atcrypto.GeneratePrivateKeyK256()
	sigPub, _ := sig.PublicKey()
	extra, _ := atcrypto.GeneratePrivateKeyK256()
	extraPub, _ := extra.PublicKey()
	_, gen, err := GenesisOp(rot, sigPub, "a.test", "https://pds.example.com")
	if err != nil {
		t.Fatal(err)
	}
	st, err := OpState(gen)
	if err != nil || st.Handle != "a.test" || st.PDS != "https://pds.example.com" || st.SigningKey != sigPub.DIDKey() || len(st.RotationKeys) != 1 {
		t.Fatalf("genesis state = %+v %v", st, err)
	}
	up, err := UpdateOp(gen, rot, sigPub, "b.test", "https://other.example.com", []string{extraPub.DIDKey()})
	if err != nil {
		t.Fatal(err)
	}
	st, err = OpState(up)
	if err != nil || st.Handle != "b.test" || st.PDS != "https://other.example.com" || len(st.RotationKeys) != 2 || st.RotationKeys[1] != extraPub.DIDKey() {
		t.Fatalf("update state = %+v %v", st, err)
	}
	if _, err := OpState([]byte(`{"type":"plc_tombstone"`)); err == nil {
		t.Fatal("garbage accepted")
	}
}
