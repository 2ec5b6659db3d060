package vnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/deadline"
)

// TCP defaults. The retransmission constants are Linux's.
const (
	// DefaultTCPMSS is the default largest payload of a segment. It is
	// larger than an Ethernet MSS because links have no MTU unless given
	// one (Link.SetMTU) and a segment costs the same to route whatever its
	// size; a link with an MTU makes TCP announce MTU-40 instead (mtu.go).
	DefaultTCPMSS = 16 << 10
	// DefaultTCPBuffer is the default size of a connection's send and
	// receive buffers; the receive buffer bounds the advertised window.
	DefaultTCPBuffer = 256 << 10
	// DefaultTCPUserTimeout is how long transmitted data may stay
	// unacknowledged before a connection fails. Linux's tcp_retries2=15
	// amounts to about 15 minutes; two are enough to see a blackholed
	// connection fail in a test.
	DefaultTCPUserTimeout = 2 * time.Minute
	// DefaultTCPTimeWait is how long a connection that closed first stays
	// in TIME-WAIT: Linux's TCP_TIMEWAIT_LEN.
	DefaultTCPTimeWait = 60 * time.Second

	tcpInitialRTO  = time.Second
	tcpMinRTO      = 200 * time.Millisecond
	tcpMaxRTO      = 120 * time.Second
	tcpSynRetries  = 6  // SYN retransmissions: 1+2+4+8+16+32+64 = 127 s
	tcpSynAckRetry = 5  // SYN-ACK retransmissions before a half-open connection is dropped
	tcpMaxRetries  = 15 // data retransmissions (tcp_retries2)
	tcpFinTimeout  = 60 * time.Second
	tcpBacklog     = 4096
	tcpMaxBurst    = 32 // segments sent per round of output
)

// TCPConfig tunes a host's TCP stack. Zero fields take the defaults.
type TCPConfig struct {
	// MSS is the largest payload of a segment; zero means DefaultTCPMSS.
	MSS int
	// SendBuffer and ReceiveBuffer are the sizes of each connection's
	// buffers in bytes; zero means DefaultTCPBuffer. A full send buffer
	// blocks Write; the free receive buffer is the advertised window.
	SendBuffer, ReceiveBuffer int
	// UserTimeout is how long transmitted data may stay unacknowledged
	// before the connection fails with ETIMEDOUT, as TCP_USER_TIMEOUT;
	// zero means DefaultTCPUserTimeout. Retransmissions also stop after
	// 15, as Linux's tcp_retries2.
	UserTimeout time.Duration
	// TimeWait is how long a connection that closed first lingers in
	// TIME-WAIT after both FINs are acknowledged, to acknowledge the
	// peer's FIN again should the first ACK be lost; zero means
	// DefaultTCPTimeWait. It keeps no goroutine and holds no buffer, and
	// it does not keep Close or Network.Close waiting.
	TimeWait time.Duration
}

func (c TCPConfig) withDefaults() TCPConfig {
	if c.MSS <= 0 {
		c.MSS = DefaultTCPMSS
	}
	if c.SendBuffer <= 0 {
		c.SendBuffer = DefaultTCPBuffer
	}
	if c.ReceiveBuffer <= 0 {
		c.ReceiveBuffer = DefaultTCPBuffer
	}
	if c.UserTimeout <= 0 {
		c.UserTimeout = DefaultTCPUserTimeout
	}
	if c.TimeWait <= 0 {
		c.TimeWait = DefaultTCPTimeWait
	}
	return c
}

// tcpKey names a connection by its local and remote endpoints.
type tcpKey struct {
	local, remote netip.AddrPort
}

// tcpTable is a host's TCP state: its connections, listeners, ports and
// the loopback addresses the ICE-TCP bridge gave it.
type tcpTable struct {
	mu        sync.RWMutex
	cfg       TCPConfig
	conns     map[tcpKey]*TCPConn
	listeners map[netip.AddrPort]*TCPListener
	used      map[uint16]int // local port -> sockets using it
	ports     ports          // ephemeral ports, in bind.go
	loopback  []netip.Addr
	closed    bool
}

