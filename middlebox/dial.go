package middlebox

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/proxy"
)

// Forward is how a client reaches its proxy: a vnet host, or a
// *net.Dialer.
type Forward interface {
	Dial(network, address string) (net.Conn, error)
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Dialer reaches destinations through a proxy. It is a proxy.Dialer and a
// proxy.ContextDialer, so it can be pion's ICE proxy dialer.
type Dialer interface {
	Dial(network, address string) (net.Conn, error)
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// NewDialer returns a dialer through the proxy of kind at proxyAddr
// (host:port), which it reaches with forward, authenticating with creds
// unless they are nil.
func NewDialer(kind Kind, proxyAddr string, forward Forward, creds *Credentials) (Dialer, error) {
	switch kind {
	case HTTPConnect:
		return connectDialer{proxy: proxyAddr, forward: forward, creds: creds}, nil
	case SOCKS5:
		var auth *proxy.Auth
		if creds != nil {
			auth = &proxy.Auth{User: creds.Username, Password: creds.Password}
		}
		d, err := proxy.SOCKS5("tcp4", proxyAddr, auth, forward)
		if err != nil {
			return nil, fmt.Errorf("socks5 proxy %s: %w", proxyAddr, err)
		}
		cd, ok := d.(Dialer)
		if !ok {
			return nil, fmt.Errorf("socks5 proxy %s: dialer without DialContext", proxyAddr)
		}
		return cd, nil
	}
	return nil, fmt.Errorf("proxy %s: unknown kind %q", proxyAddr, kind)
}

// connectDialer opens a tunnel with HTTP CONNECT (RFC 9110 §9.3.6).
type connectDialer struct {
	proxy   string
	forward Forward
	creds   *Credentials
}

func (d connectDialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialContext connects to the proxy and asks it for a tunnel to address;
// any answer but 2xx is an error carrying the proxy's status and the
// first line of its body.
func (d connectDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if !strings.HasPrefix(network, "tcp") {
		return nil, fmt.Errorf("http proxy %s: cannot tunnel %s", d.proxy, network)
	}
	c, err := d.forward.DialContext(ctx, "tcp4", d.proxy)
	if err != nil {
		return nil, fmt.Errorf("http proxy %s: %w", d.proxy, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Host: address}, Host: address, Header: http.Header{}}
	if d.creds != nil {
		auth := base64.StdEncoding.EncodeToString([]byte(d.creds.Username + ":" + d.creds.Password))
		req.Header.Set("Proxy-Authorization", "Basic "+auth)
	}
	if err := req.Write(c); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("http proxy %s: CONNECT %s: %w", d.proxy, address, err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("http proxy %s: CONNECT %s: %w", d.proxy, address, err)
	}
	if resp.StatusCode/100 != 2 {
		body := make([]byte, 256)
		n, _ := resp.Body.Read(body)
		_ = resp.Body.Close()
		_ = c.Close()
		line, _, _ := strings.Cut(strings.TrimSpace(string(body[:n])), "\n")
		return nil, fmt.Errorf("http proxy %s: CONNECT %s: %s: %s", d.proxy, address, resp.Status, line)
	}
	_ = c.SetDeadline(time.Time{})
	if br.Buffered() > 0 {
		return bufferedConn{Conn: c, r: br}, nil
	}
	return c, nil
}
