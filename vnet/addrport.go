package vnet

import (
	"net"
	"net/netip"
	"syscall"
)

// ReadFromAddrPort reads one datagram, as ReadFromUDP does, and returns its
// source as a netip.AddrPort. With WriteToAddrPort it implements pion/ice's
// AddrPortReaderWriter, which ICE agents and UDP muxes use instead of
// ReadFrom and WriteTo when a connection offers it: the same datagrams,
// without a *net.UDPAddr allocated per packet received and converted per
// packet sent (an operating system's *net.UDPConn offers the same through
// ReadFromUDPAddrPort and WriteToUDPAddrPort).
func (c *UDPConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return c.readFrom(b)
}

// WriteToAddrPort sends one datagram to addr, as WriteTo does.
func (c *UDPConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if c.raddr.IsValid() {
		return 0, c.opError("write", net.UDPAddrFromAddrPort(addr), syscall.EISCONN)
	}
	dst := netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port()) // as toAddrPort
	if !addr.Addr().IsValid() {
		dst = netip.AddrPortFrom(netip.IPv4Unspecified(), addr.Port())
	}
	n, err := c.write(b, dst, nil)
	if oe, ok := err.(*net.OpError); ok && oe.Addr == nil {
		oe.Addr = net.UDPAddrFromAddrPort(addr) // built only when needed
	}
	return n, err
}
