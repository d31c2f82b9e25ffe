package store

import (
	"context"
	"path/filepath"
	"testing"
)

func TestOpenMigratesAndReopens(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hearth.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.SchemaVersion(ctx)
	if err != nil || v != len(ms) {
		t.Fatalf("schema version = %d, %v; want %d", v, err, len(ms))
	}
	var mode, sync string
	if err := s.W.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v", mode, err)
	}
	if err := s.W.QueryRow("PRAGMA synchronous").Scan(&sync); err != nil || sync != "2" {
		t.Fatalf("synchronous = %q, %v (want 2 = FULL)", sync, err)
	}
	if err := s.PutSetting(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.R.Exec("INSERT INTO setting(key, value) VALUES('x', 'y')"); err == nil {
		t.Fatal("reader pool accepted a write")
	}
	closeStore(t, s)

	s2, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer closeStore(t, s2)
	val, ok, err := s2.GetSetting(ctx, "k")
	if err != nil || !ok || string(val) != "v" {
		t.Fatalf("setting after reopen = %q %v %v", val, ok, err)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hearth.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.W.Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	closeStore(t, s)
	if _, err := Open(ctx, path); err == nil {
		t.Fatal("opened a database from a newer build")
	}
}

// closeStore closes s and fails the test (without stopping it) if that fails.
func closeStore(t *testing.T, s *Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Error(err)
	}
}
