package store

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestBackgroundCheckpoints: the checkpointer runs, the WAL stays small under
// continuous writes, and every committed row is there after a reopen.
func TestBackgroundCheckpoints(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hearth.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, func(tx *Tx) error {
		_, err := tx.Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	const n = 3000
	val := bytes.Repeat([]byte("x"), 3000) // a page of its own per row
	maxWAL := int64(0)
	for i := 0; i < n; i++ {
		if err := s.Write(ctx, func(tx *Tx) error {
			_, err := tx.Exec("INSERT INTO t(v) VALUES(?)", val)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if i%100 == 0 {
			if st, err := os.Stat(path + "-wal"); err == nil && st.Size() > maxWAL {
				maxWAL = st.Size()
			}
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		runs, lastErr := s.CheckpointStats()
		if lastErr != nil {
			t.Fatal(lastErr)
		}
		if runs > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no background checkpoint ran")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Without checkpoints the WAL would hold every frame written: over
	// n * 4 KiB of row pages alone. With them it stays near SQLite's
	// 1000-page automatic checkpoint threshold.
	if written := int64(n) * 4096; maxWAL > written/2 {
		t.Fatalf("the WAL grew to %d bytes for %d bytes of row pages: checkpoints are not keeping up", maxWAL, written)
	}
	// A reader sees the data before the checkpoint folds it into the file.
	var got int
	if err := s.R.QueryRow("SELECT count(*) FROM t").Scan(&got); err != nil || got != n {
		t.Fatalf("count = %d, %v", got, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore(t, s2)
	if err := s2.R.QueryRow("SELECT count(*) FROM t").Scan(&got); err != nil || got != n {
		t.Fatalf("after reopen: count = %d, %v", got, err)
	}
}

// Closing twice is harmless, as it was before the checkpointer.
func TestCloseTwice(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "hearth.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // must not panic either
		t.Fatalf("second close: %v", err)
	}
}

// A panic inside a write transaction rolls it back, so the single writer
// connection is free for the next write.
func TestWritePanicRollsBack(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "hearth.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore(t, s)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic did not come through")
			}
		}()
		_ = s.Write(ctx, func(tx *Tx) error { // panics: checked above
			if _, err := tx.Exec("INSERT INTO setting(key, value) VALUES('lost', 'x')"); err != nil {
				t.Fatal(err)
			}
			panic("boom")
		})
	}()
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.PutSetting(wctx, "after", []byte("y")); err != nil {
		t.Fatalf("write after a panicking one: %v", err)
	}
	if _, ok, err := s.GetSetting(ctx, "lost"); err != nil || ok {
		t.Fatalf("the panicking transaction's row survived (ok=%v, err=%v)", ok, err)
	}
}
