package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/hearth-pds/hearth/pds/errs"
)

// TestStreamSnapshotsAreBounded: streamed reads take at most MaxLongReads
// read connections; one more is refused with ErrRateLimited after the
// wait, the short reads (and writes) still go through, and a rollback frees
// a slot.
func TestStreamSnapshotsAreBounded(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "hearth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	s.SetLongReadWait(50 * time.Millisecond)
	if err := s.PutSetting(ctx, "k", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	var open []*Tx
	for i := 0; i < MaxLongReads; i++ {
		tx, err := s.StreamSnapshot(ctx)
		if err != nil {
			t.Fatalf("streamed read %d: %v", i, err)
		}
		if _, _, err := tx.Setting("k"); err != nil { // holds its connection from here
			t.Fatal(err)
		}
		open = append(open, tx)
	}
	if got := s.LongReadsInUse(); got != MaxLongReads {
		t.Fatalf("LongReadsInUse = %d, want %d", got, MaxLongReads)
	}
	cases := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"waits, then refused", func() (context.Context, context.CancelFunc) { return context.WithCancel(ctx) }, errs.ErrRateLimited},
		{"caller gives up first", func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, time.Millisecond) }, context.DeadlineExceeded},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cctx, cancel := c.ctx()
			defer cancel()
			if _, err := s.StreamSnapshot(cctx); !errors.Is(err, c.want) {
				t.Fatalf("streamed read beyond the cap: %v, want %v", err, c.want)
			}
		})
	}
	// Short reads and writes are not held up by the streamed ones.
	if err := s.PutSetting(ctx, "k", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if v, _, err := s.GetSetting(ctx, "k"); err != nil || string(v) != "v2" {
		t.Fatalf("short read during streamed reads: %q, %v", v, err)
	}
	// The streamed reads keep their snapshot.
	if v, _, err := open[0].Setting("k"); err != nil || string(v) != "v1" {
		t.Fatalf("streamed read saw %q, %v; want its snapshot's v1", v, err)
	}
	// A rollback gives the slot back (twice is harmless).
	_ = open[0].Rollback()
	_ = open[0].Rollback()
	tx, err := s.StreamSnapshot(ctx)
	if err != nil {
		t.Fatalf("after a rollback: %v", err)
	}
	open[0] = tx
	if got := s.LongReadsInUse(); got != MaxLongReads {
		t.Fatalf("LongReadsInUse = %d after rollback and reopen, want %d", got, MaxLongReads)
	}
	for _, tx := range open {
		_ = tx.Rollback()
	}
	if got := s.LongReadsInUse(); got != 0 {
		t.Fatalf("LongReadsInUse = %d after every rollback", got)
	}
}
