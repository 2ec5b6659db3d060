package vnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The TURN/TLS tests need their CA trusted as a system root before
	// crypto/x509 loads the system pool; see installTestCA.
	cleanup, err := installTestCA()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) { cleanup(); os.Exit(code) }))
}

// newTestNetwork builds a network closed at the end of the test.
func newTestNetwork(t testing.TB) *Network {
	t.Helper()
	n, err := New(Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

func mustHost(t testing.TB, r *Router, name string) *Host {
	t.Helper()
	h, err := r.AddHost(HostConfig{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func mustRouter(t testing.TB, r *Router, name string, nat NAT) *Router {
	t.Helper()
	c, err := r.AddRouter(RouterConfig{Name: name, NAT: nat})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func listen(t testing.TB, h *Host, port int) *UDPConn {
	t.Helper()
	c, err := h.ListenUDP("udp4", &net.UDPAddr{Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c.(*UDPConn)
}

// recorder collects tap events from whichever goroutine moves packets.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

// record taps n for events that keep returns true for, until the test ends.
func record(t testing.TB, n *Network, keep func(Event) bool) *recorder {
	r := &recorder{}
	t.Cleanup(n.Tap(func(e Event) {
		if keep(e) {
			e.Payload = nil
			r.mu.Lock()
			r.events = append(r.events, e)
			r.mu.Unlock()
		}
	}))
	return r
}

func (r *recorder) list() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// listenOn listens on the host's first address, so LocalAddr is a
// routable address.
func listenOn(t testing.TB, h *Host, port int) *UDPConn {
	t.Helper()
	c, err := h.ListenUDP("udp4", &net.UDPAddr{IP: h.Addr().AsSlice(), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c.(*UDPConn)
}

// addrOf returns a socket's local address.
func addrOf(c *UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

// exchange sends from c to dst and reports what arrives at r within a
// generous bound, from which address.
func recvFrom(t testing.TB, c *UDPConn, within time.Duration) (string, netip.AddrPort, bool) {
	t.Helper()
	buf := make([]byte, 2048)
	_ = c.SetReadDeadline(time.Now().Add(within))
	n, from, err := c.ReadFromUDP(buf)
	if err != nil {
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read: %v", err)
		}
		return "", netip.AddrPort{}, false
	}
	return string(buf[:n]), from.AddrPort(), true
}

func send(t testing.TB, c *UDPConn, msg string, to netip.AddrPort) {
	t.Helper()
	if _, err := c.WriteToUDP([]byte(msg), net.UDPAddrFromAddrPort(to)); err != nil {
		t.Fatal(err)
	}
}

func TestUDPAcrossInternet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		a := mustHost(t, n.Internet(), "a")
		b := mustHost(t, n.Internet(), "b")
		ca, cb := listen(t, a, 0), listen(t, b, 5000)
		send(t, ca, "hello", netip.AddrPortFrom(b.Addr(), 5000))
		msg, from, ok := recvFrom(t, cb, time.Second)
		if !ok || msg != "hello" || from.Addr() != a.Addr() {
			t.Fatalf("got %q from %v (ok=%v)", msg, from, ok)
		}
	})
}

func TestConnectedUDPRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		a := mustHost(t, n.Internet(), "a")
		b := mustHost(t, n.Internet(), "b")
		c, err := a.Dial("udp", netip.AddrPortFrom(b.Addr(), 9).String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		_, err = c.Read(make([]byte, 10))
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("read after write to closed port: %v, want connection refused", err)
		}
	})
}
