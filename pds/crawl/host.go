package crawl

import (
	"net"
	"net/netip"
	"strings"
)

// DefaultRelays are asked to crawl this PDS when the operator names none.
var DefaultRelays = []string{"https://bsky.network"}

// NormalizeRelay returns a relay's base URL as a Requester uses it
// ("bsky.network/" → "https://bsky.network"), or "" for a blank entry.
func NormalizeRelay(relay string) string {
	relay = strings.TrimRight(strings.TrimSpace(relay), "/")
	if relay != "" && !strings.Contains(relay, "://") {
		relay = "https://" + relay
	}
	return relay
}

// IsDefaultRelay reports whether relay is one of DefaultRelays.
func IsDefaultRelay(relay string) bool {
	relay = NormalizeRelay(relay)
	for _, d := range DefaultRelays {
		if strings.EqualFold(relay, NormalizeRelay(d)) {
			return true
		}
	}
	return false
}

// ShouldAsk is the one policy for asking a relay to crawl this PDS at host:
// a relay the operator named explicitly is always asked (it may sit on the
// same network, e.g. a relay under test); a default relay only when host is
// public, since a relay on the internet cannot reach a private or local
// host and asking it only earns a refusal.
func ShouldAsk(host string, explicit bool) bool {
	return explicit || IsPublicHost(host)
}

// Addresses relays on the internet cannot reach, beyond what netip's
// predicates (loopback, private, link-local, multicast, unspecified) cover.
var nonPublicPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation (TEST-NET-1)
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation (TEST-NET-2)
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation (TEST-NET-3)
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("fec0::/10"),       // deprecated site-local
}

// Special-use names (RFC 6761, RFC 6762, RFC 8375, ICANN's .internal) that
// only resolve, if at all, on a local network.
var nonPublicSuffixes = []string{"localhost", "local", "internal", "home.arpa", "test", "invalid", "example"}

// IsPublicHost reports whether relays on the internet could reach host: a
// host name or an IP address, optionally with a port ("localhost:2583",
// "[::1]:2583", "pds.example.com:443"). Not public are loopback, private
// (RFC 1918, IPv6 unique-local fc00::/7), carrier-grade NAT (100.64.0.0/10),
// link-local, unspecified, multicast, documentation and reserved addresses;
// the names localhost and *.localhost, *.local, *.internal, *.home.arpa,
// *.test, *.invalid and *.example; bare single-label names (they only
// resolve on a local network); names ending in a numeric label (IPv4 in a
// form such as "127.1"); and anything empty or unparsable.
func IsPublicHost(host string) bool {
	h := strings.TrimSpace(host)
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	} else if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if h == "" {
		return false
	}
	if addr, err := netip.ParseAddr(h); err == nil {
		addr = addr.Unmap().WithZone("")
		if addr.IsLoopback() || addr.IsPrivate() || addr.IsUnspecified() || addr.IsLinkLocalUnicast() ||
			addr.IsMulticast() || addr.IsInterfaceLocalMulticast() || addr.IsLinkLocalMulticast() {
			return false
		}
		for _, p := range nonPublicPrefixes {
			if p.Contains(addr) {
				return false
			}
		}
		return true
	}
	if strings.ContainsAny(h, ":[]/%@ ") {
		return false // not a host name (an unparsable address, a URL)
	}
	labels := strings.Split(h, ".")
	if len(labels) < 2 {
		return false // single label: "nas", "localhost"
	}
	for _, l := range labels {
		if l == "" {
			return false // "a..b", ".example.com"
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return false // "127.1", "10.0.1": an IPv4 address in another form
	}
	for _, s := range nonPublicSuffixes {
		if h == s || strings.HasSuffix(h, "."+s) {
			return false
		}
	}
	return true
}
