package vnet

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/pion/transport/v5"
)

// Interface is one of a host's network interfaces: an address on a
// router's LAN and the link to that router.
type Interface struct {
	host   *Host
	index  int
	name   string
	addr   netip.Addr // IPv4; zero on an IPv6-only LAN
	addr6  netip.Addr // IPv6; zero when the LAN carries none
	router *Router
	link   *Link
}

// Name returns the interface's name, such as "eth0".
func (i *Interface) Name() string { return i.name }

// Addr returns the interface's address: its IPv4 one, or its IPv6 one on
// an IPv6-only LAN.
func (i *Interface) Addr() netip.Addr {
	if !i.addr.IsValid() {
		return i.addr6
	}
	return i.addr
}

// Router returns the router the interface attaches to.
func (i *Interface) Router() *Router { return i.router }

// Link returns the interface's link to its router.
func (i *Interface) Link() *Link { return i.link }

// Host is a machine on the virtual network. It implements pion's
// transport.Net, so pion's webrtc, ice and turn run on it as on the
// operating system.
type Host struct {
	net  *Network
	name string

	mu     sync.RWMutex
	ifaces []*Interface
	// view is a copy of ifaces as last changed, never modified: the send
	// path reads it without taking mu, which every goroutine sending from
	// the host would otherwise contend for.
	view   atomic.Pointer[[]*Interface]
	udp    map[netip.AddrPort]*UDPConn
	mcast  map[netip.AddrPort][]*UDPConn // sockets bound to a group address, in multicast.go
	ports  ports                         // ephemeral ports of UDP sockets, in bind.go
	closed bool

	tcp tcpTable // TCP sockets, in tcp.go
	mtu hostMTU  // path MTU and fragment reassembly, in mtu.go

	moved atomic.Bool // the host has moved (Move): sources need checking
	seed  uint64      // draws its ports and orders its packets (serial.go)
}

var _ transport.Net = (*Host)(nil)

// Ephemeral ports, as Linux allocates them.
const (
	ephemeralMin = 32768
	ephemeralMax = 60999
)

// Name returns the host's name.
func (h *Host) Name() string { return h.name }

// Network returns the network the host belongs to.
func (h *Host) Network() *Network { return h.net }

// Addr returns the address of the host's first interface: its IPv4 one,
// or its IPv6 one when it has no IPv4 address.
func (h *Host) Addr() netip.Addr {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.ifaces[0].Addr()
}

// ExternalAddr returns the address the internet sees for the host's first
// interface.
func (h *Host) ExternalAddr() netip.Addr {
	ifc := h.first()
	ext, _ := ifc.router.ExternalAddr(ifc.Addr())
	return ext
}

// first returns the host's first interface.
func (h *Host) first() *Interface {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.ifaces[0]
}

// Link returns the link of the host's first interface.
func (h *Host) Link() *Link { return h.first().link }

// NetInterfaces returns the host's interfaces.
func (h *Host) NetInterfaces() []*Interface {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return append([]*Interface(nil), h.ifaces...)
}

