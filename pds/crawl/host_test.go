package crawl

import "testing"

func TestIsPublicHost(t *testing.T) {
	tests := []struct {
		host   string
		public bool
	}{
		// public names and addresses, with and without ports
		{"pds.example.com", true},
		{"PDS.Example.COM.", true},
		{"pds.example.com:443", true},
		{"abc123.ngrok-free.app", true},
		{"bsky.network", true},
		{"8.8.8.8", true},
		{"8.8.8.8:2583", true},
		{"100.63.255.255", true}, // just below CGNAT
		{"100.128.0.0", true},    // just above CGNAT
		{"172.32.0.1", true},     // just above 172.16/12
		{"2606:4700:4700::1111", true},
		{"[2606:4700:4700::1111]:443", true},
		{"[2606:4700:4700::1111]", true},

		// IPv4 loopback, private (RFC 1918), CGNAT, link-local, unspecified
		{"127.0.0.1", false},
		{"127.0.0.1:2583", false},
		{"127.8.9.10", false},
		{"10.0.0.1", false},
		{"10.255.255.255:80", false},
		{"172.16.0.1", false},
		{"172.31.255.254", false},
		{"192.168.1.10", false},
		{"192.168.1.10:2583", false},
		{"100.64.0.1", false},
		{"100.127.255.254", false},
		{"169.254.1.1", false},
		{"0.0.0.0", false},
		{"0.0.0.0:2583", false},
		{"255.255.255.255", false},
		{"192.0.2.1", false}, // documentation
		{"224.0.0.1", false}, // multicast
		// IPv6 loopback, unique-local fc00::/7, link-local, unspecified
		{"::1", false},
		{"[::1]", false},
		{"[::1]:2583", false},
		{"0:0:0:0:0:0:0:1", false},
		{"fc00::1", false},
		{"fd12:3456:789a::1", false},
		{"[fd00::1]:443", false},
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"[fe80::1%25eth0]:80", false},
		{"::", false},
		{"[::]:2583", false},
		{"::ffff:127.0.0.1", false}, // IPv4-mapped
		{"::ffff:192.168.0.1", false},
		{"2001:db8::1", false},
		// names
		{"localhost", false},
		{"LOCALHOST", false},
		{"localhost.", false},
		{"localhost:2583", false},
		{"pds.localhost", false},
		{"pds.localhost:2583", false},
		{"mybox.local", false},
		{"mybox.local:2583", false},
		{"pds.corp.internal", false},
		{"router.home.arpa", false},
		{"pds.hearth.test", false},
		{"nas", false},      // bare single label
		{"nas:2583", false}, // with a port
		{"127.1", false},    // IPv4 in short form
		{"0x7f.1", false},
		// not a host at all
		{"", false},
		{"  ", false},
		{":2583", false},
		{"a..b", false},
		{"http://pds.example.com", false},
		{"[::1", false},
	}
	for _, tt := range tests {
		if got := IsPublicHost(tt.host); got != tt.public {
			t.Errorf("IsPublicHost(%q) = %v, want %v", tt.host, got, tt.public)
		}
	}
}

func TestShouldAskAndDefaults(t *testing.T) {
	for _, tt := range []struct {
		host     string
		explicit bool
		want     bool
	}{
		{"pds.example.com", false, true},
		{"pds.example.com", true, true},
		{"localhost:2583", false, false},
		{"localhost:2583", true, true},
		{"192.168.1.10", false, false},
		{"192.168.1.10", true, true},
	} {
		if got := ShouldAsk(tt.host, tt.explicit); got != tt.want {
			t.Errorf("ShouldAsk(%q, explicit=%v) = %v, want %v", tt.host, tt.explicit, got, tt.want)
		}
	}
	for relay, want := range map[string]bool{
		"https://bsky.network": true, "https://bsky.network/": true, "bsky.network": true, " HTTPS://BSKY.NETWORK ": true,
		"https://relay.example.com": false, "http://127.0.0.1:2470": false, "": false,
	} {
		if got := IsDefaultRelay(relay); got != want {
			t.Errorf("IsDefaultRelay(%q) = %v, want %v", relay, got, want)
		}
	}
}
