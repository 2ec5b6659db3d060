package middlebox

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/icelab/icelab/relay/pki"
	"github.com/icelab/icelab/vnet"
)

// Kind is the protocol a proxy speaks to its clients.
type Kind string

// Proxy kinds.
const (
	// HTTPConnect is an HTTP proxy that tunnels with CONNECT.
	HTTPConnect Kind = "http"
	// SOCKS5 is a SOCKS version 5 proxy (RFC 1928), CONNECT command only.
	SOCKS5 Kind = "socks5"
)

// Inspect is what a TLS-inspecting proxy does with a tunnel.
type Inspect string

// Inspection modes.
const (
	// NoInspection tunnels bytes untouched.
	NoInspection Inspect = ""
	// HTTPOnly terminates TLS with a certificate of the box's own CA,
	// parses HTTP and forwards requests over its own TLS connection to the
	// destination; a stream that is not HTTP is closed.
	HTTPOnly Inspect = "http-only"
	// PassThrough terminates TLS the same way and forwards whatever bytes
	// come, both ways, over its own TLS connection to the destination.
	PassThrough Inspect = "pass-through"
)

// Default ports, as the common implementations listen by default (Squid
// 3128, RFC 1928's 1080).
const (
	DefaultHTTPPort   = 3128
	DefaultSOCKS5Port = 1080
)

// Config is one proxy.
type Config struct {
	// Name names the proxy in errors and logs.
	Name string
	Kind Kind
	// Port is where it listens on its host; zero means the kind's default.
	Port int
	// AllowPorts are the destination ports it connects to; nil means any.
	// A request for another port is refused: 403 for HTTP CONNECT, as
	// Squid's default "http_access deny CONNECT !SSL_ports" (SSL_ports:
	// 443) does, and reply 0x02 "connection not allowed by ruleset" for
	// SOCKS5 (RFC 1928 §6).
	AllowPorts []int
	// Inspect turns on TLS inspection (HTTP CONNECT only).
	Inspect Inspect
	// CA issues the certificates the box presents when it inspects: a leaf
	// for each server name clients ask for.
	CA *pki.CA
	// Roots are the authorities the box trusts for its own connections to
	// destinations when it inspects.
	Roots *x509.CertPool
	// Users, when set, makes the proxy require a user name and password:
	// HTTP Basic in Proxy-Authorization (RFC 9110 §11.7.1, RFC 7617),
	// answering 407 without valid ones as Squid with "auth_param basic"
	// does, or SOCKS5 username/password (RFC 1929).
	Users map[string]string
	// Refused, when set, is told each time the proxy refuses or ends a
	// client's connection itself: from is the client's address, reason
	// says what and why ("CONNECT to port 5349 denied (403)").
	Refused func(from netip.AddrPort, reason string)
}

// Credentials are a user name and password for a proxy.
type Credentials struct {
	Username, Password string
}

// Proxy is a running proxy.
type Proxy struct {
	cfg  Config
	host *vnet.Host
	l    net.Listener
	addr netip.AddrPort

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	stop   func()

	leaves leafCache
}

// Start serves a proxy on host until Close.
func Start(host *vnet.Host, cfg Config) (*Proxy, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if cfg.Inspect != NoInspection && cfg.CA == nil {
		return nil, fmt.Errorf("proxy %s: TLS inspection needs a CA", cfg.Name)
	}
	port := cfg.Port
	if port == 0 {
		port = DefaultHTTPPort
		if cfg.Kind == SOCKS5 {
			port = DefaultSOCKS5Port
		}
	}
	l, err := host.ListenTCP("tcp4", &net.TCPAddr{IP: host.Addr().AsSlice(), Port: port})
	if err != nil {
		return nil, fmt.Errorf("proxy %s: listen on %d: %w", cfg.Name, port, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{cfg: cfg, host: host, l: l, addr: netip.AddrPortFrom(host.Addr(), uint16(port)),
		ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}, leaves: leafCache{ca: cfg.CA}}
	switch cfg.Kind {
	case HTTPConnect:
		p.serveHTTP()
	case SOCKS5:
		p.serveSOCKS5()
	}
	return p, nil
}

// Check reports what is wrong with a configuration, CA aside.
func (c Config) Check() error {
	switch c.Kind {
	case HTTPConnect, SOCKS5:
	default:
		return fmt.Errorf("proxy %s: unknown kind %q (want http or socks5)", c.Name, c.Kind)
	}
	switch c.Inspect {
	case NoInspection:
	case HTTPOnly, PassThrough:
		if c.Kind != HTTPConnect {
			return fmt.Errorf("proxy %s: TLS inspection needs an http proxy, not %s", c.Name, c.Kind)
		}
	default:
		return fmt.Errorf("proxy %s: unknown inspection %q (want http-only or pass-through)", c.Name, c.Inspect)
	}
	for _, p := range c.AllowPorts {
		if p < 1 || p > 65535 {
			return fmt.Errorf("proxy %s: allowed port %d out of range", c.Name, p)
		}
	}
	return nil
}

// valid reports whether user and password are one of the proxy's users.
func (p *Proxy) valid(user, password string) bool {
	pass, ok := p.cfg.Users[user]
	return ok && pass == password
}

// Addr is where the proxy listens.
func (p *Proxy) Addr() netip.AddrPort { return p.addr }

// refused reports a refusal of the connection from addr.
func (p *Proxy) refused(addr net.Addr, format string, args ...any) {
	if p.cfg.Refused == nil {
		return
	}
	var from netip.AddrPort
	if ta, ok := addr.(*net.TCPAddr); ok {
		from = ta.AddrPort()
	}
	p.cfg.Refused(from, fmt.Sprintf("proxy %s: ", p.cfg.Name)+fmt.Sprintf(format, args...))
}

// Config is the proxy's configuration.
func (p *Proxy) Config() Config { return p.cfg }

// allowed reports whether the proxy connects to port.
func (p *Proxy) allowed(port int) bool {
	return p.cfg.AllowPorts == nil || slices.Contains(p.cfg.AllowPorts, port)
}

// dial opens the proxy's own connection to address from its host.
func (p *Proxy) dial(ctx context.Context, address string) (net.Conn, error) {
	return p.host.DialContext(ctx, "tcp4", address)
}

// track registers a connection Close must close; false means the proxy is
// closing and c was closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// spawn runs f on a goroutine Close waits for.
func (p *Proxy) spawn(f func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
	return true
}

// Close stops the proxy and every connection through it, and returns when
// its goroutines have ended.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	conns := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	p.cancel()
	err := p.l.Close()
	if p.stop != nil {
		p.stop()
	}
	for _, c := range conns {
		_ = c.Close()
	}
	p.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// splice copies both ways between a and b until either side ends, then
// closes both.
func splice(a, b net.Conn) {
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
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
