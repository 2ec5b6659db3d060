package vnet

import (
	"net"
	"net/netip"
	"strings"
)

// Name resolution on a host: the network's static table of A and AAAA
// records, a DNS64 on a NAT64's LAN, and the address-family rules of Go's
// resolver for "udp4", "udp6" and "udp".

// resolve splits address and resolves its host part for network.
func (h *Host) resolve(network, address string) (netip.Addr, int, error) {
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return netip.Addr{}, 0, err
	}
	port, err := net.LookupPort(strings.TrimSuffix(strings.TrimSuffix(network, "4"), "6"), portStr)
	if err != nil {
		return netip.Addr{}, 0, err
	}
	want := familyOf(network)
	if host == "" {
		return want.wildcard(netip.Addr{}), port, nil
	}
	ip, err := h.resolveHost(want, host)
	return ip, port, err
}

// resolveHost resolves an IP literal or a name to one address of family
// want. An IPv4 literal is not an IPv6 address: "udp6" cannot reach it,
// DNS64 or not.
func (h *Host) resolveHost(want family, host string) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap()
		if !want.has(ip) {
			return netip.Addr{}, &net.AddrError{Err: "no suitable address found", Addr: host}
		}
		return ip, nil
	}
	addrs, err := h.lookup(host)
	if err != nil {
		return netip.Addr{}, err
	}
	ip, ok := h.pick(addrs, want)
	if !ok {
		return netip.Addr{}, &net.AddrError{Err: "no suitable address found", Addr: host}
	}
	return ip, nil
}

// ResolveIPAddr resolves a host name or address for "ip", "ip4" or "ip6".
func (h *Host) ResolveIPAddr(network, address string) (*net.IPAddr, error) {
	switch network {
	case "ip", "ip4", "ip6":
	default:
		return nil, net.UnknownNetworkError(network)
	}
	ip, err := h.resolveHost(familyOf(network), address)
	if err != nil {
		return nil, err
	}
	return &net.IPAddr{IP: ip.AsSlice()}, nil
}

// ResolveUDPAddr resolves "host:port" for "udp" or "udp4"; host names are
// looked up in the network's DNS table.
func (h *Host) ResolveUDPAddr(network, address string) (*net.UDPAddr, error) {
	switch network {
	case "udp", "udp4", "udp6":
	default:
		return nil, net.UnknownNetworkError(network)
	}
	ip, port, err := h.resolve(network, address)
	if err != nil {
		return nil, err
	}
	return &net.UDPAddr{IP: ip.AsSlice(), Port: port}, nil
}

// ResolveTCPAddr resolves "host:port" for "tcp" or "tcp4".
func (h *Host) ResolveTCPAddr(network, address string) (*net.TCPAddr, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, net.UnknownNetworkError(network)
	}
	ip, port, err := h.resolve(network, address)
	if err != nil {
		return nil, err
	}
	return &net.TCPAddr{IP: ip.AsSlice(), Port: port}, nil
}

// dns64 reports whether the host's resolver synthesizes AAAA records: its
// first interface is on a NAT64's LAN.
func (h *Host) dns64() bool { return h.first().router.nat64 }

// lookup resolves a name on this host: the network's table, with AAAA
// records synthesized from A records by a DNS64 (RFC 6147 section 5.1:
// only when the name has no AAAA record of its own).
func (h *Host) lookup(name string) ([]netip.Addr, error) {
	addrs, err := h.net.dns.lookup(name)
	if err != nil || !h.dns64() {
		return addrs, err
	}
	var synth []netip.Addr
	for _, a := range addrs {
		if a.Is6() {
			return addrs, nil
		}
		synth = append(synth, Synthesize(a))
	}
	return append(append([]netip.Addr(nil), addrs...), synth...), nil
}

// pick chooses the address to use among a name's addresses for a network
// of family want: for "udp" or "tcp", IPv4 when the host has an IPv4
// address and IPv6 otherwise, as getaddrinfo with AI_ADDRCONFIG orders
// them for Go's cgo resolver on an IPv6-only phone.
func (h *Host) pick(addrs []netip.Addr, want family) (netip.Addr, bool) {
	if want == famAny {
		want = fam6
		if h.first().addr.IsValid() {
			want = fam4
		}
		if a, ok := h.pick(addrs, want); ok {
			return a, true
		}
		return addrs[0], true
	}
	for _, a := range addrs {
		if want.has(a) {
			return a, true
		}
	}
	return netip.Addr{}, false
}
