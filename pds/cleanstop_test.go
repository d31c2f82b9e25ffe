package pds_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hearth-pds/hearth/pds"
	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/folder"
)

// TestQuickCheckSkippedOnlyAfterACleanStop: a start after a clean stop,
// with the database file exactly as that stop left it, skips the
// full-file quick_check (seconds at a million records); while the engine
// runs, hearth.state says nothing is clean (a crash then gets the full
// check); and a database changed after the clean stop — here a page in
// the middle overwritten, size kept — is checked in full and refused.
func TestQuickCheckSkippedOnlyAfterACleanStop(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	cfg := openCfg(dir)
	e, err := pds.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !e.QuickChecked() {
		t.Error("a new folder's first start skipped the check")
	}
	if _, err := e.CreateAccount(ctx, pds.NewAccount{Handle: "clean.test", Password: "password1"}); err != nil {
		t.Fatal(err)
	}
	if st, err := folder.ReadState(dir); err != nil || st.Clean != nil {
		t.Fatalf("while running, hearth.state = %+v, %v: a crash now must not look clean", st, err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := folder.ReadState(dir)
	if err != nil || st.Clean == nil {
		t.Fatalf("after a clean stop, hearth.state = %+v, %v", st, err)
	}

	// Unchanged since the clean stop: no quick_check.
	e, err = pds.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if e.QuickChecked() {
		t.Error("the start after a clean stop ran the full check")
	}
	if st, err := folder.ReadState(dir); err != nil || st.Clean != nil {
		t.Fatalf("after a start, hearth.state = %+v, %v", st, err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	// Damage a page in the middle, keeping the size; the modification
	// time moves (as any write does), so the full check runs and refuses.
	path := filepath.Join(dir, folder.DatabaseFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096
	if fi.Size() < 4*page {
		t.Fatalf("database of %d bytes is too small for this test", fi.Size())
	}
	// The last page's b-tree header says "page type 0xff".
	if _, err := f.WriteAt([]byte{0xff}, fi.Size()-page); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	later := fi.ModTime().Add(2 * time.Second)
	if err := os.Chtimes(path, later, later); err != nil { // coarse clocks: make the change visible
		t.Fatal(err)
	}
	e, err = pds.Open(ctx, cfg)
	if err == nil {
		_ = e.Close()
		t.Fatal("started on a database damaged after a clean stop")
	}
	if !errors.Is(err, errs.ErrDataDamaged) || !strings.Contains(err.Error(), "quick_check") {
		t.Fatalf("error %v is not ErrDataDamaged from quick_check", err)
	}
}