// Attach adds an interface on router r's LAN (a second network card, a
// VPN). addr zero picks an address.
func (h *Host) Attach(r *Router, addr netip.Addr, link Impairment) (*Interface, error) {
	if err := h.attach(r, addr, netip.Addr{}, netip.Addr{}, false, link); err != nil {
		return nil, fmt.Errorf("vnet: host %s: %w", h.name, err)
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.ifaces[len(h.ifaces)-1], nil
}

// attach adds an interface on r's LAN with an IPv4 address (unless the LAN
// is IPv6-only) and an IPv6 one (when the LAN carries IPv6 and, on the
// internet, want6 asks for one).
func (h *Host) attach(r *Router, addr, public, addr6 netip.Addr, want6 bool, im Impairment) error {
	if err := im.Validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	addr, addr6, err := r.allocatePair(addr, addr6, want6)
	if err != nil {
		return err
	}
	h.mu.Lock()
	idx := len(h.ifaces)
	ifc := &Interface{host: h, index: idx + 1, name: "eth" + strconv.Itoa(idx), addr: addr, addr6: addr6, router: r}
	h.mu.Unlock()
	ifc.link = newLink(h.net, h.name+"-"+ifc.name)
	_ = ifc.link.Impair(im)
	if r.nat != nil && r.nat.cfg.Mode == OneToOne && addr.IsValid() {
		p := r.parent
		p.mu.Lock()
		ext, err := p.allocate(public)
		p.mu.Unlock()
		if err != nil {
			return fmt.Errorf("1:1 address: %w", err)
		}
		r.nat.bindOneToOne(addr, ext)
		p.mu.Lock()
		p.attach([]netip.Addr{ext}, netip.Prefix{}, p.routes.Load().addrs[r.wan])
		p.mu.Unlock()
	}
	r.attach(ifc.addrs(), netip.Prefix{}, &attachment{link: ifc.link, iface: ifc})
	h.mu.Lock()
	h.ifaces = append(h.ifaces, ifc)
	h.publish()
	h.mu.Unlock()
	return nil
}

// publish updates the view after a change of ifaces. The caller holds mu.
func (h *Host) publish() {
	view := append([]*Interface(nil), h.ifaces...)
	h.view.Store(&view)
}

// interfaces returns the host's interfaces as last changed, without taking
// mu; nobody may modify the slice.
func (h *Host) interfaces() []*Interface {
	if v := h.view.Load(); v != nil {
		return *v
	}
	return nil
}

// Move moves the host's first interface to router r's LAN, as a phone
// leaving Wi-Fi for cellular or a laptop leaving the office does: the
// interface gets an address on r's LAN (addr, or one picked when zero), its
// old address is gone from its old LAN, and its link keeps its impairments.
// Sockets bound to the wildcard address send from the new address at once;
// sockets bound to the old one can no longer send (their writes fail, as on
// an operating system whose address was removed) and receive nothing more,
// and TCP connections from it fall silent. Move returns the new address.
func (h *Host) Move(r *Router, addr netip.Addr) (netip.Addr, error) {
	if r.nat != nil && r.nat.cfg.Mode == OneToOne {
		return netip.Addr{}, fmt.Errorf("vnet: host %s: moving onto a 1:1 NAT's LAN is not supported", h.name)
	}
	var v4 netip.Addr
	if addr.Is4() {
		v4 = addr
	}
	r.mu.Lock()
	v4, addr6, err := r.allocatePair(v4, netip.Addr{}, false)
	r.mu.Unlock()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("vnet: host %s: move to %s: %w", h.name, r.name, err)
	}
	h.mu.Lock()
	old := h.ifaces[0]
	ifc := &Interface{host: h, index: old.index, name: old.name, addr: v4, addr6: addr6, router: r, link: old.link}
	h.ifaces[0] = ifc
	h.publish()
	h.mu.Unlock()
	h.moved.Store(true)
	old.router.mu.Lock()
	for _, a := range old.addrs() {
		old.router.detach(a)
	}
	old.router.mu.Unlock()
	r.mu.Lock()
	r.attach(ifc.addrs(), netip.Prefix{}, &attachment{link: ifc.link, iface: ifc})
	r.mu.Unlock()
	return ifc.Addr(), nil
}

// lost reports whether a is an address the host had and moved away from:
// a specific, non-loopback source it no longer owns.
func (h *Host) lost(a netip.Addr) bool {
	return h.moved.Load() && !a.IsUnspecified() && !a.IsLoopback() && !h.owns(a)
}

// owns reports whether a is one of the host's addresses.
func (h *Host) owns(a netip.Addr) bool {
	return hasAddr(h.interfaces(), a)
}

// hasAddr reports whether a is one of the host's addresses. The caller
// holds mu.
func (h *Host) hasAddr(a netip.Addr) bool {
	return hasAddr(h.ifaces, a)
}

// hasAddr reports whether a is the address of one of ifaces.
func hasAddr(ifaces []*Interface, a netip.Addr) bool {
	for _, ifc := range ifaces {
		if a.IsValid() && (ifc.addr == a || ifc.addr6 == a) {
			return true
		}
	}
	return false
}

