package auth

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPassword(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := HashPassword("correct horse")
	if h == h2 {
		t.Fatal("same salt twice")
	}
	for _, tc := range []struct {
		hash, pw string
		ok       bool
	}{
		{h, "correct horse", true},
		{h, "correct horsE", false},
		{h, "", false},
		{"garbage", "correct horse", false},
		{"$argon2id$v=19$m=1,t=1,p=1$!!$!!", "x", false},
	} {
		if got := CheckPassword(tc.hash, tc.pw); got != tc.ok {
			t.Errorf("CheckPassword(%q, %q) = %v", tc.hash, tc.pw, got)
		}
	}
}

func TestTokens(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	iss := &Issuer{Secret: []byte("s3cret"), ServiceDID: "did:web:pds.test", AccessTTL: time.Minute, RefreshTTL: time.Hour, Now: func() time.Time { return now }}
	acc, err := iss.Access("did:plc:x", ScopeAccess)
	if err != nil {
		t.Fatal(err)
	}
	ref, _, err := iss.Refresh("did:plc:x", "jti1")
	if err != nil {
		t.Fatal(err)
	}
	other := &Issuer{Secret: []byte("other"), ServiceDID: "did:web:pds.test", AccessTTL: time.Minute, Now: iss.Now}
	forged, _ := other.Access("did:plc:x", ScopeAccess)
	if c, err := iss.ParseAccess(acc); err != nil || c.DID != "did:plc:x" {
		t.Fatalf("access: %v %v", c, err)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(acc, ".")[1])
	if !strings.Contains(string(payload), `"aud":"did:web:pds.test"`) {
		t.Fatalf("aud is not a single string: %s", payload)
	}
	otherAud := &Issuer{Secret: iss.Secret, ServiceDID: "did:web:elsewhere", Now: iss.Now}
	if _, err := otherAud.ParseAccess(acc); !errors.Is(err, ErrInvalid) {
		t.Fatalf("token for another audience: %v", err)
	}
	if c, err := iss.ParseRefresh(ref); err != nil || c.ID != "jti1" {
		t.Fatalf("refresh: %v %v", c, err)
	}
	cases := []struct {
		name string
		fn   func() error
		want error
	}{
		{"refresh as access", func() error { _, err := iss.ParseAccess(ref); return err }, ErrWrongType},
		{"access as refresh", func() error { _, err := iss.ParseRefresh(acc); return err }, ErrWrongType},
		{"garbage", func() error { _, err := iss.ParseAccess("abc.def.ghi"); return err }, ErrInvalid},
		{"forged", func() error { _, err := iss.ParseAccess(forged); return err }, ErrInvalid},
		{"expired", func() error {
			later := &Issuer{Secret: iss.Secret, ServiceDID: iss.ServiceDID, Now: func() time.Time { return now.Add(2 * time.Minute) }}
			_, err := later.ParseAccess(acc)
			return err
		}, ErrExpired},
	}
	for _, tc := range cases {
		if err := tc.fn(); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}
