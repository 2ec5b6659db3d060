// Package conformance checks that a pion transport.Net of any generation
// (v3, v4, v5) behaves as the operating system's network does for the calls
// pion makes: UDP and TCP sockets, interfaces, dialers. vnet's own host and
// its adapters for older generations share these checks.
//
// It knows the shape of pion's Net interfaces through type parameters, not
// any one generation's package, and nothing of vnet.
package conformance

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
)

// Listener is a generation's TCPListener, accepting its TCPConn type C.
type Listener[C net.Conn] interface {
	net.Listener
	AcceptTCP() (C, error)
}

// Net is the part of a generation's transport.Net whose results name the
// generation's own types: UDPConn U, TCPConn C, TCPListener L and Interface I.
type Net[U net.PacketConn, C net.Conn, L Listener[C], I any] interface {
	ListenUDP(network string, laddr *net.UDPAddr) (U, error)
	DialUDP(network string, laddr, raddr *net.UDPAddr) (U, error)
	ListenTCP(network string, laddr *net.TCPAddr) (L, error)
	DialTCP(network string, laddr, raddr *net.TCPAddr) (C, error)
	Interfaces() ([]I, error)
	InterfaceByName(name string) (I, error)
	InterfaceByIndex(index int) (I, error)
	ListenPacket(network, address string) (net.PacketConn, error)
	Dial(network, address string) (net.Conn, error)
	ResolveUDPAddr(network, address string) (*net.UDPAddr, error)
	ResolveTCPAddr(network, address string) (*net.TCPAddr, error)
}

// Check runs the checks with server and client, two hosts that can reach
// each other on addr (server's address); the server sees the client's
// packets come from seen (its NAT's address, or its own). iface reads the
// generation's Interface type.
func Check[U net.PacketConn, C net.Conn, L Listener[C], I any, N Net[U, C, L, I]](t *testing.T, server, client N, addr, seen net.IP, iface func(I) (net.Interface, []net.Addr)) {
	t.Helper()
	// No subtests: the checks may run inside a testing/synctest bubble.
	checkInterfaces(t, server, addr, iface)
	checkUDP(t, server, client, "4", addr, seen)
	checkTCP(t, server, client, "4", addr, seen)
}

// CheckIPv6 runs the interface, UDP and TCP checks over IPv6 ("udp6",
// "tcp6"): addr is
// the server's IPv6 address and seen the one the client's packets come
// from (its own: IPv6 is not translated).
func CheckIPv6[U net.PacketConn, C net.Conn, L Listener[C], I any, N Net[U, C, L, I]](t *testing.T, server, client N, addr, seen net.IP, iface func(I) (net.Interface, []net.Addr)) {
	t.Helper()
	checkInterfaces(t, server, addr, iface)
	checkUDP(t, server, client, "6", addr, seen)
	checkTCP(t, server, client, "6", addr, seen)
}

func checkInterfaces[U net.PacketConn, C net.Conn, L Listener[C], I any, N Net[U, C, L, I]](t *testing.T, n N, addr net.IP, iface func(I) (net.Interface, []net.Addr)) {
	ifcs, err := n.Interfaces()
	if err != nil {
		t.Fatalf("Interfaces: %v", err)
	}
	found := false
	for _, ifc := range ifcs {
		ni, addrs := iface(ifc)
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.Equal(addr) {
				found = true
			}
		}
		byName, err := n.InterfaceByName(ni.Name)
		if err != nil {
			t.Fatalf("InterfaceByName(%q): %v", ni.Name, err)
		}
		byIndex, err := n.InterfaceByIndex(ni.Index)
		if err != nil {
			t.Fatalf("InterfaceByIndex(%d): %v", ni.Index, err)
		}
		for _, got := range []I{byName, byIndex} {
			gi, gaddrs := iface(got)
			if gi.Name != ni.Name || gi.Index != ni.Index || len(gaddrs) != len(addrs) {
				t.Errorf("interface %q looked up again: got %q index %d with %d addresses, want index %d with %d", ni.Name, gi.Name, gi.Index, len(gaddrs), ni.Index, len(addrs))
			}
		}
	}
	if !found {
		t.Errorf("no interface holds %s", addr)
	}
	if _, err := n.InterfaceByName("no-such-interface"); err == nil {
		t.Error("InterfaceByName of an unknown name: no error")
	}
}

