package plc

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/did-method-plc/go-didplc/didplc"
)

type keys struct {
	rotation *atcrypto.PrivateKeyK256
	signing  atcrypto.PublicKey
}

func newKeys(t *testing.T) keys {
	t.Helper()
	rot, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		t.Fatal(err)
	}
	sig, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sig.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return keys{rotation: rot, signing: pub}
}

func didKey(t *testing.T, k atcrypto.PrivateKey) string {
	t.Helper()
	pub, err := k.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return pub.DIDKey()
}

func decode(t *testing.T, opJSON []byte) didplc.Operation {
	t.Helper()
	var op didplc.OpEnum
	if err := json.Unmarshal(opJSON, &op); err != nil {
		t.Fatalf("decode op: %v", err)
	}
	return op.AsOperation()
}

var didRE = regexp.MustCompile(`^did:plc:[a-z2-7]{24}$`)

func TestGenesisOp(t *testing.T) {
	k := newKeys(t)
	did, opJSON, err := GenesisOp(k.rotation, k.signing, "alice.example.com", "https://pds.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !didRE.MatchString(did) {
		t.Fatalf("DID %q does not look like did:plc", did)
	}
	op := decode(t, opJSON)
	reg, ok := op.(*didplc.RegularOp)
	if !ok {
		t.Fatalf("op is %T, want *RegularOp", op)
	}

	// The same signed op always yields the same DID, and it is what didplc computes.
	for i := range 2 {
		got, err := decode(t, opJSON).DID()
		if err != nil || got != did {
			t.Fatalf("round %d: DID = %q, %v; want %q", i, got, err, did)
		}
	}

	checks := []struct {
		name string
		ok   bool
	}{
		{"type", reg.Type == "plc_operation"},
		{"genesis", reg.IsGenesis() && reg.Prev == nil},
		{"alsoKnownAs", len(reg.AlsoKnownAs) == 1 && reg.AlsoKnownAs[0] == "at://alice.example.com"},
		{"rotationKeys", len(reg.RotationKeys) == 1 && reg.RotationKeys[0] == didKey(t, k.rotation)},
		{"verificationMethods", len(reg.VerificationMethods) == 1 && reg.VerificationMethods["atproto"] == k.signing.DIDKey()},
		{"services", reg.Services["atproto_pds"] == didplc.OpService{Type: "AtprotoPersonalDataServer", Endpoint: "https://pds.example.com"}},
		{"prev serialized as null", strings.Contains(string(opJSON), `"prev":null`)},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: unexpected op %s", c.name, opJSON)
		}
	}

	// Signature verifies with the rotation key (and only with it), the way the directory checks it.
	if idx, err := didplc.VerifySignatureAny(op, reg.RotationKeys); err != nil || idx != 0 {
		t.Errorf("VerifySignatureAny = %d, %v", idx, err)
	}
	if err := op.VerifySignature(k.signing); !errors.Is(err, atcrypto.ErrInvalidSignature) {
		t.Errorf("verify with signing key: %v, want ErrInvalidSignature", err)
	}
	entry := didplc.LogEntry{DID: did, Operation: *op.AsOpEnum(), CID: op.CID().String()}
	if err := entry.Validate(); err != nil {
		t.Errorf("LogEntry.Validate: %v", err)
	}
}

func TestGenesisOpDistinct(t *testing.T) {
	k := newKeys(t)
	did1, _, err := GenesisOp(k.rotation, k.signing, "alice.example.com", "https://pds.example.com")
	if err != nil {
		t.Fatal(err)
	}
	did2, _, err := GenesisOp(k.rotation, k.signing, "bob.example.com", "https://pds.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if did1 == did2 {
		t.Fatalf("different genesis ops gave the same DID %s", did1)
	}
}

func TestGenesisOpInvalidInput(t *testing.T) {
	k := newKeys(t)
	tests := []struct {
		name     string
		rotation atcrypto.PrivateKey
		signing  atcrypto.PublicKey
		handle   string
		pdsURL   string
	}{
		{"no rotation key", nil, k.signing, "alice.example.com", "https://pds.example.com"},
		{"no signing key", k.rotation, nil, "alice.example.com", "https://pds.example.com"},
		{"empty handle", k.rotation, k.signing, "", "https://pds.example.com"},
		{"handle with scheme", k.rotation, k.signing, "at://alice.example.com", "https://pds.example.com"},
		{"empty pds", k.rotation, k.signing, "alice.example.com", ""},
		{"pds without scheme", k.rotation, k.signing, "alice.example.com", "pds.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := GenesisOp(tt.rotation, tt.signing, tt.handle, tt.pdsURL); err == nil {
				t.Fatal("expected an error")
			}
		})
	}
}

