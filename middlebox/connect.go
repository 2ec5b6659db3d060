package middlebox

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// serveHTTP serves the HTTP CONNECT proxy on net/http: each CONNECT is
// checked against the port allowlist, dialled from the proxy's host, then
// hijacked and tunnelled (or inspected).
func (p *Proxy) serveHTTP() {
	srv := &http.Server{
		Handler:           http.HandlerFunc(p.handleHTTP),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
		BaseContext:       func(net.Listener) context.Context { return p.ctx },
	}
	p.stop = func() { _ = srv.Close() }
	p.spawn(func() { _ = srv.Serve(p.l) })
}

// handleHTTP answers one request. Only CONNECT is served: this is the
// tunnelling half of a forward proxy, which is what WebRTC needs.
func (p *Proxy) handleHTTP(w http.ResponseWriter, r *http.Request) {
	if !p.enter() {
		http.Error(w, "proxy closing", http.StatusServiceUnavailable)
		return
	}
	defer p.wg.Done()
	if r.Method != http.MethodConnect {
		w.Header().Set("Allow", http.MethodConnect)
		http.Error(w, fmt.Sprintf("proxy %s tunnels with CONNECT only", p.cfg.Name), http.StatusMethodNotAllowed)
		return
	}
	if len(p.cfg.Users) > 0 {
		user, pass, ok := proxyBasicAuth(r)
		if !ok || !p.valid(user, pass) {
			// RFC 9110 §15.5.8: 407 with a Proxy-Authenticate challenge.
			w.Header().Set("Proxy-Authenticate", fmt.Sprintf("Basic realm=%q", p.cfg.Name))
			why := "no credentials"
			if ok {
				why = fmt.Sprintf("user %q not accepted", user)
			}
			p.refused(remoteAddr(r), "CONNECT %s refused (407): %s", r.Host, why)
			http.Error(w, fmt.Sprintf("proxy %s: authentication required", p.cfg.Name), http.StatusProxyAuthRequired)
			return
		}
	}
	host, portStr, err := net.SplitHostPort(r.Host)
	port, perr := strconv.Atoi(portStr)
	if err != nil || perr != nil || port < 1 || port > 65535 {
		http.Error(w, fmt.Sprintf("CONNECT %q: not host:port", r.Host), http.StatusBadRequest)
		return
	}
	if !p.allowed(port) {
		// Squid's default squid.conf: "acl SSL_ports port 443" and
		// "http_access deny CONNECT !SSL_ports" answer 403 Forbidden
		// (ERR_ACCESS_DENIED) to a CONNECT to any other port.
		w.Header().Set("X-Squid-Error", "ERR_ACCESS_DENIED 0")
		p.refused(remoteAddr(r), "CONNECT %s denied (403): port %d not allowed", r.Host, port)
		http.Error(w, fmt.Sprintf("proxy %s: CONNECT to port %d denied (allowed ports: %v)", p.cfg.Name, port, p.cfg.AllowPorts), http.StatusForbidden)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	up, err := p.dial(ctx, r.Host)
	cancel()
	if err != nil {
		// Squid answers 503 with ERR_CONNECT_FAIL when the destination
		// cannot be reached.
		w.Header().Set("X-Squid-Error", "ERR_CONNECT_FAIL")
		p.refused(remoteAddr(r), "CONNECT %s failed (503): %v", r.Host, err)
		http.Error(w, fmt.Sprintf("proxy %s: connect to %s: %v", p.cfg.Name, r.Host, err), http.StatusServiceUnavailable)
		return
	}
	if !p.track(up) {
		return
	}
	defer p.untrack(up)
	hj, ok := w.(http.Hijacker)
	if !ok {
		_ = up.Close()
		http.Error(w, "cannot tunnel", http.StatusInternalServerError)
		return
	}
	raw, brw, err := hj.Hijack()
	if err != nil {
		_ = up.Close()
		return
	}
	client := bufferedConn{Conn: raw, r: brw.Reader}
	if !p.track(raw) {
		_ = up.Close()
		return
	}
	defer p.untrack(raw)
	if _, err := io.WriteString(raw, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		_ = raw.Close()
		_ = up.Close()
		return
	}
	if p.cfg.Inspect != NoInspection {
		p.inspect(client, up, host)
		return
	}
	splice(client, up)
}

// proxyBasicAuth reads Basic credentials from Proxy-Authorization.
func proxyBasicAuth(r *http.Request) (user, password string, ok bool) {
	h := r.Header.Get("Proxy-Authorization")
	if h == "" {
		return "", "", false
	}
	// Request.BasicAuth parses the Authorization header; the format is the same.
	probe := &http.Request{Header: http.Header{"Authorization": {h}}}
	return probe.BasicAuth()
}

// remoteAddr is a request's client address as a net.Addr.
func remoteAddr(r *http.Request) net.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return nil
	}
	return net.TCPAddrFromAddrPort(ap)
}

// enter counts a handler Close waits for; false once Close has begun.
func (p *Proxy) enter() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	return true
}

// bufferedConn reads what a bufio.Reader already holds before the
// connection itself.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }
