package relay

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// waitClosed reads c until the relay closes it, within bound, and fails t if
// it sent anything first or kept the connection.
func waitClosed(t *testing.T, what string, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(bound))
	n, err := io.Copy(io.Discard, c)
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatalf("%s: the relay kept the connection for %v", what, bound)
	case n > 0:
		t.Errorf("%s: the relay sent %d bytes before closing", what, n)
	}
}

// TestStreamDeadlines opens the connections a relay must not keep: a TLS
// client that stops after 5 bytes of its ClientHello, a TCP client that
// stops halfway through a STUN header, and a TCP client that sends a Binding
// request and never allocates. Each is closed at its deadline and counted by
// it, while a client that allocated stays and relays.
func TestStreamDeadlines(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	cfg := testConfig()
	cfg.TURN.Certificate = leafCert(t)(ca.Valid(testDomain))
	cfg.TURN.TLSHandshakeTimeout = 200 * time.Millisecond
	cfg.TURN.FirstFrameTimeout = 300 * time.Millisecond
	cfg.TURN.UnallocatedTimeout = 500 * time.Millisecond
	s := startServer(t, cfg)

	alloc := allocate(t, dialTURN(t, TCP, addrOf(t, s, TCP), testUser, testPass, nil))
	peer := newPeer(t)
	roundTrip(t, alloc, peer, "before", "the deadlines")

	tlsHalf, err := net.Dial("tcp4", addrOf(t, s, TLS).String())
	if err != nil {
		t.Fatal(err)
	}
	defer tlsHalf.Close()
	if _, err := tlsHalf.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00}); err != nil { // a ClientHello record header
		t.Fatal(err)
	}
	stunHalf, err := net.Dial("tcp4", addrOf(t, s, TCP).String())
	if err != nil {
		t.Fatal(err)
	}
	defer stunHalf.Close()
	if _, err := stunHalf.Write(stunHeader(8)[:10]); err != nil {
		t.Fatal(err)
	}
	binding, err := net.Dial("tcp4", addrOf(t, s, TCP).String())
	if err != nil {
		t.Fatal(err)
	}
	defer binding.Close()
	if _, err := binding.Write(stun.MustBuild(stun.TransactionID, stun.BindingRequest).Raw); err != nil {
		t.Fatal(err)
	}
	if res := readSTUN(t, binding); res.Type != stun.BindingSuccess {
		t.Fatalf("binding over TCP: %v", res.Type)
	}
	_ = binding.SetReadDeadline(time.Time{})

	waitClosed(t, "half a TLS ClientHello", tlsHalf)
	waitClosed(t, "half a STUN header", stunHalf)
	waitClosed(t, "a connection without an allocation", binding)
	st := waitStats(t, s, "the three deadlines to be counted", func(st Stats) bool {
		return st.Streams.HandshakeTimeouts+st.Streams.FirstFrameTimeouts+st.Streams.UnallocatedTimeouts == 3 && st.Streams.Open == 1
	})
	if ss := st.Streams; ss.HandshakeTimeouts != 1 || ss.FirstFrameTimeouts != 1 || ss.UnallocatedTimeouts != 1 {
		t.Errorf("stream stats %+v, want one close at each deadline", ss)
	}
	roundTrip(t, alloc, peer, "after", "the deadlines") // the allocated client outlived them all

	// A TLS client that completes its handshake and allocates is kept.
	tlsCfg := &tls.Config{RootCAs: ca.Pool(), ServerName: testDomain, MinVersion: tls.VersionTLS12}
	tlsAlloc := allocate(t, dialTURN(t, TLS, addrOf(t, s, TLS), testUser, testPass, tlsCfg))
	roundTrip(t, tlsAlloc, peer, "tls", "allocated")
}

// TestConnectionsPerSource caps the TCP connections one IP address holds:
// the one over the cap is closed as it is accepted and counted, another
// address is not affected, and a freed slot is usable again.
func TestConnectionsPerSource(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.TURN.MaxConnectionsPerSource = 3
	s := startServer(t, cfg)
	addr := addrOf(t, s, TCP).String()
	dialFrom := func(src string) net.Conn {
		t.Helper()
		d := net.Dialer{Timeout: bound, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	var held []net.Conn
	for range 3 {
		held = append(held, dialFrom("127.0.0.1"))
	}
	waitStats(t, s, "three connections", func(st Stats) bool { return st.Streams.Open == 3 })
	waitClosed(t, "the fourth connection from 127.0.0.1", dialFrom("127.0.0.1"))
	other := dialFrom("127.0.0.2")
	if _, err := other.Write(stun.MustBuild(stun.TransactionID, stun.BindingRequest).Raw); err != nil {
		t.Fatal(err)
	}
	if res := readSTUN(t, other); res.Type != stun.BindingSuccess {
		t.Errorf("another address: %v", res.Type)
	}
	_ = held[0].Close()
	waitStats(t, s, "a slot to free", func(st Stats) bool { return st.Streams.Open == 3 })
	again := dialFrom("127.0.0.1")
	if _, err := again.Write(stun.MustBuild(stun.TransactionID, stun.BindingRequest).Raw); err != nil {
		t.Fatal(err)
	}
	if res := readSTUN(t, again); res.Type != stun.BindingSuccess {
		t.Errorf("a freed slot: %v", res.Type)
	}
	if st := s.Stats(); st.Streams.Refused != 1 {
		t.Errorf("%d connections refused, want 1", st.Streams.Refused)
	}
}
