package vnet

import (
	"net/netip"
	"slices"
)

// Sockets bound to a multicast group address, such as the one pion's ICE
// agent opens for mDNS (224.0.0.251:5353) unless its mDNS mode is
// disabled. Linux lets a UDP socket bind to a group address, and Go's
// net.ListenUDP sets SO_REUSEADDR on such a socket, so every peer
// connection of a process can bind the same group and port: so here.
// Such a socket receives nothing yet: vnet carries no multicast, and
// joining a group (x/net's ipv4.PacketConn.JoinGroup) needs an operating
// system socket, so pion's mDNS responder does not start on vnet
// (see archetypes.Browser); pion leaves its group socket open then, and
// Host.close closes it with the rest.

// bindMulticast registers c at the group address laddr, choosing an
// ephemeral port for port zero. The caller holds h.mu.
func (h *Host) bindMulticast(c *UDPConn, laddr netip.AddrPort) (netip.AddrPort, error) {
	port := laddr.Port()
	if port == 0 {
		taken := func(p uint16) bool { return len(h.mcast[netip.AddrPortFrom(laddr.Addr(), p)]) > 0 }
		port, _ = h.ports.pick(portKey(UDP, laddr.Addr(), famAny), func(p uint16) bool { return !taken(p) })
	}
	bound := netip.AddrPortFrom(laddr.Addr(), port)
	if h.mcast == nil {
		h.mcast = make(map[netip.AddrPort][]*UDPConn)
	}
	h.mcast[bound] = append(h.mcast[bound], c)
	return bound, nil
}

// unbindMulticast removes c from its group address. The caller holds h.mu.
func (h *Host) unbindMulticast(addr netip.AddrPort, c *UDPConn) {
	conns := slices.DeleteFunc(h.mcast[addr], func(o *UDPConn) bool { return o == c })
	if len(conns) == 0 {
		delete(h.mcast, addr)
		return
	}
	h.mcast[addr] = conns
}

// multicastConns returns every socket bound to a group address. The
// caller holds h.mu.
func (h *Host) multicastConns() []*UDPConn {
	var out []*UDPConn
	for _, conns := range h.mcast {
		out = append(out, conns...)
	}
	return out
}
