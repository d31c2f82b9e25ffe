package auth

import (
	"context"
	"errors"
	"testing"
)

// occupy takes every slot of h until the returned release is called.
func occupy(t *testing.T, h *Hasher) (release func()) {
	t.Helper()
	held := make(chan struct{})
	done := make(chan struct{})
	for i := 0; i < cap(h.slots); i++ {
		started := make(chan struct{})
		go func() {
			_ = h.run(context.Background(), func() { close(started); <-held })
			done <- struct{}{}
		}()
		<-started
	}
	return func() {
		close(held)
		for i := 0; i < cap(h.slots); i++ {
			<-done
		}
	}
}

func TestHasherLimits(t *testing.T) {
	hash, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		maxWaiting int
		ctx        func() context.Context
		want       error
	}{
		{"no room to wait", 0, context.Background, ErrHasherBusy},
		{"waiter gives up with its context", 1, func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHasher(1, tc.maxWaiting)
			release := occupy(t, h)
			_, err := h.Check(tc.ctx(), hash, "correct horse")
			release()
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if ok, err := h.Check(context.Background(), hash, "correct horse"); !ok || err != nil {
				t.Fatalf("after release: %v %v", ok, err)
			}
			if st := h.Stats(); st.Peak != 1 || st.Runs != 2 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestAppPasswordShaped(t *testing.T) {
	for pw, want := range map[string]bool{
		"abcd-efgh-ijkl-mnop": true, "a1b2-c3d4-e5f6-g7h8": true, "ABCD-efgh-ijkl-mnop": false,
		"abcd-efgh-ijkl-mno": false, "abcdefghijklmnopqrs": false, "abcd_efgh_ijkl_mnop": false, "": false,
	} {
		if got := AppPasswordShaped(pw); got != want {
			t.Errorf("%q: %v, want %v", pw, got, want)
		}
	}
}