func checkUDP[U net.PacketConn, C net.Conn, L Listener[C], I any, N Net[U, C, L, I]](t *testing.T, server, client N, fam string, addr, seen net.IP) {
	srv, err := server.ListenUDP("udp"+fam, &net.UDPAddr{IP: addr})
	if err != nil {
		t.Fatalf("ListenUDP: %v", err)
	}
	defer srv.Close()
	raddr, err := client.ResolveUDPAddr("udp"+fam, srv.LocalAddr().String())
	if err != nil {
		t.Fatalf("ResolveUDPAddr: %v", err)
	}
	cli, err := client.DialUDP("udp"+fam, nil, raddr)
	if err != nil {
		t.Fatalf("DialUDP: %v", err)
	}
	defer cli.Close()
	conn, ok := any(cli).(net.Conn)
	if !ok {
		t.Fatalf("DialUDP returned %T, which is not a net.Conn", cli)
	}
	if _, err := conn.Write([]byte("ping")); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, 64)
	n, from, err := srv.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("server read %q, %v; want ping", buf[:n], err)
	}
	if ua, ok := from.(*net.UDPAddr); !ok || !ua.IP.Equal(seen) {
		t.Errorf("server saw the datagram from %s, want it from %s", from, seen)
	}
	if _, err := srv.WriteTo([]byte("pong"), from); err != nil {
		t.Fatalf("server write: %v", err)
	}
	if n, err = conn.Read(buf); err != nil || string(buf[:n]) != "pong" {
		t.Fatalf("client read %q, %v; want pong", buf[:n], err)
	}

	// ListenPacket and Dial, whose results name no generation's type.
	pc, err := server.ListenPacket("udp"+fam, net.JoinHostPort(addr.String(), "0"))
	if err != nil {
		t.Fatalf("ListenPacket: %v", err)
	}
	defer pc.Close()
	dc, err := client.Dial("udp"+fam, pc.LocalAddr().String())
	if err != nil {
		t.Fatalf("Dial udp%s: %v", fam, err)
	}
	defer dc.Close()
	if _, err := dc.Write([]byte("again")); err != nil {
		t.Fatalf("write: %v", err)
	}
	if n, _, err = pc.ReadFrom(buf); err != nil || string(buf[:n]) != "again" {
		t.Fatalf("read %q, %v; want again", buf[:n], err)
	}
}

func checkTCP[U net.PacketConn, C net.Conn, L Listener[C], I any, N Net[U, C, L, I]](t *testing.T, server, client N, fam string, addr, seen net.IP) {
	ln, err := server.ListenTCP("tcp"+fam, &net.TCPAddr{IP: addr})
	if err != nil {
		t.Fatalf("ListenTCP: %v", err)
	}
	defer ln.Close()
	accepted := make(chan C, 1)
	errc := make(chan error, 1)
	go func() {
		c, err := ln.AcceptTCP()
		if err != nil {
			errc <- err
			return
		}
		accepted <- c
	}()
	raddr, err := client.ResolveTCPAddr("tcp"+fam, ln.Addr().String())
	if err != nil {
		t.Fatalf("ResolveTCPAddr: %v", err)
	}
	cli, err := client.DialTCP("tcp"+fam, nil, raddr)
	if err != nil {
		t.Fatalf("DialTCP: %v", err)
	}
	defer cli.Close()
	var srv C
	select {
	case srv = <-accepted:
	case err := <-errc:
		t.Fatalf("AcceptTCP: %v", err)
	}
	defer srv.Close()
	if ta, ok := srv.RemoteAddr().(*net.TCPAddr); !ok || !ta.IP.Equal(seen) {
		t.Errorf("server sees the client at %s, want it at %s", srv.RemoteAddr(), seen)
	}
	msg := bytes.Repeat([]byte("icelab "), 20000) // larger than one window
	go func() {
		_, _ = cli.Write(msg)
		if cw, ok := any(cli).(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	}()
	got, err := io.ReadAll(srv)
	if err != nil {
		t.Fatalf("server read: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("server read %d bytes, want the %d sent", len(got), len(msg))
	}
	if _, err := srv.Write([]byte("bye")); err != nil {
		t.Fatalf("server write after the client's half-close: %v", err)
	}
	buf := make([]byte, 8)
	if n, err := io.ReadFull(cli, buf[:3]); err != nil || string(buf[:n]) != "bye" {
		t.Fatalf("client read %q, %v; want bye", buf[:n], err)
	}
	_ = srv.Close()
	if _, err := cli.Read(buf); !errors.Is(err, io.EOF) {
		t.Errorf("client read after the server closed: %v, want EOF", err)
	}
}
