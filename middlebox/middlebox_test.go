package middlebox_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/icelab/icelab/middlebox"
	"github.com/icelab/icelab/relay/pki"
	"github.com/icelab/icelab/vnet"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// lab is a corporate LAN holding a proxy and a client, and a server on the
// internet with an echo port (7000), a TLS echo port (5349), and HTTPS
// (443) on one name, rtc.example.test.
type lab struct {
	client *vnet.Host
	proxy  *middlebox.Proxy
	server *vnet.Host
	ca     *pki.CA

	mu      sync.Mutex
	refused []string // what the proxy refused, "FROM: REASON"
	more    chan struct{}
}

// refusals waits, a minute of the bubble's clock at most, until the proxy
// has refused n connections, and returns what it refused.
func (l *lab) refusals(n int) []string {
	bound := time.After(time.Minute)
	for {
		l.mu.Lock()
		r := slices.Clone(l.refused)
		l.mu.Unlock()
		if len(r) >= n {
			return r
		}
		select {
		case <-l.more:
		case <-bound:
			return r
		}
	}
}

func newLab(t *testing.T, cfg middlebox.Config) *lab {
	t.Helper()
	n, err := vnet.New(vnet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	corp, err := n.Internet().AddRouter(vnet.RouterConfig{Name: "corp", NAT: vnet.PortRestricted()})
	if err != nil {
		t.Fatal(err)
	}
	lat := vnet.Impairment{Latency: 5 * time.Millisecond}
	client, err := corp.AddHost(vnet.HostConfig{Name: "client", Link: lat})
	if err != nil {
		t.Fatal(err)
	}
	ph, err := corp.AddHost(vnet.HostConfig{Name: "proxy", Link: lat})
	if err != nil {
		t.Fatal(err)
	}
	server, err := n.Internet().AddHost(vnet.HostConfig{Name: "server", Link: lat})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.AddName("rtc.example.test", server.Addr()); err != nil {
		t.Fatal(err)
	}
	ca, err := pki.NewCA("Public Test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Valid("rtc.example.test")
	if err != nil {
		t.Fatal(err)
	}
	serveEcho(t, server, 7000, nil)
	serveEcho(t, server, 5349, &tls.Config{Certificates: []tls.Certificate{leaf.Certificate}})
	l, err := server.ListenTCP("tcp4", &net.TCPAddr{IP: server.Addr().AsSlice(), Port: 443})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello "+r.URL.Path)
	}), TLSConfig: &tls.Config{Certificates: []tls.Certificate{leaf.Certificate}}, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	if cfg.Inspect != "" {
		if cfg.CA, err = pki.NewCA("Corp TLS Inspection CA"); err != nil {
			t.Fatal(err)
		}
		cfg.Roots = ca.Pool()
	}
	lb := &lab{client: client, server: server, ca: ca, more: make(chan struct{}, 16)}
	cfg.Refused = func(from netip.AddrPort, reason string) {
		lb.mu.Lock()
		lb.refused = append(lb.refused, from.Addr().String()+": "+reason)
		lb.mu.Unlock()
		lb.more <- struct{}{}
	}
	if lb.proxy, err = middlebox.Start(ph, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lb.proxy.Close() })
	return lb
}

// serveEcho echoes every connection on port, over TLS when cfg is set.
func serveEcho(t *testing.T, h *vnet.Host, port int, cfg *tls.Config) {
	l, err := h.ListenTCP("tcp4", &net.TCPAddr{IP: h.Addr().AsSlice(), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			var conn net.Conn = c
			if cfg != nil {
				conn = tls.Server(c, cfg)
			}
			go func() {
				defer conn.Close()
				_, _ = io.Copy(conn, conn)
			}()
		}
	}()
	t.Cleanup(func() { _ = l.Close(); <-done })
}

