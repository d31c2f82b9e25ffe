package firehose

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/gorilla/websocket"

	"github.com/hearth-pds/hearth/pds/edge"
)

// Memory per connection: besides the frames it holds (SubscriberBytes at
// most), a connection keeps gorilla's 64 KiB write buffer while a write is
// under way (pooled between writes), the 128 KiB batching buffer, and two
// goroutines. Stalled connections hold all of it until their write times
// out (WriteTimeout), so MaxSubscribers bounds the total.

func newUpgrader() *websocket.Upgrader {
	return &websocket.Upgrader{
		ReadBufferSize:  1024,
		WriteBufferSize: 64 << 10,
		// Connections waiting for the next event hold no write buffer.
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     func(*http.Request) bool { return true },
	}
}

// clientAddr is the address the per-address cap counts connections
// against: the address edge.ClientAddr finds (through the tunnel, the one
// the tunnel reports; otherwise the TCP peer), and for IPv6 its /64 (one
// host usually has a whole /64) — the same key the rate limits use. It is
// "" for a client the per-address limits do not apply to (a direct
// loopback connection: the owner's own tools), as for the rate limits;
// the total cap still counts it.
func clientAddr(r *http.Request) string {
	c := edge.ClientAddr(r)
	if !c.Limited() {
		return ""
	}
	return c.Key()
}

// refusal is why a connection was not admitted.
type refusal struct {
	status int
	name   string
	msg    string
}

// admit counts a new connection from addr against the caps. It returns
// the release to call when the connection ends, or why it is refused.
func (h *Hub) admit(addr string) (func(), *refusal) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var no *refusal
	switch {
	case h.closed:
		no = &refusal{http.StatusServiceUnavailable, "ServiceUnavailable", "the server is shutting down"}
	case h.conns >= h.cfg.MaxSubscribers:
		no = &refusal{http.StatusServiceUnavailable, "ServiceUnavailable",
			"this server has " + strconv.Itoa(h.cfg.MaxSubscribers) + " subscribers, its limit; try again later"}
	case addr != "" && h.perAddr[addr] >= h.cfg.MaxSubscribersPerAddr:
		no = &refusal{http.StatusTooManyRequests, "RateLimitExceeded",
			"at most " + strconv.Itoa(h.cfg.MaxSubscribersPerAddr) + " subscriptions per client address"}
	}
	if no != nil {
		h.refused++
		return nil, no
	}
	h.conns++
	if addr != "" {
		h.perAddr[addr]++
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.conns--
			if addr == "" {
				return
			}
			if h.perAddr[addr]--; h.perAddr[addr] <= 0 {
				delete(h.perAddr, addr)
			}
		})
	}, nil
}
