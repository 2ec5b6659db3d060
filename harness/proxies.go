package harness

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/icelab/icelab/middlebox"
	"github.com/icelab/icelab/relay/pki"
	"github.com/icelab/icelab/vnet"
	"github.com/pion/stun/v4"
	"github.com/pion/webrtc/v4"
)

// ProxySpec is an explicit proxy host on a LAN, as corporate networks
// have: clients configured with it reach the internet through it, for
// signalling (HTTPS through CONNECT, or SOCKS5) and for TURN over TCP and
// TLS (pion's ICE proxy dialer); UDP never goes through it.
type ProxySpec struct {
	Name string
	// LAN is where the proxy sits; empty means the internet.
	LAN string
	// Addr is its address on the LAN; zero picks one. A firewall that
	// lets only the proxy out names this address.
	Addr netip.Addr
	// Kind is http (CONNECT) or socks5.
	Kind middlebox.Kind
	// Port is where it listens; zero means 3128 (http) or 1080 (socks5).
	Port int
	// AllowPorts are the destination ports it connects to; nil means any.
	// Squid's default is 443 only for CONNECT.
	AllowPorts []int
	// Inspect makes an http proxy inspect TLS: http-only or pass-through.
	Inspect middlebox.Inspect
	// Issuer is the common name of the inspecting box's CA; empty means
	// "NAME TLS Inspection CA".
	Issuer string
	// Users, when set, makes the proxy require one of these user names
	// and passwords (HTTP Basic, 407 without; SOCKS5 RFC 1929).
	Users map[string]string
}

func (p ProxySpec) issuer() string {
	if p.Issuer != "" {
		return p.Issuer
	}
	return p.Name + " TLS Inspection CA"
}

// validateProxies checks the proxies and what clients say of them; lans
// holds the defined LAN names.
func (s Spec) validateProxies(lans map[string]bool) error {
	proxies := map[string]ProxySpec{}
	hosts := map[string]bool{nodeName(s.Node): true, secondNodeName: true, lbName: true}
	endpoints := slices.Clone(s.Clients)
	for _, p := range s.Peers {
		endpoints = append(endpoints, p.ClientSpec)
	}
	for _, sv := range s.Servers {
		hosts[sv.Name] = true
	}
	for _, c := range endpoints {
		hosts[c.Name] = true
	}
	for i, p := range s.Proxies {
		if p.Name == "" {
			return fmt.Errorf("proxies[%d]: a name is required", i)
		}
		if hosts[p.Name] || lans[p.Name] {
			return fmt.Errorf("proxies[%d]: %q already names a host or a LAN", i, p.Name)
		}
		if _, dup := proxies[p.Name]; dup {
			return fmt.Errorf("proxies[%d]: duplicate name %q", i, p.Name)
		}
		proxies[p.Name] = p
		if !lans[p.LAN] {
			return fmt.Errorf("proxy %s: lan %q is not defined", p.Name, p.LAN)
		}
		if err := (middlebox.Config{Name: p.Name, Kind: p.Kind, AllowPorts: p.AllowPorts, Inspect: p.Inspect}).Check(); err != nil {
			return err
		}
	}
	for _, c := range endpoints {
		if _, ok := proxies[c.Proxy]; c.Proxy != "" && !ok {
			return fmt.Errorf("client %s: proxy %q is not defined", c.Name, c.Proxy)
		}
		if c.ProxyAuth != nil && c.Proxy == "" {
			return fmt.Errorf("client %s: proxy credentials without a proxy", c.Name)
		}
		for _, t := range c.Trust {
			if p, ok := proxies[t]; !ok || p.Inspect == middlebox.NoInspection {
				return fmt.Errorf("client %s: trust %q: no TLS-inspecting proxy of that name", c.Name, t)
			}
		}
	}
	return nil
}

// startProxies starts the spec's proxies on hosts of their own. Inspecting
// boxes get a CA of their own and trust what clients trust out of the box:
// the machine's roots and the run's CA.
func (r *runner) startProxies(runCA *x509.Certificate) (map[string]*middlebox.Proxy, error) {
	out := map[string]*middlebox.Proxy{}
	for _, ps := range r.spec.Proxies {
		// A millisecond of latency: a forwarder on a zero-latency path
		// can keep a synctest bubble busy (DESIGN: fake clock).
		h, err := r.topo.addHost(ps.Name, ps.LAN, ps.Addr, vnet.Impairment{Latency: time.Millisecond})
		if err != nil {
			return nil, err
		}
		cfg := middlebox.Config{Name: ps.Name, Kind: ps.Kind, Port: ps.Port, AllowPorts: ps.AllowPorts, Inspect: ps.Inspect,
			Users: ps.Users, Roots: systemRootsPlus(runCA), Refused: r.proxyRefused}
		if ps.Inspect != middlebox.NoInspection {
			if cfg.CA, err = pki.NewCA(ps.issuer()); err != nil {
				return nil, fmt.Errorf("proxy %s: %w", ps.Name, err)
			}
		}
		p, err := middlebox.Start(h, cfg)
		if err != nil {
			return nil, err
		}
		r.closers = append(r.closers, func() { _ = p.Close() })
		out[ps.Name] = p
	}
	return out, nil
}