// route picks the interface to send to dst from: the one whose LAN holds
// dst, else the first with an address of dst's family, else the first.
func (h *Host) route(src, dst netip.Addr) *Interface {
	ifaces := h.interfaces()
	if src.IsValid() && !src.IsUnspecified() {
		for _, ifc := range ifaces {
			if ifc.addr == src || ifc.addr6 == src {
				return ifc
			}
		}
	}
	for _, ifc := range ifaces {
		if ifc.source(dst).IsValid() && (ifc.router.lan.Contains(dst) || ifc.router.lan6.Contains(dst)) {
			return ifc
		}
	}
	for _, ifc := range ifaces {
		if ifc.source(dst).IsValid() {
			return ifc
		}
	}
	return ifaces[0]
}

// send puts a packet on the wire. pkt.src must be one of the host's
// addresses, or unspecified to let the route choose; a packet from an
// address the host no longer has (see Move) goes nowhere.
func (h *Host) send(pkt *packet) {
	if s := h.net.serial; s != nil {
		s.sent(h, pkt) // transmitted just after the instant
		return
	}
	h.transmit(pkt)
}

// transmit puts a packet on the wire now.
func (h *Host) transmit(pkt *packet) {
	if h.lost(pkt.src.Addr()) {
		h.net.drop(h.name, pkt, "source address "+pkt.src.Addr().String()+" is no longer the host's")
		return
	}
	ifc := h.route(pkt.src.Addr(), pkt.dst.Addr())
	if pkt.src.Addr().IsUnspecified() {
		src := ifc.source(pkt.dst.Addr())
		if !src.IsValid() {
			h.net.drop(h.name, pkt, "network unreachable: no "+familyName(pkt.dst.Addr())+" address")
			return
		}
		pkt.src = netip.AddrPortFrom(src, pkt.src.Port())
	}
	if h.owns(pkt.dst.Addr()) {
		h.deliver(pkt)
		return
	}
	h.egress(ifc, pkt) // DF and path MTU, in mtu.go
}

// deliver hands an arriving packet to the socket bound to its destination.
func (h *Host) deliver(pkt *packet) {
	if s := h.net.serial; s != nil {
		s.reached(h, pkt)
	}
	if pkt.frag != nil {
		if pkt = h.reassemble(pkt); pkt == nil {
			return
		}
	}
	switch pkt.proto {
	case UDP:
		h.mu.RLock()
		c, _ := lookupBound(h.udp, pkt.dst)
		h.mu.RUnlock()
		if c == nil {
			h.net.taps.emit(h.name, pkt, Rejected, "port unreachable")
			if pkt.sender != nil {
				pkt.sender.refused(pkt)
			}
			pkt.release()
			return
		}
		c.enqueue(pkt)
	case TCP:
		h.deliverTCP(pkt)
	default:
		h.net.drop(h.name, pkt, "protocol unreachable")
	}
}

// close closes every socket on the host.
func (h *Host) close() {
	h.mu.Lock()
	h.closed = true
	conns := make([]*UDPConn, 0, len(h.udp))
	for _, c := range h.udp {
		conns = append(conns, c)
	}
	conns = append(conns, h.multicastConns()...)
	h.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	h.closeTCP()
}

// transport.Net

func checkUDPNetwork(network string) error {
	switch network {
	case "udp", "udp4", "udp6":
		return nil
	}
	return net.UnknownNetworkError(network)
}

// ListenPacket listens for UDP on address ("10.1.0.2:5000", ":0").
func (h *Host) ListenPacket(network, address string) (net.PacketConn, error) {
	if err := checkUDPNetwork(network); err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	addr, err := h.ResolveUDPAddr(network, address)
	if err != nil {
		return nil, err
	}
	return h.ListenUDP(network, addr)
}

// ListenUDP listens for UDP on laddr; a nil or unspecified IP listens on
// every interface, port zero picks an ephemeral port.
func (h *Host) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	return h.DialUDP(network, laddr, nil)
}

