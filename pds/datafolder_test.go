package pds_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds"
	"github.com/hearth-pds/hearth/pds/actorrepo"
	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/folder"
	"github.com/hearth-pds/hearth/pds/repos"
	"github.com/hearth-pds/hearth/pds/secrets"
	"github.com/hearth-pds/hearth/pds/store"
)

// openCfg is a config for pds.Open on dir with an unreachable PLC.
func openCfg(dir string) pds.Config {
	return pds.Config{DataDir: dir, PublicURL: "http://localhost:2583", PLCURL: "http://127.0.0.1:9", KeyStore: secrets.StoreFile}
}

func TestSecondOpenOfAFolderIsRefusedWithThePID(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e, err := pds.Open(ctx, openCfg(dir))
	if err != nil {
		t.Fatal(err)
	}
	_, err = pds.Open(ctx, openCfg(dir))
	if !errors.Is(err, errs.ErrFolderInUse) {
		t.Fatalf("second Open: %v, want ErrFolderInUse", err)
	}
	want := fmt.Sprintf("data folder %s is in use by another Hearth process (pid %d); stop it first", dir, os.Getpid())
	if err.Error() != want {
		t.Fatalf("second Open says %q, want %q", err, want)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	// Close released the folder.
	e, err = pds.Open(ctx, openCfg(dir))
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}

// modes lists every entry of dir whose mode is not owner-only.
func modes(t *testing.T, dir string) []string {
	t.Helper()
	var bad []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := folder.FileMode
		if d.IsDir() {
			want = folder.DirMode
		}
		if fi.Mode().Perm() != want {
			bad = append(bad, fmt.Sprintf("%s %o", path, fi.Mode().Perm()))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return bad
}

func TestDataFolderIsOwnerOnly(t *testing.T) {
	p := testpds.Start(t, nil)
	p.CreateAccount(t, "modes.test")
	dir := p.Config.DataDir
	if bad := modes(t, dir); len(bad) > 0 {
		t.Fatalf("a new folder has files others can read: %v", bad)
	}
	for _, f := range []string{"hearth.db", "hearth.db-wal", "hearth.lock", "hearth.state", "keys/data.key"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("expected %s: %v", f, err)
		}
	}
	// A folder from before: everything world-readable, no layout in the marker.
	p.Stop()
	// A blob folder and file as an older version may have left them.
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "did:plc:x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "blobs", "did:plc:x", "bafkrei"), []byte("blob"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.Chmod(path, 0o755)
		}
		return os.Chmod(path, 0o644)
	}); err != nil {
		t.Fatal(err)
	}
	if err := folder.WriteState(dir, folder.State{Accounts: 1}); err != nil {
		t.Fatal(err)
	}
	p.Restart(t)
	if bad := modes(t, dir); len(bad) > 0 {
		t.Fatalf("start-up left files others can read: %v", bad)
	}
}

// plainKeys rewrites the folder's private keys and session secret as the
// older versions stored them: plain.
func plainKeys(t *testing.T, dir string, keys map[string][2][]byte, jwt []byte) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dir, "hearth.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}()
	for did, k := range keys {
		if _, err := db.W.Exec("UPDATE account SET signing_key = ?, rotation_key = ? WHERE did = ?", k[0], k[1], did); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.W.Exec("UPDATE setting SET value = ? WHERE key = 'jwt_secret'", jwt); err != nil {
		t.Fatal(err)
	}
}

// storedSecrets reads the raw stored keys and session secret.
func storedSecrets(t *testing.T, dir string) (vals [][]byte) {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(dir, "hearth.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	rows, err := db.R.Query("SELECT signing_key, rotation_key FROM account")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var s, r []byte
		if err := rows.Scan(&s, &r); err != nil {
			t.Fatal(err)
		}
		vals = append(vals, s, r)
	}
	jwt, _, err := db.GetSetting(context.Background(), "jwt_secret")
	if err != nil {
		t.Fatal(err)
	}
	return append(vals, jwt)
}

func TestPlainKeysAreSealedAtStartAndStillSign(t *testing.T) {
	ctx := context.Background()
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "old.test")
	did := syntax.DID(a.DID)
	keys, err := p.Engine.Accounts.Keys(ctx, did)
	if err != nil {
		t.Fatal(err)
	}
	dir := p.Config.DataDir
	for i, v := range storedSecrets(t, dir) {
		if !secrets.IsSealed(v) {
			t.Fatalf("secret %d of a new account is stored plain", i)
		}
	}
	p.Stop()
	// The folder as an older Hearth left it (the session secret's plain
	// value is whatever; sessions are not what this checks).
	plainKeys(t, dir, map[string][2][]byte{a.DID: {keys.Signing.Bytes(), keys.Rotation.Bytes()}}, []byte("0123456789abcdef0123456789abcdef"))
	for i, v := range storedSecrets(t, dir) {
		if secrets.IsSealed(v) {
			t.Fatalf("setup: secret %d still sealed", i)
		}
	}
	for range 2 { // the migration is idempotent
		p = p.Restart(t)
		for i, v := range storedSecrets(t, dir) {
			if !secrets.IsSealed(v) {
				t.Fatalf("secret %d still plain after start-up", i)
			}
		}
	}
	_, err = p.Engine.Repos.ApplyWrites(ctx, did, []repos.Write{{Action: actorrepo.Create, Collection: "app.bsky.feed.post",
		Record: map[string]any{"$type": "app.bsky.feed.post", "text": "after sealing", "createdAt": syntax.DatetimeNow().String()}}}, repos.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p = p.Restart(t) // start-up verifies the new head's signature
	// The whole repo verifies against the DID document's signing key.
	if v := testpds.VerifyRepoCAR(t, p.Dir, p.GetRepo(t, a.DID, "")); len(v.Records) != 1 {
		t.Fatalf("repo holds %d records, want 1", len(v.Records))
	}
}
