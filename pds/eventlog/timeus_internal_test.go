package eventlog

import (
	"testing"
	"time"
)

// Stamps stay strictly increasing, past the previous event's whole span,
// when the wall clock stands still or steps back.
func TestClockStampsNeverOverlap(t *testing.T) {
	base := time.UnixMicro(1_700_000_000_000_000)
	tests := []struct {
		name  string
		nows  []time.Time
		spans []int64
		want  []int64
	}{
		{"clock moves on", []time.Time{base, base.Add(time.Second)}, []int64{1, 1},
			[]int64{base.UnixMicro(), base.UnixMicro() + 1_000_000}},
		{"same microsecond", []time.Time{base, base, base}, []int64{3, 1, 1},
			[]int64{base.UnixMicro(), base.UnixMicro() + 3, base.UnixMicro() + 4}},
		{"clock steps back", []time.Time{base, base.Add(-time.Hour)}, []int64{200, 1},
			[]int64{base.UnixMicro(), base.UnixMicro() + 200}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			i := 0
			c := &usClock{now: func() time.Time { return tc.nows[i] }}
			for ; i < len(tc.nows); i++ {
				if got := c.stamp(tc.spans[i]); got != tc.want[i] {
					t.Fatalf("stamp %d = %d, want %d", i, got, tc.want[i])
				}
			}
		})
	}
}