// proxyRefused counts what a proxy refused as a drop of the client it
// refused, so that the client's failure reason says it.
func (r *runner) proxyRefused(from netip.AddrPort, reason string) {
	r.rs.drop(reason)
	r.drops.count(reason, from.Addr())
}

// systemRootsPlus is the machine's roots, which pion's own TURN/TLS
// client verifies against, and certs.
func systemRootsPlus(certs ...*x509.Certificate) *x509.CertPool {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool
}

// clientProxy is what a client uses of the proxies: the dialer through
// its proxy, if it has one, and the inspection CAs it trusts.
type clientProxy struct {
	name    string
	dialer  middlebox.Dialer
	trusted []*x509.Certificate
	runCA   *x509.Certificate
}

// useProxy points c's signalling at its proxy and makes it trust the
// inspection CAs c trusts (configureProxy made both).
func (c *client) useProxy() error {
	if c.proxy == nil {
		return nil
	}
	tr, ok := c.http.Transport.(*http.Transport)
	if !ok {
		return fmt.Errorf("client %s: signalling transport is a %T", c.spec.Name, c.http.Transport)
	}
	roots := x509.NewCertPool()
	roots.AddCert(c.proxy.runCA)
	for _, t := range c.proxy.trusted {
		roots.AddCert(t)
	}
	tr.TLSClientConfig.RootCAs = roots
	if c.proxy.dialer != nil {
		tr.DialContext = c.proxy.dialer.DialContext
	}
	return nil
}

// iceProxyDialer is pion's ICE proxy dialer for one attempt. ice v4.4.9
// (gather.go:1107) sends every TURN URL over TCP, turn: and turns: alike,
// through it and uses the connection it returns as is: for turns: the
// dialer must do TLS itself, as a browser does inside its CONNECT tunnel.
type iceProxyDialer struct {
	ctx   context.Context
	d     middlebox.Dialer
	tls   map[string]bool // host:port of turns: URLs
	roots *x509.CertPool
	v6    bool // the client has an IPv6 address
}

// applyProxy gives an attempt's setting engine the endpoint's proxy dialer.
func (c *endpoint) applyProxy(ctx context.Context, se *webrtc.SettingEngine, servers []webrtc.ICEServer) {
	if c.proxy == nil || c.proxy.dialer == nil {
		return
	}
	d := iceProxyDialer{ctx: ctx, d: c.proxy.dialer, tls: map[string]bool{},
		roots: systemRootsPlus(append([]*x509.Certificate{c.proxy.runCA}, c.proxy.trusted...)...)}
	for _, ifc := range c.host.NetInterfaces() {
		d.v6 = d.v6 || (ifc.Addr().Is6() && !ifc.Addr().Is4In6())
	}
	for _, s := range servers {
		for _, u := range s.URLs {
			uri, err := stun.ParseURI(u)
			if err == nil && uri.Scheme == stun.SchemeTypeTURNS {
				d.tls[net.JoinHostPort(uri.Host, strconv.Itoa(uri.Port))] = true
			}
		}
	}
	se.SetICEProxyDialer(d)
}

// Dial connects to address through the proxy, with TLS for turns: URLs.
// pion asks for tcp4 and tcp6 alike (see the pion behaviour specs); an
// IPv4-only client has no IPv6 path to its proxy, so tcp6 fails as a
// direct dial on such a host does, and pion does not count it.
func (d iceProxyDialer) Dial(network, address string) (net.Conn, error) {
	if strings.HasSuffix(network, "6") && !d.v6 {
		return nil, &net.AddrError{Err: "no suitable address", Addr: address}
	}
	ctx, cancel := context.WithTimeout(d.ctx, 30*time.Second) // pion gives no context
	defer cancel()
	conn, err := d.d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	if !d.tls[address] {
		return conn, nil
	}
	host, _, _ := net.SplitHostPort(address)
	tc := tls.Client(conn, &tls.Config{ServerName: host, RootCAs: d.roots, MinVersion: tls.VersionTLS12})
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("TLS to %s through the proxy: %w", address, explainTLS(err))
	}
	return tc, nil
}

// explainTLS names the issuer of a certificate the client did not trust:
// behind a TLS-inspecting box that is the box's CA, which is what a user
// needs to see.
func explainTLS(err error) error {
	var uae x509.UnknownAuthorityError
	if errors.As(err, &uae) && uae.Cert != nil {
		return fmt.Errorf("%w (issuer %q)", err, uae.Cert.Issuer.CommonName)
	}
	return err
}
