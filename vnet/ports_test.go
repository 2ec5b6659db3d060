package vnet

import (
	"net"
	"testing"
)

// A socket's ephemeral port does not depend on the order in which sockets
// bound to other addresses were bound: pion's ICE agent binds its host
// socket and its wildcard srflx and relay sockets from racing goroutines.
func TestEphemeralPortIgnoresOtherBinds(t *testing.T) {
	bind := func(wildcardFirst bool) (host, wild1, wild2 int) {
		n := newTestNetwork(t)
		h := mustHost(t, n.Internet(), "alice")
		ip := h.Addr().AsSlice()
		specific := func() int { return listenAt(t, h, &net.UDPAddr{IP: ip}).LocalAddr().(*net.UDPAddr).Port }
		wildcard := func() int { return listenAt(t, h, &net.UDPAddr{}).LocalAddr().(*net.UDPAddr).Port }
		if wildcardFirst {
			wild1 = wildcard()
			wild2 = wildcard()
			host = specific()
		} else {
			host = specific()
			wild1 = wildcard()
			wild2 = wildcard()
		}
		return host, wild1, wild2
	}
	h1, a1, b1 := bind(false)
	h2, a2, b2 := bind(true)
	if h1 != h2 || a1 != a2 || b1 != b2 {
		t.Errorf("ports depend on bind order: host %d/%d, wildcard %d,%d / %d,%d", h1, h2, a1, b1, a2, b2)
	}
	for _, p := range []int{h1, a1, b1} {
		if p < ephemeralMin || p > ephemeralMax {
			t.Errorf("port %d is outside Linux's ephemeral range", p)
		}
	}
	if h1 == a1 || a1 == b1 || h1 == b1 {
		t.Errorf("ports %d, %d, %d collide", h1, a1, b1)
	}
}

func listenAt(t *testing.T, h *Host, a *net.UDPAddr) net.PacketConn {
	t.Helper()
	c, err := h.ListenUDP("udp4", a)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
