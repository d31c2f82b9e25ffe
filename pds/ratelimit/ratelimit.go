package ratelimit

import (
	"container/list"
	"sync"
	"time"
)

// Rule is a budget of Points per Window, named like the reference PDS's
// limits (the name keys the counters apart).
type Rule struct {
	Name   string
	Points int
	Window time.Duration
}

// Status is a rule's state for one key after a Take.
type Status struct {
	Rule      Rule
	Remaining int
	Reset     time.Time // when the window ends
	OK        bool      // the points were granted
}

// Limiter holds the counters. The zero value is not usable; use New.
type Limiter struct {
	max int
	now func() time.Time

	mu    sync.Mutex
	byKey map[string]*list.Element
	lru   *list.List // front: most recently used
}

type counter struct {
	key   string
	start time.Time
	used  int
}

// New tracks at most maxKeys counters; now is the clock (time.Now if nil).
func New(maxKeys int, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{max: max(maxKeys, 1), now: now, byKey: map[string]*list.Element{}, lru: list.New()}
}

// Len is the number of tracked counters.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

// Take spends points of each rule for key, all or nothing: when any rule
// lacks the points, none is charged and that rule's status is returned
// with OK false. Otherwise it returns the status with the fewest points
// remaining.
func (l *Limiter) Take(key string, points int, rules ...Rule) Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	cs := make([]*counter, len(rules))
	var tightest Status
	for i, r := range rules {
		c := l.counter(r.Name+"|"+key, now, r.Window)
		cs[i] = c
		st := Status{Rule: r, Remaining: r.Points - c.used - points, Reset: c.start.Add(r.Window), OK: true}
		if st.Remaining < 0 {
			st.Remaining, st.OK = max(r.Points-c.used, 0), false
			return st
		}
		if i == 0 || st.Remaining < tightest.Remaining {
			tightest = st
		}
	}
	for _, c := range cs {
		c.used += points
	}
	return tightest
}

// counter finds (or starts) key's counter for the current window.
func (l *Limiter) counter(key string, now time.Time, window time.Duration) *counter {
	if e, ok := l.byKey[key]; ok {
		l.lru.MoveToFront(e)
		c := e.Value.(*counter)
		if now.Sub(c.start) >= window {
			c.start, c.used = now, 0
		}
		return c
	}
	for l.lru.Len() >= l.max {
		old := l.lru.Back()
		l.lru.Remove(old)
		delete(l.byKey, old.Value.(*counter).key)
	}
	c := &counter{key: key, start: now}
	l.byKey[key] = l.lru.PushFront(c)
	return c
}
