package vnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"

	"github.com/pion/transport/v5"
)

// Bridge carries real loopback TCP connections into the virtual network.
//
// pion's ICE-TCP active side dials through the operating system, not the
// agent's transport.Net (ice/v4 active_tcp.go), so a client's ICE-TCP
// connection is always a real socket. A Bridge gives each host doing
// ICE-TCP an extra loopback interface holding a unique 127.0.0.0/8 address
// (see [Bridge.AddClient] and [Bridge.Listen]); pion gathers candidates on
// it when SetIncludeLoopbackCandidate(true) and TCP4 network types are set.
// A media node's ICE-TCP port listens for real on its loopback address;
// each connection accepted there is dialled again inside the virtual
// network, from the client host whose loopback address it came from to the
// media node's virtual address, so the NAT and firewalls on the way decide
// its fate and the address the media node sees. Bytes are copied between
// the real and the virtual connection until either side closes.
//
// A Bridge uses real sockets and goroutines blocked in the kernel, so it
// runs on the real clock, never inside a testing/synctest bubble.
// Addresses are chosen at random and checked by binding, so tests running
// in parallel do not collide. Close ends every connection and goroutine.
type Bridge struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	clients   map[netip.Addr]*Host
	used      map[netip.Addr]bool
	listeners []*BridgeListener
	conns     map[io.Closer]struct{}
	closed    bool
}

// NewBridge returns an empty bridge.
func NewBridge() *Bridge {
	ctx, cancel := context.WithCancel(context.Background())
	return &Bridge{
		ctx: ctx, cancel: cancel,
		clients: make(map[netip.Addr]*Host),
		used:    make(map[netip.Addr]bool),
		conns:   make(map[io.Closer]struct{}),
	}
}

// randomLoopback picks an address in 127.0.0.0/8 outside 127.0.0.0/16,
// where the usual loopback addresses live.
func randomLoopback() netip.Addr {
	for {
		v := rand.Uint32() & 0xffffff
		if v>>16 != 0 && v&0xff != 0 && v&0xff != 0xff {
			return netip.AddrFrom4([4]byte{127, byte(v >> 16), byte(v >> 8), byte(v)})
		}
	}
}

// claim picks a fresh loopback address that bind accepts, bound to port,
// and returns the bound listener (nil when port is zero: the address is
// then only checked, and kept for a client's outgoing connections).
func (b *Bridge) claim(port int) (netip.Addr, *net.TCPListener, error) {
	var lastErr error
	for range 64 {
		addr := randomLoopback()
		b.mu.Lock()
		taken := b.used[addr]
		b.mu.Unlock()
		if taken {
			continue
		}
		l, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: addr.AsSlice(), Port: port})
		if err != nil {
			lastErr = err
			if errors.Is(err, syscall.EADDRINUSE) {
				continue
			}
			return netip.Addr{}, nil, err
		}
		if port == 0 {
			_ = l.Close()
			l = nil
		}
		b.mu.Lock()
		b.used[addr] = true
		b.mu.Unlock()
		return addr, l, nil
	}
	return netip.Addr{}, nil, fmt.Errorf("no free loopback address for port %d: %w", port, lastErr)
}

// AddClient gives h a loopback interface with a unique 127.0.0.0/8 address
// and returns the address. Connections from it that reach one of the
// bridge's listeners are dialled from h inside the virtual network.
func (b *Bridge) AddClient(h *Host) (netip.Addr, error) {
	addr, _, err := b.claim(0)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("vnet: bridge client %s: %w", h.name, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return netip.Addr{}, fmt.Errorf("vnet: bridge client %s: %w", h.name, ErrClosed)
	}
	b.clients[addr] = h
	h.addLoopback(addr)
	return addr, nil
}

// Listen listens on port of a unique loopback address given to h as an
// interface, for real, and on port of h's first address, in the virtual
// network. The returned listener yields the virtual connections, whatever
// way they came: directly, or bridged from a client's real connection. Its
// Addr and its connections' LocalAddr are the loopback address, so an
// ice.TCPMux built on it advertises the address clients can dial.
func (b *Bridge) Listen(h *Host, port int) (*BridgeListener, error) {
	fail := func(err error) (*BridgeListener, error) {
		return nil, fmt.Errorf("vnet: bridge listen %s port %d: %w", h.name, port, err)
	}
	if port <= 0 || port > 65535 {
		return fail(errors.New("a port is required"))
	}
	addr, real, err := b.claim(port)
	if err != nil {
		return fail(err)
	}
	vl, err := h.listenTCP("tcp4", &net.TCPAddr{IP: h.Addr().AsSlice(), Port: port})
	if err != nil {
		_ = real.Close()
		return fail(err)
	}
	bl := &BridgeListener{vl: vl, real: real, local: netip.AddrPortFrom(addr, uint16(port))}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		_ = real.Close()
		_ = vl.Close()
		return fail(ErrClosed)
	}
	b.listeners = append(b.listeners, bl)
	b.wg.Add(1)
	b.mu.Unlock()
	h.addLoopback(addr)
	dst := netip.AddrPortFrom(h.Addr(), uint16(port))
	go func() {
		defer b.wg.Done()
		b.acceptLoop(real, dst)
	}()
	return bl, nil
}