// SetTCPConfig sets the TCP configuration of connections the host opens or
// accepts from now on.
func (h *Host) SetTCPConfig(cfg TCPConfig) {
	h.tcp.mu.Lock()
	defer h.tcp.mu.Unlock()
	h.tcp.cfg = cfg
}

func (h *Host) tcpConfig() TCPConfig {
	h.tcp.mu.RLock()
	defer h.tcp.mu.RUnlock()
	return h.tcp.cfg.withDefaults()
}

// tcpConnCount returns how many connections the host tracks, in any state,
// TIME-WAIT included.
func (h *Host) tcpConnCount() int {
	h.tcp.mu.RLock()
	defer h.tcp.mu.RUnlock()
	return len(h.tcp.conns)
}

// deliverTCP hands an arriving segment to its connection or listener, or
// answers it with a reset as an operating system does for a closed port.
func (h *Host) deliverTCP(pkt *packet) {
	t := &h.tcp
	syn := pkt.seg.Flags&(FlagSYN|FlagACK|FlagRST) == FlagSYN
	t.mu.RLock()
	c := t.conns[tcpKey{pkt.dst, pkt.src}]
	var l *TCPListener
	if c == nil || syn {
		l, _ = lookupBound(t.listeners, pkt.dst)
	}
	t.mu.RUnlock()
	if c != nil && l != nil && syn && c.reopenTimeWait(pkt.seg.Seq) {
		c = nil // a new incarnation of a connection in TIME-WAIT
	}
	if c != nil {
		h.net.taps.emit(h.name, pkt, Delivered, "")
		c.input(pkt)
		pkt.release()
		return
	}
	if l != nil && syn {
		if l.handleSYN(pkt) {
			pkt.release()
			return
		}
	}
	if pkt.seg.Flags&FlagRST != 0 {
		h.net.drop(h.name, pkt, "no connection for reset")
		return
	}
	h.net.taps.emit(h.name, pkt, Rejected, "port closed")
	rst := resetFor(pkt)
	pkt.release()
	h.send(rst)
}

// resetFor returns the reset that answers pkt (RFC 9293 3.10.7.1).
func resetFor(pkt *packet) *packet {
	rst := newPacket(TCP, pkt.dst, pkt.src, nil)
	if pkt.seg.Flags&FlagACK != 0 {
		rst.seg = Segment{Flags: FlagRST, Seq: pkt.seg.Ack}
		return rst
	}
	n := uint32(len(pkt.payload))
	if pkt.seg.Flags&FlagSYN != 0 {
		n++
	}
	if pkt.seg.Flags&FlagFIN != 0 {
		n++
	}
	rst.seg = Segment{Flags: FlagRST | FlagACK, Ack: pkt.seg.Seq + n}
	return rst
}

// bindPort claims a local port for a socket; zero picks an ephemeral
// port. It must be called with t.mu held.
func (t *tcpTable) bindPort(port uint16, key uint64, free func(uint16) bool) (uint16, error) {
	if t.closed {
		return 0, ErrClosed
	}
	if port == 0 {
		var ok bool
		if port, ok = t.ports.pick(key, func(p uint16) bool { return t.used[p] == 0 && free(p) }); !ok {
			return 0, syscall.EADDRINUSE
		}
	} else if !free(port) {
		return 0, syscall.EADDRINUSE
	}
	if t.used == nil {
		t.used = make(map[uint16]int)
	}
	t.used[port]++
	return port, nil
}

// connectKey is what a connection's ephemeral port is drawn from: its
// source address and its destination, as Linux draws a connecting
// socket's port (RFC 6056's algorithm 3).
func connectKey(src netip.Addr, dst netip.AddrPort) uint64 {
	return mix(portKey(TCP, src, bindFamily("tcp", src)) ^ portKey(TCP, dst.Addr(), 0) ^ uint64(dst.Port()))
}

func (t *tcpTable) releasePort(port uint16) {
	if t.used[port]--; t.used[port] <= 0 {
		delete(t.used, port)
	}
}

