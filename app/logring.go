package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// LogRing keeps the most recent log records in memory for the window's log
// viewer and bug reports. Its handler passes every record on to the next
// handler unchanged; the ring holds at most its size, oldest dropped first.
type LogRing struct {
	mu   sync.Mutex
	buf  []LogEntry
	next int
	full bool
}

// LogEntry is one kept log record, already formatted.
type LogEntry struct {
	Time    string `json:"time"`
	Level   string `json:"level"`
	Message string `json:"message"`
	Attrs   string `json:"attrs"` // key=value …, secrets redacted
	Source  string `json:"source"`
}

// DefaultLogLines is how many records the window keeps.
const DefaultLogLines = 2000

// NewLogRing keeps the last n records.
func NewLogRing(n int) *LogRing {
	if n <= 0 {
		n = DefaultLogLines
	}
	return &LogRing{buf: make([]LogEntry, n)}
}

func (r *LogRing) add(e LogEntry) {
	r.mu.Lock()
	r.buf[r.next] = e
	r.next = (r.next + 1) % len(r.buf)
	if r.next == 0 {
		r.full = true
	}
	r.mu.Unlock()
}

// Entries returns the kept records, oldest first.
func (r *LogRing) Entries() []LogEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]LogEntry(nil), r.buf[:r.next]...)
	}
	return append(append([]LogEntry(nil), r.buf[r.next:]...), r.buf[:r.next]...)
}

// Handler returns a slog handler that keeps records in the ring (at level
// Debug and up, whatever next keeps) and passes them to next.
func (r *LogRing) Handler(next slog.Handler) slog.Handler {
	return &ringHandler{ring: r, next: next}
}

type ringHandler struct {
	ring   *LogRing
	next   slog.Handler
	prefix string   // group prefix for attributes added later
	attrs  []string // formatted attributes from WithAttrs
}

func (h *ringHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.next.Enabled(ctx, l)
}

func (h *ringHandler) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Level >= slog.LevelInfo {
		parts := append([]string(nil), h.attrs...)
		rec.Attrs(func(a slog.Attr) bool {
			parts = appendAttr(parts, h.prefix, a)
			return true
		})
		e := LogEntry{Time: rec.Time.UTC().Format(time.RFC3339), Level: rec.Level.String(), Message: rec.Message, Attrs: strings.Join(parts, " "), Source: "engine"}
		if strings.Contains(strings.ToLower(rec.Message+" "+e.Attrs), "tunnel") || strings.Contains(e.Attrs, "ngrok") {
			e.Source = "tunnel"
		}
		h.ring.add(e)
	}
	if h.next.Enabled(ctx, rec.Level) {
		return h.next.Handle(ctx, rec)
	}
	return nil
}

func (h *ringHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append([]string(nil), h.attrs...)
	for _, a := range as {
		c.attrs = appendAttr(c.attrs, h.prefix, a)
	}
	c.next = h.next.WithAttrs(as)
	return &c
}

func (h *ringHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.prefix = h.prefix + name + "."
	c.next = h.next.WithGroup(name)
	return &c
}

// secretKeys are attribute names whose values never reach the ring.
var secretKeys = []string{"token", "password", "secret", "passphrase", "authorization", "jwt", "key"}

func appendAttr(parts []string, prefix string, a slog.Attr) []string {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return parts
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			parts = appendAttr(parts, p, g)
		}
		return parts
	}
	key := prefix + a.Key
	lk := strings.ToLower(key)
	for _, s := range secretKeys {
		if strings.Contains(lk, s) {
			return append(parts, key+"=[redacted]")
		}
	}
	v := a.Value.String()
	if strings.ContainsAny(v, " \t\n\"") {
		v = fmt.Sprintf("%q", v)
	}
	return append(parts, key+"="+v)
}