// DialUDP opens a UDP socket connected to raddr.
func (h *Host) DialUDP(network string, laddr, raddr *net.UDPAddr) (transport.UDPConn, error) {
	op := "listen"
	if raddr != nil {
		op = "dial"
	}
	if err := checkUDPNetwork(network); err != nil {
		return nil, &net.OpError{Op: op, Net: network, Err: err}
	}
	local, err := toAddrPortFor(network, laddr)
	if err != nil {
		return nil, &net.OpError{Op: op, Net: network, Addr: laddr, Err: err}
	}
	fam := bindFamily(network, local.Addr())
	var remote netip.AddrPort
	if raddr != nil {
		if remote, err = toAddrPort(raddr); err != nil {
			return nil, &net.OpError{Op: op, Net: network, Addr: raddr, Err: err}
		}
		if !fam.has(remote.Addr()) {
			return nil, &net.OpError{Op: op, Net: network, Addr: raddr, Err: &net.AddrError{Err: "mismatched local address type", Addr: remote.Addr().String()}}
		}
	}
	var src netip.Addr
	if remote.IsValid() && local.Addr().IsUnspecified() {
		// A connected socket takes its source address from the route.
		if src = h.route(netip.Addr{}, remote.Addr()).source(remote.Addr()); !src.IsValid() {
			return nil, &net.OpError{Op: op, Net: network, Addr: raddr, Err: &os.SyscallError{Syscall: "connect", Err: syscall.ENETUNREACH}}
		}
	}
	c := newUDPConn(h, remote)
	c.fam = fam
	bound, err := h.bindUDP(c, local)
	if err != nil {
		return nil, &net.OpError{Op: op, Net: network, Addr: laddr, Err: err}
	}
	c.laddr = bound
	if src.IsValid() {
		c.src = netip.AddrPortFrom(src, bound.Port())
	} else {
		c.src = bound
	}
	return c, nil
}

// toAddrPortFor converts a local *net.UDPAddr for network: nil or an
// unspecified IP is the network's wildcard ("udp6": [::]:0, else
// 0.0.0.0:0), and an address of the wrong family for "udp4" or "udp6" is
// refused.
func toAddrPortFor(network string, a *net.UDPAddr) (netip.AddrPort, error) {
	ap, err := toAddrPort(a)
	if err != nil {
		return ap, err
	}
	fam := familyOf(network)
	if ap.Addr().IsUnspecified() {
		return netip.AddrPortFrom(fam.wildcard(ap.Addr()), ap.Port()), nil
	}
	if !fam.has(ap.Addr()) {
		return netip.AddrPort{}, fmt.Errorf("address %s: %w", a, syscall.EAFNOSUPPORT)
	}
	return ap, nil
}

// toAddrPort converts a *net.UDPAddr, nil meaning 0.0.0.0:0. IPv4-mapped
// IPv6 addresses are IPv4 ones.
func toAddrPort(a *net.UDPAddr) (netip.AddrPort, error) {
	if a == nil || a.IP == nil {
		port := 0
		if a != nil {
			port = a.Port
		}
		return netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(port)), nil
	}
	ip, ok := netip.AddrFromSlice(a.IP)
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("address %s: %w", a, syscall.EAFNOSUPPORT)
	}
	if a.Port < 0 || a.Port > 65535 {
		return netip.AddrPort{}, fmt.Errorf("port %d out of range", a.Port)
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(a.Port)), nil
}

// Dial connects to address over UDP ("udp", "udp4": a connected socket) or
// TCP ("tcp", "tcp4": a connection, after the handshake).
func (h *Host) Dial(network, address string) (net.Conn, error) {
	return h.DialContext(context.Background(), network, address)
}

// DialContext connects to address; for UDP the context only bounds name
// resolution.
func (h *Host) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return h.dial(ctx, network, nil, address)
}

func (h *Host) dial(ctx context.Context, network string, laddr net.Addr, address string) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	switch network {
	case "udp", "udp4", "udp6":
		raddr, err := h.ResolveUDPAddr(network, address)
		if err != nil {
			return nil, err
		}
		var l *net.UDPAddr
		if ua, ok := laddr.(*net.UDPAddr); ok {
			l = ua
		}
		return h.DialUDP(network, l, raddr)
	case "tcp", "tcp4", "tcp6":
		raddr, err := h.ResolveTCPAddr(network, address)
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
		var l *net.TCPAddr
		if ta, ok := laddr.(*net.TCPAddr); ok {
			l = ta
		}
		c, err := h.dialTCP(ctx, network, l, raddr)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	return nil, &net.OpError{Op: "dial", Net: network, Err: net.UnknownNetworkError(network)}
}

