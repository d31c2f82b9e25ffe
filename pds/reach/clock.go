package reach

import (
	"net"
	"sort"
	"strings"
	"time"
)

// Reading is one look at both clocks: Wall without its monotonic part, Mono
// a monotonic reading (which stops while the computer sleeps).
type Reading struct {
	Wall time.Time
	Mono time.Duration
}

// SystemClock reads the real clocks; Mono counts from the first call.
func SystemClock() func() Reading {
	start := time.Now()
	return func() Reading {
		now := time.Now()
		return Reading{Wall: now.Round(0), Mono: now.Sub(start)}
	}
}

// WakeDetector notices sleep: between two readings the wall clock moved on
// by more than the monotonic clock, by at least Gap.
type WakeDetector struct {
	Gap  time.Duration
	prev *Reading
}

// Observe takes a reading and returns how long the computer slept since the
// previous one (0 when it did not, or on the first reading). A wall clock
// set backwards is not sleep.
func (w *WakeDetector) Observe(r Reading) time.Duration {
	prev := w.prev
	w.prev = &r
	if prev == nil {
		return 0
	}
	slept := r.Wall.Sub(prev.Wall) - (r.Mono - prev.Mono)
	if slept >= w.Gap && w.Gap > 0 {
		return slept
	}
	return 0
}

// NetworkFingerprint describes the machine's non-loopback addresses; it
// changes when the network does (another Wi-Fi, a cable, a VPN).
func NetworkFingerprint() (string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", err
	}
	var out []string
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.IsLoopback() {
			continue
		}
		out = append(out, a.String())
	}
	sort.Strings(out)
	return strings.Join(out, ","), nil
}
