package pds_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds"
	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/store"
)

// stoppedFolder returns the data folder of a PDS that held one account and
// has been stopped, and that account's DID.
func stoppedFolder(t *testing.T) (*testpds.PDS, string) {
	t.Helper()
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "safe.test")
	p.Stop()
	return p, a.DID
}

func sqlOn(t *testing.T, dir, q string, args ...any) {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(dir, "hearth.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.W.Exec(q, args...); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestStartRefusesLostOrDamagedData(t *testing.T) {
	removeDB := func(t *testing.T, dir string) {
		for _, f := range []string{"hearth.db", "hearth.db-wal", "hearth.db-shm"} {
			if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		name   string
		damage func(t *testing.T, dir, did string)
		want   string
	}{
		{"missing database", func(t *testing.T, dir, _ string) { removeDB(t, dir) }, "is missing, but this folder held 1 account(s)"},
		{"empty database", func(t *testing.T, dir, _ string) {
			removeDB(t, dir)
			if err := os.WriteFile(filepath.Join(dir, "hearth.db"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "is empty (0 bytes)"},
		{"corrupt database", func(t *testing.T, dir, _ string) {
			f, err := os.OpenFile(filepath.Join(dir, "hearth.db"), os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte(strings.Repeat("garbage!", 16)), 0); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		}, "cannot be opened"},
		{"database without accounts", func(t *testing.T, dir, _ string) {
			removeDB(t, dir)
			sqlOn(t, dir, "SELECT 1") // a new, valid, empty database
		}, "holds no accounts, but this folder held 1"},
		{"head commit block missing", func(t *testing.T, dir, did string) {
			sqlOn(t, dir, "UPDATE repo_root SET commit_bytes = x'' WHERE did = ?", did)
		}, "the head commit block is missing"},
		{"repo head missing", func(t *testing.T, dir, did string) {
			sqlOn(t, dir, "DELETE FROM repo_root WHERE did = ?", did)
		}, "no repository head"},
		{"head of another commit", func(t *testing.T, dir, did string) {
			sqlOn(t, dir, "UPDATE repo_root SET commit_cid = 'bafyreib2rxk3rybk3aobmv5cjuql3bm2twh4jo5uxgf5ghjiwqalqsxmuy' WHERE did = ?", did)
		}, "repo_root names bafyreib2rxk"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, did := stoppedFolder(t)
			dir := p.Config.DataDir
			tc.damage(t, dir, did)
			cfg := p.Config
			e, err := pds.Open(context.Background(), cfg)
			if err == nil {
				_ = e.Close()
				t.Fatal("started on damaged data")
			}
			if !errors.Is(err, errs.ErrDataDamaged) {
				t.Fatalf("error %v is not ErrDataDamaged", err)
			}
			msg := err.Error()
			for _, w := range []string{tc.want, "Restore the folder from a backup", filepath.Join(dir, "hearth.db")} {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not say %q", msg, w)
				}
			}
			if strings.Contains(tc.name, "head") && !strings.Contains(msg, did) {
				t.Errorf("message %q does not name the account %s", msg, did)
			}
			// The refusal released the folder and changed nothing: a
			// second try says the same.
			if _, err2 := pds.Open(context.Background(), cfg); err2 == nil || err2.Error() != msg {
				t.Fatalf("second try: %v", err2)
			}
		})
	}
}

func TestFreshFolderStartsAndRemembersAccounts(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "new")
	e, err := pds.Open(ctx, openCfg(dir))
	if err != nil {
		t.Fatalf("fresh folder: %v", err)
	}
	if _, err := e.CreateAccount(ctx, pds.NewAccount{Handle: "fresh.test", Password: "password1"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "hearth.state"))
	if err != nil || !strings.Contains(string(b), `"accounts":1`) {
		t.Fatalf("hearth.state = %q, %v", b, err)
	}
	e, err = pds.Open(ctx, openCfg(dir))
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}
