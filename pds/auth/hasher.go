package auth

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
)

// ErrHasherBusy is returned when too many callers already wait for a slot.
var ErrHasherBusy = errors.New("too many password checks in progress")

// Hasher runs argon2id (HashPassword, CheckPassword) under a concurrency
// limit, so memory stays bounded whatever strangers send: each run takes
// argonMemory (19 MiB), so at most Slots × 19 MiB is used by hashing (with
// the default of min(CPUs, 4) slots: 38 MiB on a 2-core machine, 76 MiB at
// most). At most MaxWaiting more callers wait for a slot (a goroutine and
// the request, no argon2 memory); further callers get ErrHasherBusy at
// once, and a waiting caller leaves when its context ends.
type Hasher struct {
	slots      chan struct{}
	maxWaiting int64
	waiting    atomic.Int64

	mu       sync.Mutex
	inFlight int
	peak     int
	runs     uint64
}

// DefaultHashSlots is min(CPUs, 4).
func DefaultHashSlots() int { return max(1, min(runtime.NumCPU(), 4)) }

// NewHasher allows slots concurrent hashes and maxWaiting waiting callers.
func NewHasher(slots, maxWaiting int) *Hasher {
	slots = max(slots, 1)
	return &Hasher{slots: make(chan struct{}, slots), maxWaiting: int64(max(maxWaiting, 0))}
}

func (h *Hasher) run(ctx context.Context, fn func()) error {
	select {
	case h.slots <- struct{}{}:
	default:
		if h.waiting.Add(1) > h.maxWaiting {
			h.waiting.Add(-1)
			return ErrHasherBusy
		}
		select {
		case h.slots <- struct{}{}:
			h.waiting.Add(-1)
		case <-ctx.Done():
			h.waiting.Add(-1)
			return ctx.Err()
		}
	}
	h.mu.Lock()
	h.inFlight++
	h.runs++
	h.peak = max(h.peak, h.inFlight)
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.inFlight--
		h.mu.Unlock()
		<-h.slots
	}()
	fn()
	return nil
}

// Hash is HashPassword under the limit.
func (h *Hasher) Hash(ctx context.Context, pw string) (hash string, err error) {
	if rerr := h.run(ctx, func() { hash, err = HashPassword(pw) }); rerr != nil {
		return "", rerr
	}
	return hash, err
}

// Check is CheckPassword under the limit.
func (h *Hasher) Check(ctx context.Context, hash, pw string) (ok bool, err error) {
	err = h.run(ctx, func() { ok = CheckPassword(hash, pw) })
	return ok, err
}

// HasherStats counts the hasher's work.
type HasherStats struct {
	Runs uint64 // argon2 runs so far
	Peak int    // most runs at once so far
}

// Stats returns the hasher's counters.
func (h *Hasher) Stats() HasherStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return HasherStats{Runs: h.runs, Peak: h.peak}
}