// ListenTCP listens for TCP connections on laddr; a nil or unspecified IP
// listens on every interface, port zero picks an ephemeral port. The
// listener is a *TCPListener.
func (h *Host) ListenTCP(network string, laddr *net.TCPAddr) (transport.TCPListener, error) {
	l, err := h.listenTCP(network, laddr)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// DialTCP connects to raddr from laddr (nil: the route's address and an
// ephemeral port). A refused connection fails at once with
// ECONNREFUSED; a SYN that gets no answer is retried as Linux does and
// the dial fails with ETIMEDOUT after about 127 s. The connection is a
// *TCPConn.
func (h *Host) DialTCP(network string, laddr, raddr *net.TCPAddr) (transport.TCPConn, error) {
	c, err := h.dialTCP(context.Background(), network, laddr, raddr)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Interfaces returns the host's interfaces as pion sees them.
func (h *Host) Interfaces() ([]*transport.Interface, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]*transport.Interface, 0, len(h.ifaces))
	for _, ifc := range h.ifaces {
		out = append(out, ifc.transport())
	}
	// Loopback interfaces a Bridge gave the host, for ICE-TCP.
	return append(out, h.loopbackInterfaces(len(h.ifaces)+1)...), nil
}

func (i *Interface) transport() *transport.Interface {
	a := i.Addr().AsSlice()
	ti := transport.NewInterface(net.Interface{
		Index:        i.index,
		MTU:          1500,
		Name:         i.name,
		HardwareAddr: net.HardwareAddr{0x02, 0, byte(i.index), a[len(a)-3], a[len(a)-2], a[len(a)-1]},
		Flags:        net.FlagUp | net.FlagMulticast,
	})
	if i.addr.IsValid() {
		ti.AddAddress(&net.IPNet{IP: i.addr.AsSlice(), Mask: net.CIDRMask(i.router.lan.Bits(), 32)})
	}
	if i.addr6.IsValid() {
		ti.AddAddress(&net.IPNet{IP: i.addr6.AsSlice(), Mask: net.CIDRMask(i.router.lan6.Bits(), 128)})
	}
	return ti
}

// InterfaceByIndex returns the interface with the given index.
func (h *Host) InterfaceByIndex(index int) (*transport.Interface, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, ifc := range h.ifaces {
		if ifc.index == index {
			return ifc.transport(), nil
		}
	}
	return nil, fmt.Errorf("%w: index %d", transport.ErrInterfaceNotFound, index)
}

// InterfaceByName returns the named interface.
func (h *Host) InterfaceByName(name string) (*transport.Interface, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, ifc := range h.ifaces {
		if ifc.name == name {
			return ifc.transport(), nil
		}
	}
	return nil, fmt.Errorf("%w: %s", transport.ErrInterfaceNotFound, name)
}

// CreateDialer returns a dialer that dials from this host with d's local
// address and timeouts.
func (h *Host) CreateDialer(d *net.Dialer) transport.Dialer {
	return &Dialer{host: h, d: d}
}

// Dialer dials from a host, honouring a net.Dialer's LocalAddr, Timeout and
// Deadline.
type Dialer struct {
	host *Host
	d    *net.Dialer
}

// Dial connects to address.
func (d *Dialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialContext connects to address within ctx.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var laddr net.Addr
	if d.d != nil {
		laddr = d.d.LocalAddr
		if d.d.Timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d.d.Timeout)
			defer cancel()
		}
		if !d.d.Deadline.IsZero() {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, d.d.Deadline)
			defer cancel()
		}
	}
	return d.host.dial(ctx, network, laddr, address)
}

// ListenConfig listens on a host, as net.ListenConfig does on the
// operating system.
type ListenConfig struct {
	host *Host
}

// CreateListenConfig returns a ListenConfig for this host. The control
// function and keep-alive settings of lc do not apply to virtual sockets.
func (h *Host) CreateListenConfig(*net.ListenConfig) transport.ListenConfig {
	return &ListenConfig{host: h}
}

// ListenPacket listens for UDP.
func (lc *ListenConfig) ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return lc.host.ListenPacket(network, address)
}

// Listen listens for TCP.
func (lc *ListenConfig) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	addr, err := lc.host.ResolveTCPAddr(network, address)
	if err != nil {
		return nil, err
	}
	return lc.host.ListenTCP(network, addr)
}
