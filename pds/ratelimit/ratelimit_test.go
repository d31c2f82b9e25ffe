package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

func TestTake(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	short := Rule{Name: "short", Points: 5, Window: time.Minute}
	long := Rule{Name: "long", Points: 8, Window: time.Hour}
	type step struct {
		advance time.Duration
		key     string
		points  int
		ok      bool
		rule    string
		remain  int
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"spends and refuses", []step{
			{0, "a", 3, true, "short", 2}, {0, "a", 2, true, "short", 0}, {0, "a", 1, false, "short", 0},
		}},
		{"keys are apart", []step{
			{0, "a", 5, true, "short", 0}, {0, "b", 5, true, "short", 0}, {0, "a", 1, false, "short", 0},
		}},
		{"window resets; longer rule still binds", []step{
			{0, "a", 5, true, "short", 0}, {time.Minute, "a", 3, true, "long", 0}, {time.Minute, "a", 1, false, "long", 0},
		}},
		{"refusal charges nothing", []step{
			{0, "a", 4, true, "short", 1}, {0, "a", 2, false, "short", 1}, {0, "a", 1, true, "short", 0},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := New(100, clock)
			for i, s := range tc.steps {
				now = now.Add(s.advance)
				st := l.Take(s.key, s.points, short, long)
				if st.OK != s.ok || st.Rule.Name != s.rule || st.Remaining != s.remain {
					t.Fatalf("step %d: %+v, want ok=%v rule=%s remaining=%d", i, st, s.ok, s.rule, s.remain)
				}
			}
		})
	}
}

// Memory is bounded: however many addresses come, at most maxKeys
// counters are kept, the least recently used going first.
func TestBoundedKeys(t *testing.T) {
	l := New(100, nil)
	r := Rule{Name: "r", Points: 1, Window: time.Hour}
	l.Take("keep", 1, r)
	for i := 0; i < 10000; i++ {
		l.Take("keep", 0, r) // recently used: stays
		l.Take(fmt.Sprintf("10.0.%d.%d", i/256, i%256), 1, r)
		if n := l.Len(); n > 100 {
			t.Fatalf("%d counters tracked", n)
		}
	}
	if st := l.Take("keep", 1, r); st.OK {
		t.Fatal("the recently used counter was evicted")
	}
}
