package relay

import (
	"net"
	"net/netip"
)

// PeerPolicy decides which peer addresses a client may relay to.
//
// Always refused unless listed in Allowed: unspecified, loopback, link-local
// (including the 169.254.169.254 metadata service), multicast, broadcast,
// 0.0.0.0/8 and 240.0.0.0/4. Refused unless AllowPrivate or listed in Allowed:
// RFC 1918 space, CGNAT 100.64.0.0/10 and IPv6 ULA fc00::/7. IPv4-mapped IPv6
// addresses are judged as IPv4.
type PeerPolicy struct {
	AllowPrivate bool
	Allowed      []netip.Prefix
}

var (
	cgnat     = netip.MustParsePrefix("100.64.0.0/10")
	thisNet   = netip.MustParsePrefix("0.0.0.0/8")
	reserved4 = netip.MustParsePrefix("240.0.0.0/4") // includes 255.255.255.255
)

// Allows reports whether relaying to ip is permitted.
func (p PeerPolicy) Allows(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	for _, pfx := range p.Allowed {
		if pfx.Contains(ip) {
			return true
		}
	}
	switch {
	case ip.IsUnspecified(), ip.IsLoopback(), ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast(),
		ip.IsInterfaceLocalMulticast(), ip.IsMulticast(), thisNet.Contains(ip), reserved4.Contains(ip):
		return false
	case ip.IsPrivate(), cgnat.Contains(ip): // IsPrivate covers RFC 1918 and fc00::/7
		return p.AllowPrivate
	}
	return true
}

// allowsIP adapts Allows to net.IP.
func (p PeerPolicy) allowsIP(ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	return ok && p.Allows(a)
}
