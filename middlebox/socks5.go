package middlebox

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/things-go/go-socks5"
	"github.com/things-go/go-socks5/statute"
)

// serveSOCKS5 serves RFC 1928 SOCKS5 with things-go/go-socks5 (the
// maintained fork of armon/go-socks5): no authentication, CONNECT only
// (BIND and UDP ASSOCIATE are refused by the rule set, as most corporate
// SOCKS deployments and browsers' WebRTC do not use them), names resolved
// and destinations dialled from the proxy's vnet host.
func (p *Proxy) serveSOCKS5() {
	opts := []socks5.Option{
		socks5.WithRule(socksRules{p}),
		socks5.WithResolver(socksResolver{p}),
		socks5.WithDial(func(_ context.Context, _, addr string) (net.Conn, error) {
			// The library dials with context.Background: bound the
			// dial by the proxy's lifetime instead.
			c, err := p.dial(p.ctx, addr)
			if err != nil {
				return nil, err
			}
			return p.tracked(c)
		}),
		socks5.WithGPool(socksPool{p}),
	}
	if len(p.cfg.Users) > 0 {
		opts = append(opts, socks5.WithCredential(socksCredentials{p}))
	}
	srv := socks5.NewServer(opts...)
	p.spawn(func() { _ = srv.Serve(trackingListener{Listener: p.l, p: p}) })
}

// socksCredentials checks RFC 1929 credentials against the proxy's users.
type socksCredentials struct{ p *Proxy }

func (s socksCredentials) Valid(user, password, userAddr string) bool {
	if s.p.valid(user, password) {
		return true
	}
	var from net.Addr
	if ap, err := netip.ParseAddrPort(userAddr); err == nil {
		from = net.TCPAddrFromAddrPort(ap)
	}
	s.p.refused(from, "SOCKS5 user %q not accepted (RFC 1929 status 0x01)", user)
	return false
}

// socksRules permits CONNECT to the allowed ports; anything else gets
// reply 0x02, "connection not allowed by ruleset" (RFC 1928 §6).
type socksRules struct{ p *Proxy }

func (r socksRules) Allow(ctx context.Context, req *socks5.Request) (context.Context, bool) {
	if req.Command != statute.CommandConnect {
		r.p.refused(req.RemoteAddr, "SOCKS5 command %d refused (reply 0x02): CONNECT only", req.Command)
		return ctx, false
	}
	if !r.p.allowed(req.DestAddr.Port) {
		r.p.refused(req.RemoteAddr, "SOCKS5 CONNECT %s denied (reply 0x02): port %d not allowed", req.RawDestAddr, req.DestAddr.Port)
		return ctx, false
	}
	return ctx, true
}

// socksResolver resolves names as the proxy's host does (RFC 1928 §5,
// ATYP 0x03: the proxy resolves a domain name for the client).
type socksResolver struct{ p *Proxy }

func (r socksResolver) Resolve(ctx context.Context, name string) (context.Context, net.IP, error) {
	a, err := r.p.host.ResolveIPAddr("ip4", name)
	if err != nil {
		return ctx, nil, fmt.Errorf("proxy %s: resolve %s: %w", r.p.cfg.Name, name, err)
	}
	return ctx, a.IP, nil
}

// socksPool runs the library's goroutines where Close waits for them. Once
// the proxy is closing, every connection is closed, so a task runs to its
// end at once on the caller's goroutine.
type socksPool struct{ p *Proxy }

func (s socksPool) Submit(f func()) error {
	if !s.p.spawn(f) {
		f()
	}
	return nil
}

// trackingListener registers accepted connections for Close.
type trackingListener struct {
	net.Listener
	p *Proxy
}

func (l trackingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if tc, err := l.p.tracked(c); err == nil {
			return tc, nil
		}
	}
}

// tracked registers c for Close and unregisters it when it is closed.
func (p *Proxy) tracked(c net.Conn) (net.Conn, error) {
	if !p.track(c) {
		return nil, fmt.Errorf("proxy %s: closing", p.cfg.Name)
	}
	return &trackedConn{Conn: c, p: p}, nil
}

type trackedConn struct {
	net.Conn
	p *Proxy
}

func (c *trackedConn) Close() error {
	c.p.untrack(c.Conn)
	return c.Conn.Close()
}

// CloseWrite half-closes the connection when it can, so that the
// library's copy loop passes an end of stream on (RFC 9293 §3.6).
func (c *trackedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
