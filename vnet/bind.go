package vnet

import (
	"fmt"
	"net/netip"
	"strings"
	"syscall"
)

// Binding sockets to addresses and ports: ephemeral ports as Linux picks
// them, and what a socket bound to an address of one family, a family's
// wildcard or a dual-stack wildcard (IPV6_V6ONLY=0) receives and conflicts
// with.

// bindUDP registers a UDP socket at laddr, choosing an ephemeral port for
// port zero.
func (h *Host) bindUDP(c *UDPConn, laddr netip.AddrPort) (netip.AddrPort, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return netip.AddrPort{}, ErrClosed
	}
	ip := laddr.Addr()
	if ip.IsMulticast() {
		return h.bindMulticast(c, laddr) // multicast.go
	}
	if !ip.IsUnspecified() && !h.hasAddr(ip) {
		return netip.AddrPort{}, fmt.Errorf("bind %s: %w", laddr, syscall.EADDRNOTAVAIL)
	}
	conflict := func(port uint16) bool { return portTaken(h.udp, cover{ip, c.fam}, port) }
	port := laddr.Port()
	if port == 0 {
		var ok bool
		if port, ok = h.ports.pick(portKey(UDP, ip, c.fam), func(p uint16) bool { return !conflict(p) }); !ok {
			return netip.AddrPort{}, fmt.Errorf("bind %s: %w", laddr, syscall.EADDRINUSE)
		}
	} else if conflict(port) {
		return netip.AddrPort{}, fmt.Errorf("bind %s: %w", laddr, syscall.EADDRINUSE)
	}
	bound := netip.AddrPortFrom(ip, port)
	if h.udp == nil {
		h.udp = make(map[netip.AddrPort]*UDPConn)
	}
	h.udp[bound] = c
	return bound, nil
}

// ports picks a host's ephemeral ports. Linux picks a UDP socket's port
// at random (udp_lib_get_port), and a TCP connection's from a hash of its
// addresses and a counter (RFC 6056's algorithm 3); bind order is no part
// of either. Here a port is a function of the network's seed, the host's
// name, what the socket is bound to (protocol, address, family) and how
// many sockets were bound to that before, never of the order in which
// sockets bound to something else were: pion's ICE agent binds its host
// socket (to the interface's address) and its srflx and relay sockets (to
// the wildcard) from goroutines that race, and with one cursor for all the
// host candidate's port depended on which ran first (32768 in one run,
// 32769 or 32770 in another), and with it NAT port choices and the
// per-flow loss draws (draws.go). Sockets bound to the same thing in the
// same instant (pion's srflx and relay sockets, all to the wildcard)
// still take that key's ports in the order they bind.
type ports struct {
	salt  uint64
	binds map[uint64]uint64 // sockets bound so far, per key
}

// portKey names what a socket binds to: its protocol and address and
// family, so that a socket's port does not depend on sockets bound to
// anything else.
func portKey(proto Proto, ip netip.Addr, fam family) uint64 {
	return mixAddr(uint64(proto)<<8|uint64(fam), ip) // draws.go
}

// pick returns an ephemeral port for the next socket bound to key for
// which free is true: the first free one from a point in Linux's range
// drawn from the key and its count.
func (p *ports) pick(key uint64, free func(uint16) bool) (uint16, bool) {
	if p.binds == nil {
		p.binds = make(map[uint64]uint64)
	}
	n := p.binds[key]
	p.binds[key] = n + 1
	const span = ephemeralMax - ephemeralMin + 1
	start := mix(p.salt^key^(n+1)*0x9e3779b97f4a7c15) % span
	for i := uint64(0); i < span; i++ {
		port := uint16(ephemeralMin + (start+i)%span)
		if free(port) {
			return port, true
		}
	}
	return 0, false
}

// portTaken reports whether binding want at port conflicts with what is
// bound: an unspecified address takes the port on every address of its
// family, a dual-stack one on every address.
func portTaken[V familied](bound map[netip.AddrPort]V, want cover, port uint16) bool {
	for a, v := range bound {
		if a.Port() == port && want.overlaps(cover{a.Addr(), v.bindFam()}) {
			return true
		}
	}
	return false
}

func (h *Host) unbindUDP(addr netip.AddrPort, c *UDPConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if addr.Addr().IsMulticast() {
		h.unbindMulticast(addr, c)
		return
	}
	if h.udp[addr] == c {
		delete(h.udp, addr)
	}
}

// family is the address family a socket is bound for.
type family uint8

const (
	famAny family = iota // dual-stack: IPv4 and IPv6, as Linux with IPV6_V6ONLY=0
	fam4
	fam6
)

// familyOf returns the family a network name asks for: "udp4", "tcp6".
func familyOf(network string) family {
	switch {
	case strings.HasSuffix(network, "4"):
		return fam4
	case strings.HasSuffix(network, "6"):
		return fam6
	}
	return famAny
}

// has reports whether f admits an address.
func (f family) has(a netip.Addr) bool {
	switch f {
	case fam4:
		return a.Is4()
	case fam6:
		return a.Is6()
	}
	return true
}

// wildcard returns the unspecified address a socket of family f binds to;
// a dual-stack socket keeps the address it was given.
func (f family) wildcard(given netip.Addr) netip.Addr {
	switch f {
	case fam4:
		return netip.IPv4Unspecified()
	case fam6:
		return netip.IPv6Unspecified()
	}
	if given.IsValid() {
		return given
	}
	return netip.IPv4Unspecified()
}

// bindFamily is the family of a socket bound to ip for network: an address
// family's own for a specific address, the network's for a wildcard.
func bindFamily(network string, ip netip.Addr) family {
	if !ip.IsUnspecified() {
		if ip.Is4() {
			return fam4
		}
		return fam6
	}
	return familyOf(network)
}

// cover is what one bound socket listens on: a specific address, or every
// address of a family.
type cover struct {
	ip  netip.Addr
	fam family
}

func (c cover) has(a netip.Addr) bool {
	if !c.ip.IsUnspecified() {
		return c.ip == a
	}
	return c.fam.has(a)
}

func (c cover) overlaps(o cover) bool {
	switch {
	case !c.ip.IsUnspecified():
		return o.has(c.ip)
	case !o.ip.IsUnspecified():
		return c.has(o.ip)
	}
	return c.fam == famAny || o.fam == famAny || c.fam == o.fam
}

// familied is a bound socket that knows its family.
type familied interface{ bindFam() family }

// lookupBound finds the socket for dst in a bind table: the one bound to
// dst itself, else a wildcard of dst's family, else a dual-stack wildcard
// of the other family's key.
func lookupBound[V familied](bound map[netip.AddrPort]V, dst netip.AddrPort) (V, bool) {
	if v, ok := bound[dst]; ok {
		return v, true
	}
	own, other := netip.IPv4Unspecified(), netip.IPv6Unspecified()
	if dst.Addr().Is6() {
		own, other = other, own
	}
	if v, ok := bound[netip.AddrPortFrom(own, dst.Port())]; ok && v.bindFam().has(dst.Addr()) {
		return v, true
	}
	if v, ok := bound[netip.AddrPortFrom(other, dst.Port())]; ok && v.bindFam() == famAny {
		return v, true
	}
	var zero V
	return zero, false
}

func (c *UDPConn) bindFam() family     { return c.fam }
func (l *TCPListener) bindFam() family { return l.fam }
