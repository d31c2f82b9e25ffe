package app

import (
	"strings"
	"testing"
)

// A panic in a guarded desktop job comes back as an error for the window
// instead of ending the process; jobs that do not panic keep their result.
func TestGuardJobTurnsAPanicIntoAnError(t *testing.T) {
	a := New(Config{DataDir: t.TempDir()})
	job := func(panics bool) (_ *CARInfo, err error) {
		defer a.guardJob("importing the CAR", &err)
		if panics {
			var nodes []int
			_ = nodes[5] // what a decoder bug looks like
		}
		return &CARInfo{}, nil
	}
	info, err := job(true)
	if err == nil || info != nil || !strings.Contains(err.Error(), "importing the CAR failed") {
		t.Fatalf("panicking job: %v, %v", info, err)
	}
	if info, err := job(false); err != nil || info == nil {
		t.Fatalf("plain job: %v, %v", info, err)
	}
}
