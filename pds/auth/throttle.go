package auth

import (
	"sync"
	"time"
)

// Throttle limits failed logins per key (an identifier, lower-cased).
type Throttle struct {
	Max    int // failures allowed within Window
	Window time.Duration
	mu     sync.Mutex
	fails  map[string][]time.Time
	now    func() time.Time
}

// NewThrottle allows max failures per window.
func NewThrottle(max int, window time.Duration) *Throttle {
	return &Throttle{Max: max, Window: window, fails: map[string][]time.Time{}, now: time.Now}
}

func (t *Throttle) prune(key string, now time.Time) []time.Time {
	kept := t.fails[key][:0]
	for _, f := range t.fails[key] {
		if now.Sub(f) < t.Window {
			kept = append(kept, f)
		}
	}
	if len(kept) == 0 {
		delete(t.fails, key)
		return nil
	}
	t.fails[key] = kept
	return kept
}

// Allowed reports whether another attempt may be made now, and if not, when.
func (t *Throttle) Allowed(key string) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	f := t.prune(key, now)
	if len(f) < t.Max {
		return true, 0
	}
	return false, t.Window - now.Sub(f[0])
}

// Fail records a failed attempt.
func (t *Throttle) Fail(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.fails[key] = append(t.prune(key, t.now()), t.now())
}

// Succeed clears the failures of key.
func (t *Throttle) Succeed(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.fails, key)
}