func (l *lab) dialer(t *testing.T) middlebox.Dialer {
	d, err := middlebox.NewDialer(l.proxy.Config().Kind, l.proxy.Addr().String(), l.client, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func echo(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	if string(buf) != msg {
		t.Fatalf("echo: got %q, want %q", buf, msg)
	}
}

func TestTunnelsToAllowedPortsOnly(t *testing.T) {
	for _, kind := range []middlebox.Kind{middlebox.HTTPConnect, middlebox.SOCKS5} {
		t.Run(string(kind), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newLab(t, middlebox.Config{Name: "corp-proxy", Kind: kind, AllowPorts: []int{443, 7000}})
				d := l.dialer(t)
				c, err := d.DialContext(t.Context(), "tcp4", "rtc.example.test:7000")
				if err != nil {
					t.Fatal(err)
				}
				if got := c.RemoteAddr().(*net.TCPAddr).AddrPort(); got != l.proxy.Addr() {
					t.Errorf("tunnel's remote address %v, want the proxy's %v", got, l.proxy.Addr())
				}
				if _, ok := c.LocalAddr().(*net.TCPAddr); !ok {
					t.Errorf("local address %T, want *net.TCPAddr (pion's ICE proxy dialer asserts it)", c.LocalAddr())
				}
				echo(t, c, "through the proxy")
				_ = c.Close()

				_, err = d.DialContext(t.Context(), "tcp4", "rtc.example.test:5349")
				want := map[middlebox.Kind]string{middlebox.HTTPConnect: "403 Forbidden", middlebox.SOCKS5: "not allowed by ruleset"}[kind]
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("CONNECT to 5349: error %v, want one containing %q", err, want)
				}
				if r := l.refusals(1); len(r) != 1 || !strings.HasPrefix(r[0], l.client.Addr().String()+": proxy corp-proxy: ") || !strings.Contains(r[0], "port 5349 not allowed") {
					t.Errorf("refusals %q, want one of the client's CONNECT to 5349", r)
				}
			})
		})
	}
}

func TestConnectToUnreachableDestinationIs503(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLab(t, middlebox.Config{Name: "corp-proxy", Kind: middlebox.HTTPConnect})
		_, err := l.dialer(t).DialContext(t.Context(), "tcp4", "rtc.example.test:7001")
		if err == nil || !strings.Contains(err.Error(), "503") {
			t.Fatalf("error %v, want the proxy's 503", err)
		}
	})
}

func TestInspection(t *testing.T) {
	for _, mode := range []middlebox.Inspect{middlebox.HTTPOnly, middlebox.PassThrough} {
		t.Run(string(mode), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newLab(t, middlebox.Config{Name: "inspector", Kind: middlebox.HTTPConnect, Inspect: mode})
				d := l.dialer(t)
				get := func(roots *x509.CertPool) (string, error) {
					tr := &http.Transport{DialContext: d.DialContext, TLSClientConfig: &tls.Config{RootCAs: roots}}
					defer tr.CloseIdleConnections()
					resp, err := (&http.Client{Transport: tr}).Get("https://rtc.example.test/join")
					if err != nil {
						return "", err
					}
					defer resp.Body.Close()
					b, err := io.ReadAll(resp.Body)
					return string(b), err
				}
				// Trusting only the public CA, the client sees the box's.
				_, err := get(l.ca.Pool())
				var uae x509.UnknownAuthorityError
				if !errors.As(err, &uae) || uae.Cert.Issuer.CommonName != "Corp TLS Inspection CA" {
					t.Fatalf("untrusted: error %v, want unknown authority issued by Corp TLS Inspection CA", err)
				}
				if r := l.refusals(1); len(r) != 1 || !strings.Contains(r[0], "TLS inspection of rtc.example.test: handshake with the client failed") {
					t.Errorf("refusals %q, want the failed handshake", r)
				}
				// Trusting the box's CA, HTTP goes through.
				roots := l.ca.Pool()
				roots.AddCert(l.proxy.Config().CA.Cert)
				body, err := get(roots)
				if err != nil || body != "hello /join" {
					t.Fatalf("trusted: got %q, %v", body, err)
				}
				// A non-HTTP stream (a STUN header) to a TLS echo server.
				c, err := d.DialContext(t.Context(), "tcp4", "rtc.example.test:5349")
				if err != nil {
					t.Fatal(err)
				}
				tc := tls.Client(c, &tls.Config{ServerName: "rtc.example.test", RootCAs: roots})
				defer tc.Close()
				stun := "\x00\x01\x00\x00\x21\x12\xa4\x42abcdefghijkl"
				if _, err := io.WriteString(tc, stun); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, len(stun))
				_, err = io.ReadFull(bufio.NewReader(tc), buf)
				switch mode {
				case middlebox.PassThrough:
					if err != nil || string(buf) != stun {
						t.Fatalf("pass-through: got %q, %v", buf, err)
					}
				case middlebox.HTTPOnly:
					if err == nil {
						t.Fatalf("http-only forwarded non-HTTP bytes: %q", buf)
					}
					if r := l.refusals(2); len(r) != 2 || !strings.Contains(r[1], "closed a stream that is not HTTP (http-only)") {
						t.Errorf("refusals %q, want the closed non-HTTP stream last", r)
					}
				}
			})
		})
	}
}

func TestConfigErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, err := vnet.New(vnet.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		h, err := n.Internet().AddHost(vnet.HostConfig{Name: "p", Addr: netip.MustParseAddr("203.0.113.9")})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			cfg  middlebox.Config
			want string
		}{
			{middlebox.Config{Name: "x", Kind: "ftp"}, `unknown kind "ftp"`},
			{middlebox.Config{Name: "x", Kind: middlebox.SOCKS5, Inspect: middlebox.HTTPOnly}, "needs an http proxy"},
			{middlebox.Config{Name: "x", Kind: middlebox.HTTPConnect, Inspect: middlebox.PassThrough}, "needs a CA"},
			{middlebox.Config{Name: "x", Kind: middlebox.HTTPConnect, AllowPorts: []int{0}}, "out of range"},
		} {
			if _, err := middlebox.Start(h, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%+v: error %v, want %q", c.cfg, err, c.want)
			}
		}
	})
}

func TestAuthentication(t *testing.T) {
	for _, kind := range []middlebox.Kind{middlebox.HTTPConnect, middlebox.SOCKS5} {
		t.Run(string(kind), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newLab(t, middlebox.Config{Name: "corp-proxy", Kind: kind, Users: map[string]string{"alice": "s3cret"}})
				dial := func(creds *middlebox.Credentials) (net.Conn, error) {
					d, err := middlebox.NewDialer(kind, l.proxy.Addr().String(), l.client, creds)
					if err != nil {
						t.Fatal(err)
					}
					return d.DialContext(t.Context(), "tcp4", "rtc.example.test:7000")
				}
				without := map[middlebox.Kind]string{middlebox.HTTPConnect: "407 Proxy Authentication Required", middlebox.SOCKS5: "no acceptable authentication methods"}[kind]
				if _, err := dial(nil); err == nil || !strings.Contains(err.Error(), without) {
					t.Errorf("without credentials: error %v, want %q", err, without)
				}
				wrong := map[middlebox.Kind]string{middlebox.HTTPConnect: "407 Proxy Authentication Required", middlebox.SOCKS5: "authentication failed"}[kind]
				if _, err := dial(&middlebox.Credentials{Username: "alice", Password: "guess"}); err == nil || !strings.Contains(err.Error(), wrong) {
					t.Errorf("wrong password: error %v, want %q", err, wrong)
				}
				if r := l.refusals(1); len(r) == 0 || !strings.Contains(r[len(r)-1], `user "alice" not accepted`) {
					t.Errorf("refusals %q, want alice's wrong password last", r)
				}
				c, err := dial(&middlebox.Credentials{Username: "alice", Password: "s3cret"})
				if err != nil {
					t.Fatalf("with credentials: %v", err)
				}
				echo(t, c, "authenticated")
				_ = c.Close()
			})
		})
	}
}
