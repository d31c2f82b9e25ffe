package firehose

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hearth-pds/hearth/pds/edge"
)

func TestClientAddr(t *testing.T) {
	cases := []struct{ remote, want string }{
		{"192.0.2.7:5000", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:5000", "192.0.2.7"},
		{"[2001:db8:1:2:aaaa::1]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:bbbb::9]:1", "2001:db8:1:2::/64"}, // same /64, same budget
		{"[2001:db8:1:3::1]:1", "2001:db8:1:3::/64"},
		{"127.0.0.1:5000", ""}, // direct loopback: not counted per address
		{"[::1]:5000", ""},
		{"not an address", "not an address"},
		{"", ""},
	}
	for _, c := range cases {
		if got := clientAddr(&http.Request{RemoteAddr: c.remote}); got != c.want {
			t.Errorf("clientAddr(%q) = %q, want %q", c.remote, got, c.want)
		}
	}
	// Through the tunnel, subscribers count by the address the tunnel
	// reports, not all as the local forwarder's; directly, a forwarded-for
	// header is ignored.
	tunneled := func(xff string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/xrpc/com.atproto.sync.subscribeRepos", nil)
		r.RemoteAddr = "127.0.0.1:40000"
		r.Header.Set("X-Forwarded-For", xff)
		return r.WithContext(edge.ViaTunnel(r.Context()))
	}
	if a, b := clientAddr(tunneled("198.51.100.1")), clientAddr(tunneled("198.51.100.2")); a == b || a != "198.51.100.1" {
		t.Errorf("tunnel subscribers share one budget: %q and %q", a, b)
	}
	direct := httptest.NewRequest(http.MethodGet, "/", nil)
	direct.RemoteAddr = "192.0.2.9:1"
	direct.Header.Set("X-Forwarded-For", "198.51.100.1")
	if got := clientAddr(direct); got != "192.0.2.9" {
		t.Errorf("a direct connection counted as its X-Forwarded-For: %q", got)
	}
}
