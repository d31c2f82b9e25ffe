package firehose

import (
	"net/http"
	"testing"
)

func TestClientAddr(t *testing.T) {
	cases := []struct{ remote, want string }{
		{"192.0.2.7:5000", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:5000", "192.0.2.7"},
		{"[2001:db8:1:2:aaaa::1]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:bbbb::9]:1", "2001:db8:1:2::/64"}, // same /64, same budget
		{"[2001:db8:1:3::1]:1", "2001:db8:1:3::/64"},
		{"not an address", "not an address"},
		{"", ""},
	}
	for _, c := range cases {
		if got := clientAddr(&http.Request{RemoteAddr: c.remote}); got != c.want {
			t.Errorf("clientAddr(%q) = %q, want %q", c.remote, got, c.want)
		}
	}
}
