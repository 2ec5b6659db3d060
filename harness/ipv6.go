package harness

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/icelab/icelab/vnet"
	"github.com/pion/webrtc/v4"
)

// IPv6 in a run: a LAN carries IPv6 when its spec says so (LANSpec.IPv6,
// IPv6Prefix, IPv6Only, NAT64), its hosts then get IPv6 addresses and
// clients may gather on udp6/tcp6; the node gets an IPv6 address too with
// NodeSpec.IPv6, and its peer then gathers udp6 beside udp4. Its relay
// stays on IPv4: a dual-stack TURN server is not modelled.

// routerConfig is the vnet router of a LAN spec.
func (l LANSpec) routerConfig() vnet.RouterConfig {
	return vnet.RouterConfig{Name: l.Name, LAN: l.LANPrefix, NAT: l.NAT, Uplink: l.Uplink,
		IPv6: l.IPv6, LAN6: l.IPv6Prefix, IPv6Only: l.IPv6Only, NAT64: l.NAT64}
}

// CarriesIPv6 reports whether the LAN gives its hosts IPv6 addresses.
func (l LANSpec) CarriesIPv6() bool {
	return l.IPv6 || l.IPv6Prefix.IsValid() || l.IPv6Only || l.NAT64
}

// nodeNetworkTypes adds udp6 to what the node's peer gathers on when its
// host has an IPv6 address, as a dual-stack SFU does.
func nodeNetworkTypes(host *vnet.Host, types []webrtc.NetworkType) []webrtc.NetworkType {
	if host.Addr6().IsValid() {
		types = append(types, webrtc.NetworkTypeUDP6)
	}
	return types
}

// knownAddrs are the addresses by which the run names a client's packets:
// its own of each family, the one the internet sees for IPv4 and, behind
// a NAT64, the translator's IPv4 address its IPv6 flows leave from.
func knownAddrs(h *vnet.Host) []netip.Addr {
	out := []netip.Addr{h.Addr(), h.ExternalAddr()}
	if a := h.Addr6(); a.IsValid() {
		out = append(out, a)
	}
	for _, ifc := range h.NetInterfaces() {
		for r := ifc.Router(); r != nil; r = r.Parent() {
			if r.NAT64() {
				out = append(out, r.WAN())
			}
		}
	}
	return out
}

// hostPort joins an address and a port as a URL or a socket address
// writes them: IPv6 in brackets.
func hostPort(addr string, port int) string {
	return net.JoinHostPort(addr, strconv.Itoa(port))
}

// ipv6Note explains a client on an IPv6-only network that did not
// connect: the ICE servers it was given as IPv4 literals, which it cannot
// reach (a DNS64 synthesizes addresses for names, RFC 6147; a literal asks
// no resolver), IPv4-only network types, which gather nothing there, and
// a relay that refused pion's request for an IPv6 relayed address. Empty
// when none of this applies.
func ipv6Note(c *endpoint, servers []webrtc.ICEServer, cr ClientResult) string {
	if cr.Connected || c.host.Addr().Is4() {
		return ""
	}
	var notes []string
	if slices.ContainsFunc(cr.GatherErrors, func(e string) bool { return strings.Contains(e, "error 440") || strings.Contains(e, "error 508") }) {
		notes = append(notes, "pion's TURN client asked for an IPv6 relayed address (REQUESTED-ADDRESS-FAMILY, from its IPv6 socket), which an IPv4-only relay cannot give")
	}
	var literals []string
	for _, s := range servers {
		for _, u := range s.URLs {
			if a, ok := urlIPv4(u); ok && !slices.Contains(literals, a) {
				literals = append(literals, a)
			}
		}
	}
	if len(literals) > 0 {
		notes = append(notes, fmt.Sprintf("the ICE servers are given as IPv4 literals (%s), unreachable from an IPv6-only network: DNS64 synthesizes addresses for names only", strings.Join(literals, ", ")))
	}
	types := c.spec.NetworkTypes
	if !slices.Contains(types, webrtc.NetworkTypeUDP6) && !slices.Contains(types, webrtc.NetworkTypeTCP6) {
		notes = append(notes, "the client gathers on IPv4 only, which its IPv6-only network does not carry")
	}
	return strings.Join(notes, "; ")
}

// urlIPv4 returns the host of a STUN or TURN URL when it is an IPv4
// literal.
func urlIPv4(u string) (string, bool) {
	_, rest, ok := strings.Cut(u, ":")
	if !ok {
		return "", false
	}
	rest, _, _ = strings.Cut(rest, "?")
	host := rest
	if h, _, err := net.SplitHostPort(rest); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Is4() {
		return "", false
	}
	return host, true
}
