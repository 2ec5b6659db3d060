package vnet

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/ice/v4"
)

// A vnet socket offers pion/ice's allocation-free path, and it carries the
// same datagrams as ReadFrom and WriteTo, with the same errors.
func TestUDPAddrPortReadWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		a := mustHost(t, n.Internet(), "a")
		b := mustHost(t, n.Internet(), "b")
		ca, cb := listen(t, a, 0), listen(t, b, 5000)
		var _ ice.AddrPortReaderWriter = ca

		to := netip.AddrPortFrom(b.Addr(), 5000)
		if _, err := ca.WriteToAddrPort([]byte("hello"), to); err != nil {
			t.Fatal(err)
		}
		// An IPv4-mapped destination is the IPv4 one, as WriteTo has it.
		mapped := netip.AddrPortFrom(netip.AddrFrom16(b.Addr().As16()), 5000)
		if _, err := ca.WriteToAddrPort([]byte("again"), mapped); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		for _, want := range []string{"hello", "again"} {
			_ = cb.SetReadDeadline(time.Now().Add(time.Second))
			k, from, err := cb.ReadFromAddrPort(buf)
			if err != nil || string(buf[:k]) != want || from.Addr() != a.Addr() || !from.Addr().Is4() {
				t.Fatalf("got %q from %v, %v; want %q from %v", buf[:k], from, err, want, a.Addr())
			}
		}

		_ = cb.SetReadDeadline(time.Now().Add(time.Second))
		if _, _, err := cb.ReadFromAddrPort(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read past the deadline: %v", err)
		}
		_ = ca.SetWriteDeadline(time.Now().Add(-time.Second))
		_, err := ca.WriteToAddrPort([]byte("late"), to)
		var oe *net.OpError
		if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &oe) || oe.Addr.String() != to.String() {
			t.Fatalf("write past the deadline: %v", err)
		}
		_ = ca.SetWriteDeadline(time.Time{})
		if _, err := ca.WriteToAddrPort([]byte("on time"), to); err != nil {
			t.Fatalf("write with the deadline cleared: %v", err)
		}

		c, err := a.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(to))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.(*UDPConn).WriteToAddrPort([]byte("x"), to); !errors.Is(err, syscall.EISCONN) {
			t.Fatalf("write to on a connected socket: %v", err)
		}
		_ = ca.Close()
		if _, err := ca.WriteToAddrPort([]byte("x"), to); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("write on a closed socket: %v", err)
		}
	})
}
