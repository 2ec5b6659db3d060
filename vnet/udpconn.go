package vnet

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/pion/transport/v5"
)

// Socket receive buffer limits: a full buffer drops arriving datagrams, as
// the kernel does.
const (
	udpQueuePackets = 1024
	udpQueueBytes   = 4 << 20
)

// UDPConn is a UDP socket on a virtual host. It implements
// transport.UDPConn and net.PacketConn; it is safe for concurrent use.
type UDPConn struct {
	host  *Host
	laddr netip.AddrPort // as bound: may be 0.0.0.0:port
	src   netip.AddrPort // source for a connected socket, else laddr
	raddr netip.AddrPort // set for a connected socket
	fam   family         // what a wildcard socket receives and may send to

	mu          sync.Mutex
	queue       []queued // ring buffer
	head        int
	count       int
	bytes       int
	icmpRefused bool // ICMP unreachable arrived (connected sockets)
	icmpTooBig  bool // ICMP fragmentation needed arrived (connected sockets; mtu.go)
	closed      bool
	notify      chan struct{}
	done        chan struct{}
	// warmed is how many queued datagrams, from head on, have had their
	// payloads loaded by warmPayloads; warmth is what it read, kept so
	// that its loads are not dropped.
	warmed int
	warmth byte

	deadlines
}

var _ transport.UDPConn = (*UDPConn)(nil)

// queued is a datagram waiting in a socket's receive buffer, with what a
// read needs of its head copied beside it, taken while the packet is in
// the cache: a flush hands sockets thousands of packets before their
// readers run, so a reader comes to a packet when it has long left the
// cache, and loading its head stalled every read (4% of a 64-client
// room's CPU, in readFrom). A read touches the packet's payload only.
type queued struct {
	pkt     *packet
	payload []byte // pkt.payload
	src     netip.AddrPort
}

func newUDPConn(h *Host, raddr netip.AddrPort) *UDPConn {
	return &UDPConn{
		host:      h,
		raddr:     raddr,
		queue:     make([]queued, 16),
		notify:    make(chan struct{}, 1),
		done:      make(chan struct{}),
		deadlines: newDeadlines(),
	}
}