// registerTCP adds a connection; it fails when its endpoints are taken.
func (h *Host) registerTCP(c *TCPConn, bindPort bool) error {
	t := &h.tcp
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	if bindPort {
		port, err := t.bindPort(c.laddr.Port(), connectKey(c.laddr.Addr(), c.raddr), func(p uint16) bool {
			_, taken := t.conns[tcpKey{netip.AddrPortFrom(c.laddr.Addr(), p), c.raddr}]
			return !taken
		})
		if err != nil {
			return err
		}
		c.laddr = netip.AddrPortFrom(c.laddr.Addr(), port)
	} else {
		if _, taken := t.conns[tcpKey{c.laddr, c.raddr}]; taken {
			return syscall.EADDRINUSE
		}
		if t.used == nil {
			t.used = make(map[uint16]int)
		}
		t.used[c.laddr.Port()]++
	}
	if t.conns == nil {
		t.conns = make(map[tcpKey]*TCPConn)
	}
	t.conns[tcpKey{c.laddr, c.raddr}] = c
	return nil
}

func (h *Host) unregisterTCP(c *TCPConn) {
	t := &h.tcp
	t.mu.Lock()
	defer t.mu.Unlock()
	k := tcpKey{c.laddr, c.raddr}
	if t.conns[k] == c {
		delete(t.conns, k)
		if !c.portFreed {
			t.releasePort(c.laddr.Port())
		}
	}
}

// timeWaitTCP releases the local port of a connection that entered
// TIME-WAIT, so that connections to other peers may use it, as Linux lets
// connect() pick a port whose only users are TIME-WAIT sockets. The
// connection still answers its own endpoints until TIME-WAIT ends.
func (h *Host) timeWaitTCP(c *TCPConn) {
	t := &h.tcp
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conns[tcpKey{c.laddr, c.raddr}] == c && !c.portFreed {
		c.portFreed = true
		t.releasePort(c.laddr.Port())
	}
}

// closeTCP aborts every connection and closes every listener of the host,
// silently, as a machine that is switched off.
func (h *Host) closeTCP() {
	t := &h.tcp
	t.mu.Lock()
	t.closed = true
	conns := make([]*TCPConn, 0, len(t.conns))
	for _, c := range t.conns {
		conns = append(conns, c)
	}
	lns := make([]*TCPListener, 0, len(t.listeners))
	for _, l := range t.listeners {
		lns = append(lns, l)
	}
	t.mu.Unlock()
	for _, l := range lns {
		_ = l.Close()
	}
	for _, c := range conns {
		c.abort(net.ErrClosed, false)
	}
}

func checkTCPNetwork(network string) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
		return nil
	}
	return net.UnknownNetworkError(network)
}

// tcpAddrPort converts a *net.TCPAddr, nil meaning 0.0.0.0:0.
func tcpAddrPort(a *net.TCPAddr) (netip.AddrPort, error) {
	if a == nil {
		return netip.AddrPortFrom(netip.IPv4Unspecified(), 0), nil
	}
	return toAddrPort(&net.UDPAddr{IP: a.IP, Port: a.Port})
}

// listenTCP opens a listener at laddr; an unspecified IP listens on every
// interface, port zero picks an ephemeral port.
func (h *Host) listenTCP(network string, laddr *net.TCPAddr) (*TCPListener, error) {
	fail := func(err error) (*TCPListener, error) {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: laddr, Err: err}
	}
	if err := checkTCPNetwork(network); err != nil {
		return fail(err)
	}
	local, err := tcpAddrPort(laddr)
	if err == nil {
		local, err = toAddrPortFor(network, net.UDPAddrFromAddrPort(local))
	}
	if err != nil {
		return fail(err)
	}
	ip := local.Addr()
	fam := bindFamily(network, ip)
	h.mu.RLock()
	ok := ip.IsUnspecified() || h.hasAddr(ip)
	h.mu.RUnlock()
	if !ok {
		return fail(&os.SyscallError{Syscall: "bind", Err: syscall.EADDRNOTAVAIL})
	}
	l := &TCPListener{host: h, fam: fam, wake: make(chan struct{}), deadline: deadline.New()}
	t := &h.tcp
	t.mu.Lock()
	port, err := t.bindPort(local.Port(), portKey(TCP, ip, fam), func(p uint16) bool { return !portTaken(t.listeners, cover{ip, fam}, p) })
	if err != nil {
		t.mu.Unlock()
		if !errors.Is(err, ErrClosed) {
			err = &os.SyscallError{Syscall: "bind", Err: err}
		}
		return fail(err)
	}
	l.addr = netip.AddrPortFrom(ip, port)
	if t.listeners == nil {
		t.listeners = make(map[netip.AddrPort]*TCPListener)
	}
	t.listeners[l.addr] = l
	t.mu.Unlock()
	return l, nil
}

