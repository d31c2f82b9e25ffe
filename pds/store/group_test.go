package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// holdWriter starts a Write whose function blocks until release is
// called, so that the Writes started meanwhile queue up behind it and go
// together in the next group.
func holdWriter(t *testing.T, s *Store) (release func(), wait func()) {
	t.Helper()
	entered, gate := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := s.Write(context.Background(), func(tx *Tx) error {
			close(entered)
			<-gate
			return tx.PutSetting("holder", []byte("x"))
		})
		if err != nil {
			t.Error(err)
		}
	}()
	<-entered
	return func() { close(gate) }, wg.Wait
}

// waitQueued waits until n Writes are queued (no fixed sleep: the
// goroutines are scheduled whenever the machine lets them).
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		s.group.mu.Lock()
		got := len(s.group.queue)
		s.group.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "hearth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeStore(t, s) })
	return s
}

// Concurrent writes share one transaction, and each keeps its own outcome:
// a failed function's changes are undone alone, the others are stored and
// their OnCommit functions run, in queue order.
func TestGroupCommitKeepsEachWritesOutcome(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	commits0, writes0 := s.GroupStats()
	release, waitHolder := holdWriter(t, s)

	const n = 40
	fail := func(i int) bool { return i%3 == 0 }
	errBad := errors.New("refused on purpose")
	var (
		mu      sync.Mutex
		order   []int // OnCommit calls
		wg      sync.WaitGroup
		results = make([]error, n)
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = s.Write(ctx, func(tx *Tx) error {
				if err := tx.PutSetting(fmt.Sprintf("g%02d", i), []byte("v")); err != nil {
					return err
				}
				tx.OnCommit(func() {
					mu.Lock()
					order = append(order, i)
					mu.Unlock()
				})
				if fail(i) {
					return errBad
				}
				return nil
			})
		}()
	}
	waitQueued(t, s, n)
	release()
	wg.Wait()
	waitHolder()

	want := 0
	for i := range n {
		v, ok, err := s.GetSetting(ctx, fmt.Sprintf("g%02d", i))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case fail(i) && !errors.Is(results[i], errBad):
			t.Errorf("write %d: err = %v, want its own error", i, results[i])
		case fail(i) && ok:
			t.Errorf("write %d failed but its row %q is stored", i, v)
		case !fail(i) && results[i] != nil:
			t.Errorf("write %d: %v", i, results[i])
		case !fail(i) && !ok:
			t.Errorf("write %d succeeded but its row is missing", i)
		}
		if !fail(i) {
			want++
		}
	}
	if len(order) != want {
		t.Fatalf("%d OnCommit calls, want %d (one per successful write)", len(order), want)
	}
	seen := map[int]bool{}
	for _, i := range order {
		if fail(i) || seen[i] {
			t.Fatalf("OnCommit ran for write %d (failed or twice): %v", i, order)
		}
		seen[i] = true
	}
	commits, writes := s.GroupStats()
	// The holder's commit, then the queued writes in groups of at most
	// MaxGroup: here one group.
	if got := commits - commits0; got != 2 {
		t.Errorf("%d commits for the holder and %d queued writes, want 2", got, n)
	}
	if got := writes - writes0; got != int64(want+1) {
		t.Errorf("%d writes committed, want %d", got, want+1)
	}
}

// A function that panics inside a group is rolled back alone; the panic
// reaches its own caller, and the others commit.
func TestGroupCommitPanicStaysWithItsCaller(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	release, waitHolder := holdWriter(t, s)
	var wg sync.WaitGroup
	var panicked any
	var okErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer func() { panicked = recover() }()
		_ = s.Write(ctx, func(tx *Tx) error {
			if err := tx.PutSetting("panicker", []byte("v")); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	waitQueued(t, s, 1)
	go func() {
		defer wg.Done()
		okErr = s.Write(ctx, func(tx *Tx) error { return tx.PutSetting("fine", []byte("v")) })
	}()
	waitQueued(t, s, 2)
	release()
	wg.Wait()
	waitHolder()
	if panicked != "boom" {
		t.Fatalf("the panicking caller got %v, want its panic", panicked)
	}
	if okErr != nil {
		t.Fatalf("the other write failed: %v", okErr)
	}
	for key, want := range map[string]bool{"panicker": false, "fine": true, "holder": true} {
		if _, ok, err := s.GetSetting(ctx, key); err != nil || ok != want {
			t.Errorf("setting %s stored = %v (%v), want %v", key, ok, err, want)
		}
	}
	// The writer is free again.
	if err := s.PutSetting(ctx, "after", []byte("v")); err != nil {
		t.Fatal(err)
	}
}

// A caller that gives up while queued gets its context's error and its
// function never runs.
func TestGroupCommitCancelledWhileQueued(t *testing.T) {
	s := openTemp(t)
	release, waitHolder := holdWriter(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	ran := false
	done := make(chan error)
	go func() {
		done <- s.Write(ctx, func(tx *Tx) error {
			ran = true
			return tx.PutSetting("cancelled", []byte("v"))
		})
	}()
	waitQueued(t, s, 1)
	cancel()
	release()
	err := <-done
	waitHolder()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if ran {
		t.Fatal("the cancelled write's function ran")
	}
	if _, ok, err := s.GetSetting(context.Background(), "cancelled"); err != nil || ok {
		t.Fatalf("cancelled write stored = %v (%v)", ok, err)
	}
}
