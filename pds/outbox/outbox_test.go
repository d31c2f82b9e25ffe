package outbox_test

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/folder"
	"github.com/hearth-pds/hearth/pds/outbox"
	"github.com/hearth-pds/hearth/pds/store"
)

var ctx = context.Background()

const alice = syntax.DID("did:plc:aliceaaaaaaaaaaaaaaaaaaa")

// open makes a folder with a migrated database holding alice's account
// row (the outbox's rows belong to an account).
func open(t *testing.T) (string, *store.Store) {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(ctx, filepath.Join(dir, folder.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	err = db.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(`INSERT INTO account(did, handle, password_hash, signing_key, rotation_key, created_at)
			VALUES(?, 'alice.test', 'x', x'00', x'00', '2025-01-01T00:00:00Z')`, alice.String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir, db
}

func use(o *outbox.Outbox, db *store.Store, did syntax.DID, p outbox.Purpose, tok string) (outbox.Message, error) {
	var m outbox.Message
	err := db.Write(ctx, func(tx *store.Tx) error {
		var err error
		m, err = o.Use(tx, did, p, tok)
		return err
	})
	return m, err
}

func TestIssueAndUse(t *testing.T) {
	dir, db := open(t)
	now := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	var heard []outbox.Message
	o := outbox.New(db, func(m outbox.Message) { heard = append(heard, m) })
	o.Now = func() time.Time { return now }

	m, err := o.IssueNow(ctx, alice, outbox.PurposePLCOperation, "a@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[A-Z2-7]{5}-[A-Z2-7]{5}$`).MatchString(m.Token) {
		t.Errorf("token %q is not shaped XXXXX-XXXXX", m.Token)
	}
	if len(heard) != 1 || heard[0].Token != m.Token {
		t.Errorf("notified %+v, want the new message", heard)
	}
	if m.ExpiresAt != now.Add(outbox.TTL).Format(time.RFC3339Nano) {
		t.Errorf("expires_at = %s", m.ExpiresAt)
	}
	// The CLI's read-only view sees it while the store is open.
	got, err := outbox.ListFolder(ctx, dir, "")
	if err != nil || len(got) != 1 || got[0] != m {
		t.Fatalf("ListFolder = %+v, %v; want [%+v]", got, err, m)
	}

	tests := []struct {
		name    string
		did     syntax.DID
		purpose outbox.Purpose
		token   string
		wantErr error
	}{
		{"empty", alice, outbox.PurposePLCOperation, " ", errs.ErrInvalidRequest},
		{"wrong token", alice, outbox.PurposePLCOperation, "AAAAA-AAAAA", errs.ErrInvalidToken},
		{"other purpose", alice, outbox.PurposeDeleteAccount, m.Token, errs.ErrInvalidToken},
		{"other account", "did:plc:bobbbbbbbbbbbbbbbbbbbbbb", outbox.PurposePLCOperation, m.Token, errs.ErrInvalidToken},
		{"lower case works", alice, outbox.PurposePLCOperation, " " + toLower(m.Token) + "\n", nil},
		{"used once", alice, outbox.PurposePLCOperation, m.Token, errs.ErrInvalidToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := use(o, db, tc.did, tc.purpose, tc.token)
			if tc.wantErr == nil {
				if err != nil || got.Email != "a@example.com" {
					t.Fatalf("Use = %+v, %v", got, err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Use = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func toLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

func TestExpiryReplaceAndOwner(t *testing.T) {
	_, db := open(t)
	now := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	o := outbox.New(db, nil)
	o.Now = func() time.Time { return now }
	first, err := o.IssueNow(ctx, alice, outbox.PurposeResetPassword, "")
	if err != nil {
		t.Fatal(err)
	}
	second, err := o.IssueNow(ctx, alice, outbox.PurposeResetPassword, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := use(o, db, alice, outbox.PurposeResetPassword, first.Token); !errors.Is(err, errs.ErrInvalidToken) && first.Token != second.Token {
		t.Errorf("a replaced token still works: %v", err)
	}
	if did, err := o.Owner(ctx, outbox.PurposeResetPassword, toLower(second.Token)); err != nil || did != alice {
		t.Errorf("Owner = %s, %v", did, err)
	}
	if _, err := o.Owner(ctx, outbox.PurposeResetPassword, "BBBBB-BBBBB"); !errors.Is(err, errs.ErrInvalidToken) {
		t.Errorf("Owner of an unknown token = %v", err)
	}
	now = now.Add(outbox.TTL)
	if _, err := use(o, db, alice, outbox.PurposeResetPassword, second.Token); !errors.Is(err, errs.ErrExpiredToken) {
		t.Errorf("an expired token: %v", err)
	}
	list, err := o.List(ctx, alice)
	if err != nil || len(list) != 1 || !list[0].Expired(now) {
		t.Errorf("List = %+v, %v; want the expired token still shown", list, err)
	}
	// Deleting the account empties its outbox.
	err = db.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec("DELETE FROM account WHERE did = ?", alice.String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if list, _ := o.List(ctx, ""); len(list) != 0 {
		t.Errorf("outbox after deleting the account: %+v", list)
	}
}

func TestListFolderRefusesNonHearthFolders(t *testing.T) {
	if _, err := outbox.ListFolder(ctx, t.TempDir(), ""); !errors.Is(err, errs.ErrInvalidRequest) {
		t.Errorf("an empty folder: %v", err)
	}
}
