package outbound

import (
	"errors"
	"fmt"
	"net/netip"
)

// ErrForbiddenAddress is the kind of a dial refused by the address rule.
var ErrForbiddenAddress = errors.New("address is not a public unicast address")

// AddressError says which address the rule refused.
type AddressError struct{ Addr netip.Addr }

func (e *AddressError) Error() string {
	return fmt.Sprintf("outbound: refusing to connect to %s: %v", e.Addr, ErrForbiddenAddress)
}

// Unwrap makes errors.Is(err, ErrForbiddenAddress) work.
func (e *AddressError) Unwrap() error { return ErrForbiddenAddress }

// Special-purpose IPv4 ranges (IANA's registry) that are not public
// unicast destinations.
var v4NonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),          // "this network"
	netip.MustParsePrefix("10.0.0.0/8"),         // private (RFC 1918)
	netip.MustParsePrefix("100.64.0.0/10"),      // carrier-grade NAT (RFC 6598)
	netip.MustParsePrefix("127.0.0.0/8"),        // loopback
	netip.MustParsePrefix("169.254.0.0/16"),     // link-local (cloud metadata lives here)
	netip.MustParsePrefix("172.16.0.0/12"),      // private
	netip.MustParsePrefix("192.0.0.0/24"),       // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),       // documentation (TEST-NET-1)
	netip.MustParsePrefix("192.88.99.0/24"),     // deprecated 6to4 relay anycast
	netip.MustParsePrefix("192.168.0.0/16"),     // private
	netip.MustParsePrefix("198.18.0.0/15"),      // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"),    // documentation (TEST-NET-2)
	netip.MustParsePrefix("203.0.113.0/24"),     // documentation (TEST-NET-3)
	netip.MustParsePrefix("224.0.0.0/4"),        // multicast
	netip.MustParsePrefix("240.0.0.0/4"),        // reserved
	netip.MustParsePrefix("255.255.255.255/32"), // broadcast
}

// IPv6: only global unicast (2000::/3) is public, minus these.
var (
	v6GlobalUnicast = netip.MustParsePrefix("2000::/3")
	v6NonPublic     = []netip.Prefix{
		netip.MustParsePrefix("2001::/23"),     // IETF protocol assignments (Teredo, benchmarking, ORCHID…)
		netip.MustParsePrefix("2001:db8::/32"), // documentation
		netip.MustParsePrefix("3fff::/20"),     // documentation
	}
	v6SixToFour = netip.MustParsePrefix("2002::/16") // 6to4: embeds an IPv4 address
)

// CheckAddr reports whether a is a public unicast address: nil if it is,
// an *AddressError if not. IPv4-mapped IPv6 addresses are judged as the
// IPv4 address they carry, and 6to4 addresses by their embedded IPv4.
func CheckAddr(a netip.Addr) error {
	if !IsPublic(a) {
		return &AddressError{Addr: a}
	}
	return nil
}

// IsPublic reports whether a is a public unicast address.
func IsPublic(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.WithZone("")
	if a.Is4In6() {
		a = a.Unmap()
	}
	if a.Is4() {
		for _, p := range v4NonPublic {
			if p.Contains(a) {
				return false
			}
		}
		return true
	}
	if !v6GlobalUnicast.Contains(a) {
		return false // ::, ::1, ULA fc00::/7, link-local fe80::/10, multicast ff00::/8, NAT64, discard…
	}
	for _, p := range v6NonPublic {
		if p.Contains(a) {
			return false
		}
	}
	if v6SixToFour.Contains(a) {
		b := a.As16()
		return IsPublic(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
	}
	return true
}
