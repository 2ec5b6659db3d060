package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun/v4"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/turn/v5"
	"go.uber.org/goleak"

	"github.com/icelab/icelab/relay/pki"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// bound limits every wait in these tests; it is never an assertion on timing.
const bound = 10 * time.Second

var loopback = netip.MustParseAddr("127.0.0.1")

const (
	testDomain = "turn.icelab.test"
	testUser   = "alice"
	testPass   = "alice-password"
	testKey    = "devkey"
	testSecret = "devsecret"
)

// quietLogs silences pion's error logs (tests provoke errors on purpose).
func quietLogs() logging.LoggerFactory {
	f := logging.NewDefaultLoggerFactory()
	f.DefaultLogLevel = logging.LogLevelDisabled
	if os.Getenv("RELAY_TEST_LOG") != "" {
		f.DefaultLogLevel = logging.LogLevelDebug
	}
	return f
}

// testConfig is a relay with the default listeners (which the tests bind on
// free ports of loopback, WithEphemeralPorts), a static user, a REST secret
// and loopback peers allowed.
func testConfig() Config {
	c := DefaultConfig()
	c.TURN.Domain = testDomain
	c.TURN.RelayRangeStart, c.TURN.RelayRangeEnd = 42000, 42999
	c.TURN.Users = map[string]string{testUser: testPass, "bob": "bob-password"}
	c.TURN.AllowedPeers = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	c.Keys = map[string]string{testKey: testSecret}
	return c
}

// startServer starts a relay on loopback and closes it at cleanup.
func startServer(t testing.TB, cfg Config, opts ...Option) *Server {
	t.Helper()
	opts = append([]Option{WithBindIP(loopback), WithEphemeralPorts(), WithLoggerFactory(quietLogs()), WithName(t.Name())}, opts...)
	s, err := New(cfg, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	startRelay(t, s)
	return s
}

func startRelay(t testing.TB, r Relay) {
	t.Helper()
	n, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background(), n); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

func addrOf(t testing.TB, r Relay, tr Transport) net.Addr {
	t.Helper()
	for _, a := range r.Addrs() {
		if a.Transport == tr {
			return a.Addr
		}
	}
	t.Fatalf("relay has no %s listener in %v", tr, r.Addrs())
	return nil
}

// dialTURN returns a TURN client connected to addr over tr; for TLS it trusts
// roots and expects serverName.
func dialTURN(t testing.TB, tr Transport, addr net.Addr, user, pass string, roots *tls.Config) *turn.Client {
	t.Helper()
	c, conn, err := tryDialTURN(tr, addr, user, pass, roots)
	if err != nil {
		t.Fatalf("dial %s %s: %v", tr, addr, err)
	}
	t.Cleanup(func() {
		c.Close()
		_ = conn.Close()
	})
	return c
}

// tryDialTURN returns a listening TURN client and the conn it uses, which the
// caller closes after the client (turn.Client.Close leaves it open).
func tryDialTURN(tr Transport, addr net.Addr, user, pass string, tlsCfg *tls.Config) (*turn.Client, net.PacketConn, error) {
	var conn net.PacketConn
	switch tr {
	case UDP:
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		conn = c
	case TCP:
		c, err := net.DialTimeout("tcp4", addr.String(), bound)
		if err != nil {
			return nil, nil, err
		}
		conn = turn.NewSTUNConn(c)
	case TLS:
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: bound}, Config: tlsCfg}
		c, err := d.Dial("tcp4", addr.String())
		if err != nil {
			return nil, nil, err
		}
		conn = turn.NewSTUNConn(c)
	}
	c, err := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: addr.String(),
		STUNServerAddr: addr.String(),
		Username:       user,
		Password:       pass,
		Conn:           conn,
		LoggerFactory:  quietLogs(),
	})
	if err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	if err := c.Listen(); err != nil {
		c.Close()
		_ = conn.Close()
		return nil, nil, err
	}
	return c, conn, nil
}

// turnCode returns the STUN error code in err, or 0.
func turnCode(err error) int {
	var te *stun.TurnError
	if errors.As(err, &te) {
		return int(te.ErrorCodeAttr.Code)
	}
	return 0
}

// peer is a UDP socket on loopback standing for a remote peer.
func newPeer(t testing.TB) net.PacketConn {
	t.Helper()
	p, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func readWithin(t testing.TB, c net.PacketConn, buf []byte) (int, net.Addr) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(bound)); err != nil {
		t.Fatal(err)
	}
	n, from, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatalf("read on %s: %v", c.LocalAddr(), err)
	}
	return n, from
}

func waitStats(t testing.TB, s *Server, what string, cond func(Stats) bool) Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	st, err := s.WaitStats(ctx, cond)
	if err != nil {
		t.Fatalf("waiting for %s: %v; last stats %+v", what, err, st)
	}
	return st
}

func newCA(t testing.TB) *pki.CA {
	t.Helper()
	ca, err := pki.NewCA("relay test CA")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// leafCert returns a function that unwraps an issued leaf, failing t on error:
// leafCert(t)(ca.Valid(name)).
func leafCert(t testing.TB) func(*pki.Leaf, error) *tls.Certificate {
	return func(l *pki.Leaf, err error) *tls.Certificate {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return &l.Certificate
	}
}