// dialTCP opens a connection from laddr to raddr within ctx. Without a
// deadline the SYN is retried as Linux does, failing after about 127 s.
func (h *Host) dialTCP(ctx context.Context, network string, laddr, raddr *net.TCPAddr) (*TCPConn, error) {
	var addr net.Addr
	if raddr != nil {
		addr = raddr
	}
	fail := func(err error) (*TCPConn, error) {
		var src net.Addr
		if laddr != nil {
			src = laddr
		}
		return nil, &net.OpError{Op: "dial", Net: network, Source: src, Addr: addr, Err: err}
	}
	if err := checkTCPNetwork(network); err != nil {
		return fail(err)
	}
	if raddr == nil {
		return fail(errors.New("missing address"))
	}
	local, err := tcpAddrPort(laddr)
	if err != nil {
		return fail(err)
	}
	remote, err := tcpAddrPort(raddr)
	if err != nil {
		return fail(err)
	}
	if remote.Port() == 0 {
		return fail(&os.SyscallError{Syscall: "connect", Err: syscall.EADDRNOTAVAIL})
	}
	if remote.Addr().IsUnspecified() { // as on Linux: this host
		remote = netip.AddrPortFrom(h.Addr(), remote.Port())
	}
	if err := ctx.Err(); err != nil {
		return fail(mapContextErr(err))
	}
	if remote.Addr().Is4() && familyOf(network) == fam6 || remote.Addr().Is6() && familyOf(network) == fam4 {
		return fail(&net.AddrError{Err: "mismatched local address type", Addr: remote.Addr().String()})
	}
	src := local.Addr()
	if src.IsUnspecified() {
		if src = h.route(netip.Addr{}, remote.Addr()).source(remote.Addr()); !src.IsValid() {
			return fail(&os.SyscallError{Syscall: "connect", Err: syscall.ENETUNREACH})
		}
	} else if src.Is4() != remote.Addr().Is4() {
		return fail(&os.SyscallError{Syscall: "connect", Err: syscall.EAFNOSUPPORT})
	} else {
		h.mu.RLock()
		ok := h.hasAddr(src)
		h.mu.RUnlock()
		if !ok {
			return fail(&os.SyscallError{Syscall: "bind", Err: syscall.EADDRNOTAVAIL})
		}
	}
	cfg, announce := h.tcpConfigTo(remote.Addr(), 0)
	c := newTCPConn(h, netip.AddrPortFrom(src, local.Port()), remote, cfg)
	c.advMSS = announce
	c.state = stateSynSent
	c.estab = make(chan struct{})
	estab := c.estab
	if err := h.registerTCP(c, true); err != nil {
		if !errors.Is(err, ErrClosed) {
			err = &os.SyscallError{Syscall: "bind", Err: err}
		}
		return fail(err)
	}
	c.output()
	select {
	case <-estab:
	case <-ctx.Done():
		c.abort(net.ErrClosed, false)
		return fail(mapContextErr(ctx.Err()))
	}
	c.mu.Lock()
	err = c.err
	c.mu.Unlock()
	if err != nil {
		c.abort(net.ErrClosed, false)
		if se, ok := err.(*os.SyscallError); ok {
			err = &os.SyscallError{Syscall: "connect", Err: se.Err}
		}
		return fail(err)
	}
	return c, nil
}

// timeoutError is a dial's error when its deadline passes, as the standard
// library's: a timeout that matches context.DeadlineExceeded and
// os.ErrDeadlineExceeded.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
func (timeoutError) Is(err error) bool {
	return err == context.DeadlineExceeded || err == os.ErrDeadlineExceeded
}

func mapContextErr(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return timeoutError{}
	}
	return err
}

