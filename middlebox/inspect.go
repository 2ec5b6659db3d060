package middlebox

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/http"
	"sync"

	"github.com/icelab/icelab/relay/pki"
)

// inspect is TLS inspection of one CONNECT tunnel, as an enterprise
// forward proxy with decryption does (Zscaler SSL Inspection, Palo Alto
// Networks SSL Forward Proxy, Symantec/Blue Coat ProxySG SSL interception):
// the box answers the client's TLS handshake itself with a certificate for
// the server name the client asked for, issued by the box's own CA, and
// makes its own TLS connection to the destination, verifying it against
// the authorities it trusts. A client that does not trust the box's CA
// fails its handshake, and sees the box's CA as the issuer.
//
// What happens to the decrypted bytes depends on the mode. HTTPOnly parses
// them as HTTP/1.1 and forwards request by request; anything else closes
// the connection, as ProxySG does with "Tunnel on Protocol Error" off (its
// default) when an intercepted stream is not HTTP. PassThrough forwards
// whatever bytes come, as ProxySG with that option on, or a decryption
// policy that re-encrypts without an HTTP parser, does.
func (p *Proxy) inspect(client, up net.Conn, connectHost string) {
	defer client.Close()
	defer up.Close()
	name := connectHost
	front := tls.Server(client, &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if h.ServerName != "" {
				name = h.ServerName
			}
			return p.leaves.get(name)
		},
	})
	if err := front.HandshakeContext(p.ctx); err != nil {
		if p.ctx.Err() == nil {
			// Most often the client did not trust the box's CA.
			p.refused(client.RemoteAddr(), "TLS inspection of %s: handshake with the client failed: %v", name, err)
		}
		return
	}
	back := tls.Client(up, &tls.Config{ServerName: name, RootCAs: p.cfg.Roots, MinVersion: tls.VersionTLS12})
	if err := back.HandshakeContext(p.ctx); err != nil {
		if p.ctx.Err() == nil {
			p.refused(client.RemoteAddr(), "TLS inspection of %s: handshake with the destination failed: %v", name, err)
		}
		return
	}
	switch p.cfg.Inspect {
	case PassThrough:
		splice(front, back)
	case HTTPOnly:
		if forwardHTTP(front, back) {
			p.refused(client.RemoteAddr(), "TLS inspection of %s: closed a stream that is not HTTP (http-only)", name)
		}
	}
}

// forwardHTTP forwards HTTP/1.1 requests from client to server and their
// responses back, until either side closes, a message does not parse, or
// a stream does not start with an HTTP method; it reports whether it
// stopped on bytes that are not HTTP.
func forwardHTTP(client, server net.Conn) (notHTTP bool) {
	cr, sr := bufio.NewReader(client), bufio.NewReader(server)
	for {
		first, err := cr.Peek(1)
		if err != nil {
			return false
		}
		if !isMethodStart(first[0]) {
			// Not HTTP (a STUN message starts with two zero bits, RFC
			// 5389 §6): the box has nothing to parse, and closes.
			return true
		}
		req, err := http.ReadRequest(cr)
		if err != nil {
			return true
		}
		err = req.Write(server)
		_ = req.Body.Close()
		if err != nil {
			return false
		}
		resp, err := http.ReadResponse(sr, req)
		if err != nil {
			return false
		}
		err = resp.Write(client)
		_ = resp.Body.Close()
		if err != nil || req.Close || resp.Close {
			return false
		}
	}
}

// isMethodStart reports whether b may start an HTTP request line: a
// method is a token (RFC 9110 §9.1), and every registered one starts with
// an upper-case letter.
func isMethodStart(b byte) bool { return b >= 'A' && b <= 'Z' }

// leafCache mints one leaf per server name from the inspection CA.
type leafCache struct {
	ca     *pki.CA
	mu     sync.Mutex
	leaves map[string]*tls.Certificate
}

func (c *leafCache) get(name string) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l, ok := c.leaves[name]; ok {
		return l, nil
	}
	leaf, err := c.ca.Valid(name)
	if err != nil {
		return nil, err
	}
	if c.leaves == nil {
		c.leaves = map[string]*tls.Certificate{}
	}
	c.leaves[name] = &leaf.Certificate
	return &leaf.Certificate, nil
}
