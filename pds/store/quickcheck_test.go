package store

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkQuickCheck100k measures the start-up PRAGMA quick_check on a
// database holding 100,000 records of about 300 bytes.
func BenchmarkQuickCheck100k(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "hearth.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	body := make([]byte, 300)
	err = s.Write(ctx, func(tx *Tx) error {
		for i := range 100_000 {
			_, _ = rand.Read(body)
			if _, err := tx.Exec("INSERT INTO record(did, collection, rkey, cid, rev, bytes) VALUES(?, ?, ?, ?, ?, ?)",
				"did:plc:bench", "app.bsky.feed.post", fmt.Sprintf("%013d", i), fmt.Sprintf("bafy%d", i), "rev", body); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if p, err := s.QuickCheck(ctx); err != nil || len(p) > 0 {
			b.Fatal(p, err)
		}
	}
}

func TestQuickCheckFindsNothingInASoundDatabase(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "hearth.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if p, err := s.QuickCheck(context.Background()); err != nil || len(p) > 0 {
		t.Fatalf("quick_check: %v %v", p, err)
	}
}