// TCPListener is a TCP listener on a virtual host. It implements
// transport.TCPListener and net.Listener.
type TCPListener struct {
	host     *Host
	addr     netip.AddrPort
	fam      family // what a wildcard listener accepts
	deadline *deadline.Deadline

	mu     sync.Mutex
	queue  []*TCPConn // established, not yet accepted
	closed bool
	wake   chan struct{} // closed and replaced when the queue or state changes
}

var _ transport.TCPListener = (*TCPListener)(nil)

// handleSYN opens a half-open connection for an arriving SYN. It returns
// false when the listener is closed, so the host resets the SYN.
func (l *TCPListener) handleSYN(pkt *packet) bool {
	l.mu.Lock()
	closed, full := l.closed, len(l.queue) >= tcpBacklog
	l.mu.Unlock()
	if closed {
		return false
	}
	if full {
		l.host.net.taps.emit(l.host.name, pkt, Dropped, "listen queue full")
		return true
	}
	h := l.host
	cfg, announce := h.tcpConfigTo(pkt.src.Addr(), pkt.seg.MSS)
	c := newTCPConn(h, pkt.dst, pkt.src, cfg)
	c.advMSS = announce
	c.ln = l
	c.state = stateSynRcvd
	c.irs, c.rcvNxt = pkt.seg.Seq, pkt.seg.Seq+1
	c.sndWnd = pkt.seg.Window
	c.sackOK = pkt.seg.SACKPermitted
	if err := h.registerTCP(c, false); err != nil {
		return true // a racing SYN for the same endpoints won
	}
	h.net.taps.emit(h.name, pkt, Delivered, "")
	c.output()
	return true
}

// enqueue queues an established connection for Accept; a closed or full
// listener resets it.
func (l *TCPListener) enqueue(c *TCPConn) {
	l.mu.Lock()
	if l.closed || len(l.queue) >= tcpBacklog {
		l.mu.Unlock()
		c.abort(syscall.ECONNRESET, true)
		return
	}
	l.queue = append(l.queue, c)
	close(l.wake)
	l.wake = make(chan struct{})
	l.mu.Unlock()
}

// AcceptTCP waits for and returns the next connection.
func (l *TCPListener) AcceptTCP() (transport.TCPConn, error) {
	c, err := l.accept()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Accept waits for and returns the next connection, a *TCPConn.
func (l *TCPListener) Accept() (net.Conn, error) {
	c, err := l.accept()
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (l *TCPListener) accept() (*TCPConn, error) {
	for {
		select {
		case <-l.deadline.Done():
			return nil, l.opError(os.ErrDeadlineExceeded)
		default:
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return nil, l.opError(net.ErrClosed)
		}
		if len(l.queue) > 0 {
			c := l.queue[0]
			l.queue[0] = nil
			l.queue = l.queue[1:]
			l.mu.Unlock()
			c.mu.Lock()
			c.ln = nil
			c.mu.Unlock()
			return c, nil
		}
		wake := l.wake
		l.mu.Unlock()
		select {
		case <-wake:
		case <-l.deadline.Done():
			return nil, l.opError(os.ErrDeadlineExceeded)
		}
	}
}

func (l *TCPListener) opError(err error) error {
	return &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: err}
}

// Close stops listening. Connections not yet accepted are reset.
func (l *TCPListener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return &net.OpError{Op: "close", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
	}
	l.closed = true
	queued := l.queue
	l.queue = nil
	close(l.wake)
	l.wake = make(chan struct{})
	l.mu.Unlock()
	l.deadline.Set(time.Time{})
	t := &l.host.tcp
	t.mu.Lock()
	if t.listeners[l.addr] == l {
		delete(t.listeners, l.addr)
		t.releasePort(l.addr.Port())
	}
	t.mu.Unlock()
	for _, c := range queued {
		c.abort(syscall.ECONNRESET, true)
	}
	return nil
}

// Addr returns the listening address, a *net.TCPAddr.
func (l *TCPListener) Addr() net.Addr { return net.TCPAddrFromAddrPort(l.addr) }

// SetDeadline sets the deadline for Accept; zero means none.
func (l *TCPListener) SetDeadline(t time.Time) error {
	l.deadline.Set(t)
	return nil
}

// String describes the listener for logs.
func (l *TCPListener) String() string {
	return fmt.Sprintf("tcp listener %s on %s", l.addr, l.host.name)
}
