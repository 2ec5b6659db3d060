package relay

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"

	"github.com/icelab/icelab/relay/pki"
	"github.com/icelab/icelab/vnet"
)

// fuzzModes: the low two bits pick the transport, bit 2 re-signs the input
// with valid credentials.
const (
	fuzzSigned = 4
	fuzzModes  = 8
)

func fuzzTransport(mode uint8) Transport {
	return []Transport{UDP, TCP, TLS, TCP}[mode&3]
}

// FuzzRelayInput sends fuzzed bytes to a relay on a vnet host over UDP, TCP or
// TLS, either as they are or, when the mode says so, decoded as a STUN message
// and re-signed with valid long-term credentials and the relay's nonce so that
// pion's authenticated handlers see them. Then a stream is half-closed and the
// relay must end it; a well-behaved client on the same transport must still
// allocate and relay both ways; and Server.Close must succeed within its bound.
func FuzzRelayInput(f *testing.F) {
	for _, l := range hostileLengths() {
		h := stunHeader(l)
		for mode := range uint8(fuzzModes) {
			f.Add(mode, append(h, make([]byte, min(l, 256))...))
		}
		f.Add(uint8(1), append(append(stun.MustBuild(stun.TransactionID, stun.BindingRequest).Raw, channelHeader(l)...), 0, 0, 0, 0))
	}
	for _, m := range []*stun.Message{
		stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest),
			turnRequestedTransport(17), stun.Fingerprint),
		stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodCreatePermission, stun.ClassRequest)),
		stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodChannelBind, stun.ClassRequest)),
		stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodRefresh, stun.ClassRequest)),
		stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodSend, stun.ClassIndication)),
	} {
		for mode := range uint8(fuzzModes) {
			f.Add(mode, m.Raw)
		}
	}
	ca, err := pki.NewCA("relay fuzz CA")
	if err != nil {
		f.Fatal(err)
	}
	leaf, err := ca.Valid(testDomain)
	if err != nil {
		f.Fatal(err)
	}
	tlsCfg := &tls.Config{RootCAs: ca.Pool(), ServerName: testDomain, MinVersion: tls.VersionTLS12}

	f.Fuzz(func(t *testing.T, mode uint8, data []byte) {
		tr := fuzzTransport(mode)
		e := newFuzzEnv(t, &leaf.Certificate)
		server := addrOf(t, e.s, tr)
		if mode&fuzzSigned != 0 {
			data = e.resign(t, tr, server, tlsCfg, data)
		}
		e.sendHostile(t, tr, server, tlsCfg, data)

		// A well-behaved client still allocates and relays both ways.
		alloc := e.client(t, tr, server, tlsCfg)
		roundTrip(t, alloc, e.peer, "to peer over "+string(tr), "back from peer")
		_ = alloc.Close()

		done := make(chan error, 1)
		go func() { done <- e.s.Close() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Close: %v", err)
			}
		case <-time.After(2 * bound):
			t.Fatalf("Close did not return within %v", 2*bound)
		}
	})
}

// turnRequestedTransport is REQUESTED-TRANSPORT with the given IP protocol.
type turnRequestedTransport byte

func (p turnRequestedTransport) AddTo(m *stun.Message) error {
	m.Add(stun.AttrRequestedTransport, []byte{byte(p), 0, 0, 0})
	return nil
}

// fuzzEnv is one relay on a vnet internet host, a client host and a peer.
type fuzzEnv struct {
	n    *vnet.Network
	s    *Server
	cli  *vnet.Host
	peer net.PacketConn
}

func newFuzzEnv(t *testing.T, cert *tls.Certificate) *fuzzEnv {
	t.Helper()
	n, err := vnet.New(vnet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	hosts := make([]*vnet.Host, 3)
	for i, name := range []string{"relay", "client", "peer"} {
		if hosts[i], err = n.Internet().AddHost(vnet.HostConfig{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := testConfig()
	cfg.TURN.UDPPort, cfg.TURN.TLSPort = 3478, 5349
	cfg.TURN.Certificate = cert
	cfg.TURN.AllowedPeers = []netip.Prefix{n.Internet().LAN()}
	s, err := New(cfg, WithBindIP(hosts[0].Addr()), WithLoggerFactory(quietLogs()))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background(), hosts[0]); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	peer, err := hosts[2].ListenPacket("udp4", netip.AddrPortFrom(hosts[2].Addr(), 7000).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = peer.Close() })
	return &fuzzEnv{n: n, s: s, cli: hosts[1], peer: peer}
}

// dial opens a UDP socket, or a TCP or TLS connection to server, on the
// client host.
func (e *fuzzEnv) dial(t *testing.T, tr Transport, server net.Addr, tlsCfg *tls.Config) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	network := "tcp4"
	if tr == UDP {
		network = "udp4"
	}
	c, err := e.cli.DialContext(ctx, network, server.String())
	if err == nil && tr == TLS {
		tc := tls.Client(c, tlsCfg)
		if err = tc.HandshakeContext(ctx); err != nil {
			_ = c.Close()
		}
		c = tc
	}
	if err != nil {
		t.Fatalf("dial %s %s: %v", tr, server, err)
	}
	return c
}

// sendHostile sends data; on a stream it then half-closes and requires the
// relay to end the connection.
func (e *fuzzEnv) sendHostile(t *testing.T, tr Transport, server net.Addr, tlsCfg *tls.Config, data []byte) {
	t.Helper()
	c := e.dial(t, tr, server, tlsCfg)
	defer c.Close()
	if tr == UDP {
		_, _ = c.Write(data)
		return
	}
	wrote := make(chan struct{})
	go func() { // the relay may stop reading and close at any point
		defer close(wrote)
		if _, err := c.Write(data); err == nil {
			_ = closeWrite(c)
		}
	}()
	_ = c.SetReadDeadline(time.Now().Add(bound))
	if _, err := io.Copy(io.Discard, c); isTimeout(err) {
		t.Fatalf("relay did not end a half-closed %s stream within %v", tr, bound)
	}
	_ = c.Close()
	<-wrote
}

// resign decodes data as a STUN message (a binding request when it is not
// one), and returns it with fresh USERNAME, REALM and NONCE from the relay,
// MESSAGE-INTEGRITY under the test user's key and FINGERPRINT.
func (e *fuzzEnv) resign(t *testing.T, tr Transport, server net.Addr, tlsCfg *tls.Config, data []byte) []byte {
	t.Helper()
	m := &stun.Message{Raw: append([]byte(nil), data...)}
	if m.Decode() != nil {
		m = stun.MustBuild(stun.TransactionID, stun.BindingRequest)
		m.Add(stun.AttrData, data)
	}
	nonce := e.nonce(t, tr, server, tlsCfg)
	out := &stun.Message{Type: m.Type, TransactionID: m.TransactionID}
	out.WriteHeader()
	for _, a := range m.Attributes {
		switch a.Type {
		case stun.AttrMessageIntegrity, stun.AttrMessageIntegritySHA256, stun.AttrFingerprint,
			stun.AttrUsername, stun.AttrRealm, stun.AttrNonce:
		default:
			out.Add(a.Type, a.Value)
		}
	}
	err := out.Build(stun.NewUsername(testUser), stun.NewRealm(testDomain), nonce,
		stun.NewLongTermIntegrity(testUser, testDomain, testPass), stun.Fingerprint)
	if err != nil {
		return data
	}
	return out.Raw
}

// nonce asks the relay for a nonce with an unauthenticated Allocate.
func (e *fuzzEnv) nonce(t *testing.T, tr Transport, server net.Addr, tlsCfg *tls.Config) stun.Nonce {
	t.Helper()
	c := e.dial(t, tr, server, tlsCfg)
	defer c.Close()
	req := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest),
		turnRequestedTransport(17), stun.Fingerprint)
	if _, err := c.Write(req.Raw); err != nil {
		t.Fatalf("ask for a nonce: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(bound))
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("read the nonce: %v", err)
	}
	res := &stun.Message{Raw: buf[:n]}
	var nonce stun.Nonce
	if err := res.Decode(); err != nil {
		t.Fatalf("decode the nonce response: %v", err)
	}
	if err := nonce.GetFrom(res); err != nil {
		t.Fatalf("no nonce in %v: %v", res, err)
	}
	return nonce
}

// client allocates for a pion TURN client on the client host over tr.
func (e *fuzzEnv) client(t *testing.T, tr Transport, server net.Addr, tlsCfg *tls.Config) net.PacketConn {
	t.Helper()
	var conn net.PacketConn
	if tr == UDP {
		c, err := e.cli.ListenPacket("udp4", "0.0.0.0:0")
		if err != nil {
			t.Fatal(err)
		}
		conn = c
	} else {
		conn = turn.NewSTUNConn(e.dial(t, tr, server, tlsCfg))
	}
	t.Cleanup(func() { _ = conn.Close() })
	c, err := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: server.String(), STUNServerAddr: server.String(),
		Username: testUser, Password: testPass, Realm: testDomain,
		Conn: conn, Net: e.cli, LoggerFactory: quietLogs(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	alloc, err := c.Allocate()
	if err != nil {
		t.Fatalf("well-behaved client: allocate over %s: %v", tr, err)
	}
	return alloc
}