// acceptLoop bridges every connection the real listener accepts.
func (b *Bridge) acceptLoop(real *net.TCPListener, dst netip.AddrPort) {
	for {
		rc, err := real.AcceptTCP()
		if err != nil {
			return
		}
		src := rc.RemoteAddr().(*net.TCPAddr).AddrPort()
		b.mu.Lock()
		h := b.clients[src.Addr().Unmap()]
		ok := !b.closed && h != nil
		if ok {
			b.conns[rc] = struct{}{}
			b.wg.Add(1)
		}
		b.mu.Unlock()
		if !ok {
			_ = rc.SetLinger(0)
			_ = rc.Close()
			continue
		}
		go func() {
			defer b.wg.Done()
			b.splice(rc, h, dst)
		}()
	}
}

// splice dials dst from h inside the virtual network and copies bytes
// between it and the real connection rc until both directions end.
func (b *Bridge) splice(rc *net.TCPConn, h *Host, dst netip.AddrPort) {
	defer b.forget(rc)
	vc, err := h.dialTCP(b.ctx, "tcp4", nil, net.TCPAddrFromAddrPort(dst))
	if err != nil {
		// Refused, reset or timed out inside: the client sees a reset.
		_ = rc.SetLinger(0)
		_ = rc.Close()
		return
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		_ = vc.Close()
		_ = rc.Close()
		return
	}
	b.conns[vc] = struct{}{}
	b.mu.Unlock()
	defer b.forget(vc)
	var wg sync.WaitGroup
	var reset sync.Once
	abort := func() {
		reset.Do(func() {
			_ = rc.SetLinger(0)
			_ = vc.SetLinger(0)
			_ = rc.Close()
			_ = vc.Close()
		})
	}
	wg.Go(func() {
		if _, err := io.Copy(vc, rc); err != nil {
			abort()
			return
		}
		_ = vc.CloseWrite()
	})
	wg.Go(func() {
		if _, err := io.Copy(rc, vc); err != nil {
			abort()
			return
		}
		_ = rc.CloseWrite()
	})
	wg.Wait()
	_ = rc.Close()
	_ = vc.Close()
}

func (b *Bridge) forget(c io.Closer) {
	b.mu.Lock()
	delete(b.conns, c)
	b.mu.Unlock()
}

// Close closes the bridge's listeners and every bridged connection, and
// waits for its goroutines to end.
func (b *Bridge) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	lns := b.listeners
	conns := make([]io.Closer, 0, len(b.conns))
	for c := range b.conns {
		conns = append(conns, c)
	}
	clients := b.clients
	b.mu.Unlock()
	b.cancel()
	for _, l := range lns {
		_ = l.Close()
	}
	for _, c := range conns {
		_ = c.Close()
	}
	b.wg.Wait()
	for addr, h := range clients {
		h.removeLoopback(addr)
	}
	for _, l := range lns {
		l.vl.host.removeLoopback(l.local.Addr())
	}
	return nil
}

// BridgeListener is a media node's ICE-TCP listener made by
// [Bridge.Listen]. It implements net.Listener; hand it to
// ice.NewTCPMuxDefault.
type BridgeListener struct {
	vl    *TCPListener
	real  *net.TCPListener
	local netip.AddrPort
	once  sync.Once
}

// Accept returns the next connection, whose LocalAddr is the listener's
// loopback address and RemoteAddr the client's address as the virtual
// network delivers it, after NAT.
func (l *BridgeListener) Accept() (net.Conn, error) {
	c, err := l.vl.accept()
	if err != nil {
		return nil, err
	}
	return &bridgedConn{TCPConn: c, local: net.TCPAddrFromAddrPort(l.local)}, nil
}

// Addr returns the loopback address, a *net.TCPAddr.
func (l *BridgeListener) Addr() net.Addr { return net.TCPAddrFromAddrPort(l.local) }

// Close stops both the real and the virtual listener.
func (l *BridgeListener) Close() error {
	err := net.ErrClosed
	l.once.Do(func() {
		_ = l.real.Close()
		err = l.vl.Close()
	})
	return err
}

// bridgedConn is a virtual connection that reports the loopback address
// as its local address.
type bridgedConn struct {
	*TCPConn
	local *net.TCPAddr
}

func (c *bridgedConn) LocalAddr() net.Addr { return c.local }

// addLoopback lists addr as a loopback interface of the host.
func (h *Host) addLoopback(addr netip.Addr) {
	h.tcp.mu.Lock()
	defer h.tcp.mu.Unlock()
	h.tcp.loopback = append(h.tcp.loopback, addr)
}

func (h *Host) removeLoopback(addr netip.Addr) {
	h.tcp.mu.Lock()
	defer h.tcp.mu.Unlock()
	for i, a := range h.tcp.loopback {
		if a == addr {
			h.tcp.loopback = append(h.tcp.loopback[:i:i], h.tcp.loopback[i+1:]...)
			return
		}
	}
}

// loopbackInterfaces returns the bridge's loopback interfaces of the host,
// indexed after its virtual ones.
func (h *Host) loopbackInterfaces(first int) []*transport.Interface {
	h.tcp.mu.RLock()
	defer h.tcp.mu.RUnlock()
	out := make([]*transport.Interface, 0, len(h.tcp.loopback))
	for i, a := range h.tcp.loopback {
		ti := transport.NewInterface(net.Interface{
			Index: first + i,
			MTU:   65536,
			Name:  "lo" + strconv.Itoa(i+1),
			Flags: net.FlagUp | net.FlagLoopback,
		})
		ti.AddAddress(&net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(32, 32)})
		out = append(out, ti)
	}
	return out
}
