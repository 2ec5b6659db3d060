package vnet

import (
	"io"
	"net"
	"testing"
)

// BenchmarkTCPThroughput measures TCP payload throughput through one
// router and across a NAT hop, beside the kernel's loopback TCP.
func BenchmarkTCPThroughput(b *testing.B) {
	const chunk = 64 << 10
	run := func(b *testing.B, c, s net.Conn) {
		done := make(chan int64)
		go func() {
			n, _ := io.Copy(io.Discard, s)
			done <- n
		}()
		buf := make([]byte, chunk)
		b.SetBytes(chunk)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := c.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		_ = c.(interface{ CloseWrite() error }).CloseWrite()
		if n := <-done; n != int64(b.N)*chunk {
			b.Fatalf("received %d bytes of %d", n, int64(b.N)*chunk)
		}
		b.StopTimer()
		_ = c.Close()
		_ = s.Close()
	}
	b.Run("loopback", func(b *testing.B) {
		l, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			s, _ := l.Accept()
			accepted <- s
		}()
		c, err := net.Dial("tcp4", l.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		s := <-accepted
		if s == nil {
			b.Fatal("accept failed")
		}
		run(b, c, s)
	})
	b.Run("vnet-router", func(b *testing.B) {
		n := newTestNetwork(b)
		c, s := tcpPair(b, mustHost(b, n.Internet(), "a"), mustHost(b, n.Internet(), "b"), 80)
		run(b, c, s)
	})
	b.Run("vnet-nat", func(b *testing.B) {
		n := newTestNetwork(b)
		cli := mustHost(b, mustRouter(b, n.Internet(), "home", PortRestricted()), "a")
		c, s := tcpPair(b, cli, mustHost(b, n.Internet(), "b"), 80)
		run(b, c, s)
	})
	// Ethernet-sized segments: what DefaultTCPMSS saves.
	b.Run("vnet-nat-mss1460", func(b *testing.B) {
		n := newTestNetwork(b)
		cli := mustHost(b, mustRouter(b, n.Internet(), "home", PortRestricted()), "a")
		srv := mustHost(b, n.Internet(), "b")
		cli.SetTCPConfig(TCPConfig{MSS: 1460})
		srv.SetTCPConfig(TCPConfig{MSS: 1460})
		c, s := tcpPair(b, cli, srv, 80)
		run(b, c, s)
	})
	// Ethernet MTU on every link: the MSS of 1460 comes from the MTU.
	b.Run("vnet-nat-mtu1500", func(b *testing.B) {
		n := newTestNetwork(b)
		home := mustRouter(b, n.Internet(), "home", PortRestricted())
		cli, srv := mustHost(b, home, "a"), mustHost(b, n.Internet(), "b")
		for _, l := range []*Link{cli.Link(), srv.Link(), home.Uplink()} {
			if err := l.SetMTU(MTU{Size: 1500}); err != nil {
				b.Fatal(err)
			}
		}
		c, s := tcpPair(b, cli, srv, 80)
		run(b, c, s)
	})
	// A 1280-byte tunnel on the way with ICMP: the sender learns the path
	// MTU once and sends 1240-byte segments.
	b.Run("vnet-nat-tunnel1280", func(b *testing.B) {
		n := newTestNetwork(b)
		home := mustRouter(b, n.Internet(), "home", PortRestricted())
		cli, srv := mustHost(b, home, "a"), mustHost(b, n.Internet(), "b")
		for _, l := range []*Link{cli.Link(), srv.Link()} {
			if err := l.SetMTU(MTU{Size: 1500}); err != nil {
				b.Fatal(err)
			}
		}
		if err := home.Uplink().SetMTU(MTU{Size: 1280}); err != nil {
			b.Fatal(err)
		}
		c, s := tcpPair(b, cli, srv, 80)
		run(b, c, s)
	})
}
