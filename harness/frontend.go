package harness

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/icelab/icelab/vnet"
)

// handshakeTimeout bounds a TLS handshake at a front end.
const handshakeTimeout = 10 * time.Second

// conns tracks a front end's connections so close can end them all.
type conns struct {
	mu     sync.Mutex
	set    map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func (c *conns) add(conn net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		_ = conn.Close()
		return false
	}
	if c.set == nil {
		c.set = map[net.Conn]struct{}{}
	}
	c.set[conn] = struct{}{}
	return true
}

func (c *conns) remove(conn net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.set, conn)
}

func (c *conns) closeAll() {
	c.mu.Lock()
	c.closed = true
	for conn := range c.set {
		_ = conn.Close()
	}
	c.mu.Unlock()
	c.wg.Wait()
}

// bufferedConn is a conn whose first bytes were peeked.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// demux is the single-domain set-up of the seed: one TLS listener on 443
// that serves HTTPS signalling and TURN/TLS, told apart after the
// handshake by the first byte (a STUN message starts with two zero bits).
// TURN streams go, decrypted, to the relay's TCP port on the same host.
type demux struct {
	l     net.Listener
	host  *vnet.Host
	relay netip.AddrPort
	cfg   *tls.Config
	http  *chanListener
	conns conns
}

func newDemux(l net.Listener, host *vnet.Host, relay netip.AddrPort, turnCert, signalCert tls.Certificate, signalName string) *demux {
	d := &demux{l: l, host: host, relay: relay, http: newChanListener(l.Addr())}
	d.cfg = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if h.ServerName == signalName {
			return &signalCert, nil
		}
		return &turnCert, nil
	}}
	d.conns.wg.Add(1)
	go d.serve()
	return d
}

func (d *demux) serve() {
	defer d.conns.wg.Done()
	for {
		conn, err := d.l.Accept()
		if err != nil {
			return
		}
		if !d.conns.add(conn) {
			continue
		}
		d.conns.wg.Add(1)
		go func() {
			defer d.conns.wg.Done()
			defer d.conns.remove(conn)
			d.handle(conn)
		}()
	}
}

func (d *demux) handle(conn net.Conn) {
	tc := tls.Server(conn, d.cfg)
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		return
	}
	br := bufio.NewReader(tc)
	first, err := br.Peek(1)
	if err != nil {
		_ = conn.Close()
		return
	}
	bc := &bufferedConn{Conn: tc, r: br}
	if first[0]&0xC0 != 0 { // not STUN: HTTP
		if !d.http.deliver(bc) {
			_ = conn.Close()
		}
		return
	}
	up, err := d.host.DialTCP("tcp4", nil, net.TCPAddrFromAddrPort(d.relay))
	if err != nil {
		_ = conn.Close()
		return
	}
	if !d.conns.add(up) {
		_ = conn.Close()
		return
	}
	defer d.conns.remove(up)
	pipe(bc, up)
}

func (d *demux) close() {
	_ = d.l.Close()
	_ = d.http.Close()
	d.conns.closeAll()
}

// chanListener is a net.Listener fed with connections by a front end.
type chanListener struct {
	addr   net.Addr
	ch     chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) deliver(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// loadBalancer is a layer-4 load balancer that terminates TLS with the
// TURN certificate and forwards the plain stream to the relays' TLS ports,
// as in the seed's dedicated TURN domain set-up. Only relays configured
// with external_tls expect plain TURN there.
type loadBalancer struct {
	l        net.Listener
	host     *vnet.Host
	backends []netip.AddrPort
	cfg      *tls.Config
	conns    conns
	mu       sync.Mutex
	next     int
}

func newLoadBalancer(host *vnet.Host, port int, cert tls.Certificate, backends []netip.AddrPort) (*loadBalancer, error) {
	if len(backends) == 0 {
		return nil, errors.New("load balancer: no relay serves TLS behind it")
	}
	l, err := host.ListenTCP("tcp4", &net.TCPAddr{IP: host.Addr().AsSlice(), Port: port})
	if err != nil {
		return nil, err
	}
	lb := &loadBalancer{l: l, host: host, backends: backends,
		cfg: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}}
	lb.conns.wg.Add(1)
	go lb.serve()
	return lb, nil
}

func (lb *loadBalancer) serve() {
	defer lb.conns.wg.Done()
	for {
		conn, err := lb.l.Accept()
		if err != nil {
			return
		}
		if !lb.conns.add(conn) {
			continue
		}
		lb.conns.wg.Add(1)
		go func() {
			defer lb.conns.wg.Done()
			defer lb.conns.remove(conn)
			lb.handle(conn)
		}()
	}
}

func (lb *loadBalancer) handle(conn net.Conn) {
	tc := tls.Server(conn, lb.cfg)
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		return
	}
	lb.mu.Lock()
	backend := lb.backends[lb.next%len(lb.backends)]
	lb.mu.Unlock()
	up, err := lb.host.DialTCP("tcp4", nil, net.TCPAddrFromAddrPort(backend))
	if err != nil {
		_ = conn.Close()
		return
	}
	if !lb.conns.add(up) {
		_ = conn.Close()
		return
	}
	defer lb.conns.remove(up)
	pipe(tc, up)
}

func (lb *loadBalancer) close() {
	_ = lb.l.Close()
	lb.conns.closeAll()
}

// pipe copies both ways between a and b until either side ends, then
// closes both.
func pipe(a, b net.Conn) {
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	_ = a.Close()
	_ = b.Close()
	<-done
}