func TestUpdateOp(t *testing.T) {
	k := newKeys(t)
	_, genesis, err := GenesisOp(k.rotation, k.signing, "alice.example.com", "http://127.0.0.1:2583")
	if err != nil {
		t.Fatal(err)
	}
	genesisCID, err := OpCID(genesis)
	if err != nil {
		t.Fatal(err)
	}
	if genesisCID != decode(t, genesis).CID().String() {
		t.Fatalf("OpCID %s differs from didplc CID", genesisCID)
	}
	extra := didKey(t, newKeys(t).rotation)
	other := newKeys(t)

	tests := []struct {
		name     string
		extra    []string
		handle   string
		pds      string
		wantRot  []string
		signKey  atcrypto.PublicKey
		wantFail bool
	}{
		{name: "move pds", handle: "alice.example.com", pds: "https://alice.example.net", signKey: k.signing,
			wantRot: []string{didKey(t, k.rotation)}},
		{name: "new handle and extra rotation key", handle: "alice.example.org", pds: "http://127.0.0.1:2583", signKey: k.signing,
			extra: []string{extra, extra}, wantRot: []string{didKey(t, k.rotation), extra}},
		{name: "a key ranked above Hearth's keeps its rank", handle: "alice.example.org", pds: "http://127.0.0.1:2583", signKey: k.signing,
			extra: []string{extra, didKey(t, k.rotation), extra}, wantRot: []string{extra, didKey(t, k.rotation)}},
		{name: "rotate signing key", handle: "alice.example.com", pds: "http://127.0.0.1:2583", signKey: other.signing,
			wantRot: []string{didKey(t, k.rotation)}},
		{name: "bad extra key", handle: "alice.example.com", pds: "http://127.0.0.1:2583", signKey: k.signing,
			extra: []string{"did:key:nope"}, wantFail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opJSON, err := UpdateOp(genesis, k.rotation, tt.signKey, tt.handle, tt.pds, tt.extra)
			if tt.wantFail {
				if err == nil {
					t.Fatal("expected an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			op := decode(t, opJSON)
			reg := op.(*didplc.RegularOp)
			if op.PrevCIDStr() != genesisCID {
				t.Errorf("prev = %q, want %q", op.PrevCIDStr(), genesisCID)
			}
			if strings.Join(reg.RotationKeys, ",") != strings.Join(tt.wantRot, ",") {
				t.Errorf("rotationKeys = %v, want %v", reg.RotationKeys, tt.wantRot)
			}
			if reg.AlsoKnownAs[0] != "at://"+tt.handle || reg.Services["atproto_pds"].Endpoint != tt.pds ||
				reg.VerificationMethods["atproto"] != tt.signKey.DIDKey() {
				t.Errorf("unexpected op %s", opJSON)
			}
			// Signed by a rotation key of the genesis op: what the directory requires.
			if _, err := didplc.VerifySignatureAny(op, decode(t, genesis).EquivalentRotationKeys()); err != nil {
				t.Errorf("update not signed by a genesis rotation key: %v", err)
			}
		})
	}
}

func TestUpdateOpKeepsUnrelatedFields(t *testing.T) {
	k := newKeys(t)
	prev := &didplc.RegularOp{
		Type:                "plc_operation",
		RotationKeys:        []string{didKey(t, k.rotation)},
		VerificationMethods: map[string]string{"atproto": k.signing.DIDKey(), "labeler": k.signing.DIDKey()},
		AlsoKnownAs:         []string{"at://old.example.com", "https://alice.example.com/profile"},
		Services: map[string]didplc.OpService{
			"atproto_pds":     {Type: "AtprotoPersonalDataServer", Endpoint: "https://old.example.com"},
			"atproto_labeler": {Type: "AtprotoLabeler", Endpoint: "https://labeler.example.com"},
		},
	}
	if err := prev.Sign(k.rotation); err != nil {
		t.Fatal(err)
	}
	prevJSON, err := json.Marshal(prev)
	if err != nil {
		t.Fatal(err)
	}
	opJSON, err := UpdateOp(prevJSON, k.rotation, k.signing, "new.example.com", "https://new.example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := decode(t, opJSON).(*didplc.RegularOp)
	if got := strings.Join(reg.AlsoKnownAs, " "); got != "at://new.example.com https://alice.example.com/profile" {
		t.Errorf("alsoKnownAs = %s", got)
	}
	if reg.Services["atproto_labeler"].Endpoint != "https://labeler.example.com" || reg.VerificationMethods["labeler"] == "" {
		t.Errorf("unrelated entries dropped: %s", opJSON)
	}
}

func TestTamperedOpFailsVerification(t *testing.T) {
	k := newKeys(t)
	did, genesis, err := GenesisOp(k.rotation, k.signing, "alice.example.com", "https://pds.example.com")
	if err != nil {
		t.Fatal(err)
	}
	tamper := []struct {
		name string
		edit func(op *didplc.RegularOp)
	}{
		{"handle", func(op *didplc.RegularOp) { op.AlsoKnownAs = []string{"at://mallory.example.com"} }},
		{"pds", func(op *didplc.RegularOp) {
			op.Services["atproto_pds"] = didplc.OpService{Type: "AtprotoPersonalDataServer", Endpoint: "https://evil.example.com"}
		}},
		{"signing key", func(op *didplc.RegularOp) { op.VerificationMethods["atproto"] = didKey(t, newKeys(t).rotation) }},
		{"rotation keys", func(op *didplc.RegularOp) { op.RotationKeys = append(op.RotationKeys, didKey(t, newKeys(t).rotation)) }},
	}
	for _, tt := range tamper {
		t.Run(tt.name, func(t *testing.T) {
			reg := decode(t, genesis).(*didplc.RegularOp)
			tt.edit(reg)
			if _, err := didplc.VerifySignatureAny(reg, []string{didKey(t, k.rotation)}); !errors.Is(err, atcrypto.ErrInvalidSignature) {
				t.Errorf("VerifySignatureAny = %v, want ErrInvalidSignature", err)
			}
			// The DID no longer matches either, so the directory refuses it as a genesis for did.
			entry := didplc.LogEntry{DID: did, Operation: *reg.AsOpEnum(), CID: reg.CID().String()}
			if err := entry.Validate(); err == nil {
				t.Error("tampered genesis validated")
			}
		})
	}
}

func TestOpCIDErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"not json", "nope"},
		{"no type", `{"prev":null}`},
		{"unknown type", `{"type":"plc_banana"}`},
		{"unknown field", `{"type":"plc_tombstone","prev":"x","sig":"y","extra":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := OpCID([]byte(tt.in)); err == nil {
				t.Fatal("expected an error")
			}
		})
	}
}