// enqueue accepts an arriving packet, or drops it when the buffer is full.
func (c *UDPConn) enqueue(pkt *packet) {
	c.mu.Lock()
	if c.closed || (c.raddr.IsValid() && pkt.src != c.raddr) {
		c.mu.Unlock()
		c.host.net.drop(c.host.name, pkt, "socket closed or not connected to sender")
		return
	}
	if c.count >= udpQueuePackets || c.bytes+len(pkt.payload) > udpQueueBytes {
		c.mu.Unlock()
		c.host.net.drop(c.host.name, pkt, "socket receive buffer full")
		return
	}
	if c.count == len(c.queue) {
		grown := make([]queued, 2*len(c.queue))
		for i := 0; i < c.count; i++ {
			grown[i] = c.queue[(c.head+i)%len(c.queue)]
		}
		c.queue, c.head = grown, 0
	}
	// Report before the packet is visible to readers, who release it.
	c.host.net.taps.emit(c.host.name, pkt, Delivered, "")
	c.queue[(c.head+c.count)%len(c.queue)] = queued{pkt: pkt, payload: pkt.payload, src: pkt.src}
	c.count++
	c.bytes += len(pkt.payload)
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// refused records an ICMP port unreachable for a connected socket, which
// the next read reports as connection refused.
func (c *UDPConn) refused(*packet) {
	c.mu.Lock()
	c.icmpRefused = true
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

func (c *UDPConn) opError(op string, addr net.Addr, err error) error {
	return &net.OpError{Op: op, Net: "udp", Source: c.LocalAddr(), Addr: addr, Err: err}
}

// ReadFromUDP reads one datagram.
func (c *UDPConn) ReadFromUDP(b []byte) (int, *net.UDPAddr, error) {
	n, from, err := c.readFrom(b)
	if err != nil {
		return n, nil, err
	}
	return n, udpAddr(from), nil
}

// readFrom reads one datagram and says where it came from.
func (c *UDPConn) readFrom(b []byte) (int, netip.AddrPort, error) {
	for {
		c.mu.Lock()
		if c.count > 0 {
			if c.warmed == 0 {
				c.warmed = c.warmPayloads()
			}
			c.warmed--
			q := c.queue[c.head]
			c.queue[c.head] = queued{}
			c.head = (c.head + 1) % len(c.queue)
			c.count--
			c.bytes -= len(q.payload)
			c.mu.Unlock()
			n := copy(b, q.payload)
			q.pkt.release()
			return n, q.src, nil
		}
		if c.closed {
			c.mu.Unlock()
			return 0, netip.AddrPort{}, c.opError("read", nil, net.ErrClosed)
		}
		if c.icmpRefused {
			c.icmpRefused = false
			c.mu.Unlock()
			return 0, netip.AddrPort{}, c.opError("read", c.RemoteAddr(), syscall.ECONNREFUSED)
		}
		if c.icmpTooBig {
			c.icmpTooBig = false
			c.mu.Unlock()
			return 0, netip.AddrPort{}, c.opError("read", c.RemoteAddr(), syscall.EMSGSIZE)
		}
		c.mu.Unlock()
		select {
		case <-c.notify:
		case <-c.done:
		case <-c.readDeadline.Done():
			return 0, netip.AddrPort{}, c.opError("read", nil, os.ErrDeadlineExceeded)
		}
	}
}

// readAhead is how many queued datagrams a read loads the payloads of at
// once.
const readAhead = 8

// warmPayloads loads the first two cache lines of the payloads of the
// next readAhead queued datagrams, or as many as there are, and returns
// how many. A reader comes to a datagram long after it was queued (see
// queued), its payload gone from the cache too, and copying it out began
// with a stall (the copy was 4.1 of 71 s of a 64-client room's CPU);
// loaded here in a loop that does nothing else, the loads do not wait on
// each other and are in flight together. The caller holds mu.
func (c *UDPConn) warmPayloads() int {
	n := min(c.count, readAhead)
	var sum byte
	for i := range n {
		p := c.queue[(c.head+i)%len(c.queue)].payload
		if len(p) > 0 {
			sum += p[0] + p[min(64, len(p)-1)]
		}
	}
	c.warmth += sum
	return n
}

// udpAddr is net.UDPAddrFromAddrPort in one allocation instead of two: the
// address's IP slice points into the same block.
func udpAddr(ap netip.AddrPort) *net.UDPAddr {
	a := &struct {
		net.UDPAddr
		ip [16]byte
	}{}
	ip := ap.Addr()
	if ip.Is4() {
		v4 := ip.As4()
		copy(a.ip[:], v4[:])
		a.IP = a.ip[:4:4]
	} else {
		a.ip = ip.As16()
		a.IP = a.ip[:16:16]
		a.Zone = ip.Zone()
	}
	a.Port = int(ap.Port())
	return &a.UDPAddr
}

// ReadFrom reads one datagram.
func (c *UDPConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.ReadFromUDP(b)
	if addr == nil {
		return n, nil, err
	}
	return n, addr, err
}

// Read reads one datagram from a connected socket.
func (c *UDPConn) Read(b []byte) (int, error) {
	n, _, err := c.ReadFromUDP(b)
	return n, err
}

// ReadMsgUDP reads one datagram; there is no out-of-band data.
func (c *UDPConn) ReadMsgUDP(b, _ []byte) (n, oobn, flags int, addr *net.UDPAddr, err error) {
	n, addr, err = c.ReadFromUDP(b)
	return n, 0, 0, addr, err
}

// WriteToUDP sends one datagram to addr.
func (c *UDPConn) WriteToUDP(b []byte, addr *net.UDPAddr) (int, error) {
	if addr == nil {
		return 0, c.opError("write", nil, syscall.EDESTADDRREQ)
	}
	dst, err := toAddrPort(addr)
	if err != nil {
		return 0, c.opError("write", addr, err)
	}
	return c.write(b, dst, addr)
}

func (c *UDPConn) write(b []byte, dst netip.AddrPort, addr net.Addr) (int, error) {
	select { // one case: no channel lock while the socket is open
	case <-c.done:
		return 0, c.opError("write", addr, net.ErrClosed)
	default:
	}
	if c.writeDeadline.exceeded() {
		return 0, c.opError("write", addr, os.ErrDeadlineExceeded)
	}
	if len(b) > 65507 {
		return 0, c.opError("write", addr, syscall.EMSGSIZE)
	}
	if err := c.host.checkDatagram(dst.Addr(), len(b)); err != nil {
		return 0, c.opError("write", addr, err)
	}
	if c.takeTooBig() {
		return 0, c.opError("write", addr, syscall.EMSGSIZE)
	}
	if c.host.lost(c.src.Addr()) {
		return 0, c.opError("write", addr, syscall.EADDRNOTAVAIL) // the address was moved away
	}
	if err := c.host.checkFamily(c.fam, c.src.Addr(), dst.Addr()); err != nil {
		return 0, c.opError("write", addr, &os.SyscallError{Syscall: "sendto", Err: err})
	}
	pkt := newPacket(UDP, c.src, dst, b)
	if c.raddr.IsValid() {
		pkt.sender = c
	}
	c.host.send(pkt)
	return len(b), nil
}

// WriteTo sends one datagram to addr, a *net.UDPAddr.
func (c *UDPConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, c.opError("write", addr, syscall.EINVAL)
	}
	if c.raddr.IsValid() {
		return 0, c.opError("write", addr, syscall.EISCONN)
	}
	return c.WriteToUDP(b, ua)
}

// Write sends one datagram on a connected socket.
func (c *UDPConn) Write(b []byte) (int, error) {
	if !c.raddr.IsValid() {
		return 0, c.opError("write", nil, syscall.EDESTADDRREQ)
	}
	return c.write(b, c.raddr, c.RemoteAddr())
}

// WriteMsgUDP sends one datagram; out-of-band data is ignored.
func (c *UDPConn) WriteMsgUDP(b, _ []byte, addr *net.UDPAddr) (n, oobn int, err error) {
	if addr == nil {
		n, err = c.Write(b)
	} else {
		n, err = c.WriteToUDP(b, addr)
	}
	return n, 0, err
}

// Close closes the socket; blocked reads return net.ErrClosed.
func (c *UDPConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.opError("close", nil, net.ErrClosed)
	}
	c.closed = true
	pending := c.queue
	c.queue, c.count, c.bytes, c.warmed = nil, 0, 0, 0
	close(c.done)
	c.mu.Unlock()
	for _, q := range pending {
		if q.pkt != nil {
			q.pkt.release()
		}
	}
	c.readDeadline.Set(time.Time{})
	c.writeDeadline.Set(time.Time{})
	c.host.unbindUDP(c.laddr, c)
	return nil
}

// LocalAddr returns the bound address, a *net.UDPAddr.
func (c *UDPConn) LocalAddr() net.Addr { return net.UDPAddrFromAddrPort(c.src) }

// RemoteAddr returns the connected peer, or nil.
func (c *UDPConn) RemoteAddr() net.Addr {
	if !c.raddr.IsValid() {
		return nil
	}
	return net.UDPAddrFromAddrPort(c.raddr)
}

// SetReadBuffer is accepted and ignored.
func (c *UDPConn) SetReadBuffer(int) error { return nil }

// SetWriteBuffer is accepted and ignored.
func (c *UDPConn) SetWriteBuffer(int) error { return nil }
