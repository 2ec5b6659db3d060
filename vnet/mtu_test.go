package vnet

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// vpnPath is a client behind a router whose uplink is a tunnel with the
// given MTU, and a server on the internet.
func vpnPath(t *testing.T, m MTU) (n *Network, vpn *Router, cli, srv *Host) {
	t.Helper()
	n = newTestNetwork(t)
	vpn = mustRouter(t, n.Internet(), "vpn", PortRestricted())
	if err := vpn.Uplink().SetMTU(m); err != nil {
		t.Fatal(err)
	}
	cli, srv = mustHost(t, vpn, "cli"), mustHost(t, n.Internet(), "srv")
	for _, h := range []*Host{cli, srv} {
		if err := h.Link().SetMTU(MTU{Size: 1500}); err != nil {
			t.Fatal(err)
		}
	}
	return n, vpn, cli, srv
}

func drops(n *Network, t *testing.T) *recorder {
	return record(t, n, func(e Event) bool { return e.Verdict == Dropped })
}

// sendN sends a datagram of size bytes of payload and reports whether it
// arrived whole.
func sendN(t *testing.T, from, to *UDPConn, size int) bool {
	t.Helper()
	msg := randomBytes(size)
	if _, err := from.WriteToUDP(msg, net.UDPAddrFromAddrPort(addrOf(to))); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	_ = to.SetReadDeadline(time.Now().Add(time.Second))
	k, _, err := to.ReadFromUDP(buf)
	if err != nil {
		return false
	}
	if !bytes.Equal(buf[:k], msg) {
		t.Fatalf("datagram of %d bytes arrived as %d different bytes", size, k)
	}
	return true
}

func TestMTUValidates(t *testing.T) {
	n := newTestNetwork(t)
	h := mustHost(t, n.Internet(), "h")
	for _, size := range []int{-1, 67, 65536} {
		if err := h.Link().SetMTU(MTU{Size: size}); err == nil || !strings.Contains(err.Error(), "h-eth0") {
			t.Errorf("MTU %d: error %v, want one naming the link", size, err)
		}
	}
	if err := h.Link().SetMTU(MTU{Size: 68}); err != nil || h.Link().MTU().Size != 68 {
		t.Errorf("MTU 68: %v, %v", err, h.Link().MTU())
	}
}

// A datagram that does not fit the tunnel is dropped where it enters it;
// the ICMP "fragmentation needed" teaches the sender the path MTU, and its
// next large datagram is fragmented by the sender and reassembled at the
// receiver, as Linux does under IP_PMTUDISC_WANT.
func TestMTUDropsDFDatagramAndLearnsPathMTU(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, _, cli, srv := vpnPath(t, MTU{Size: 1280})
		cc, sc := listenOn(t, cli, 1000), listenOn(t, srv, 2000)
		dropped := drops(n, t)
		if !sendN(t, cc, sc, 1280-28) {
			t.Fatal("a datagram of exactly the MTU did not arrive")
		}
		if got := cli.PathMTU(srv.Addr()); got != 1500 {
			t.Fatalf("path MTU before any drop %d, want the link's 1500", got)
		}
		if sendN(t, cc, sc, 1280-27) {
			t.Fatal("a datagram one byte over the MTU arrived")
		}
		ev := dropped.list()
		if len(ev) != 1 || ev[0].Where != "vpn-wan" || ev[0].Size != 1281 ||
			!strings.Contains(ev[0].Reason, "MTU 1280") || !strings.Contains(ev[0].Reason, "DF set") || !strings.Contains(ev[0].Reason, "ICMP fragmentation needed sent") {
			t.Fatalf("drops %v, want one at vpn-wan naming the MTU, DF and the ICMP", ev)
		}
		if got := cli.PathMTU(srv.Addr()); got != 1280 {
			t.Fatalf("path MTU after the ICMP %d, want 1280", got)
		}
		frags := record(t, n, func(e Event) bool { return e.Where == "vpn-wan" && e.Verdict == Forwarded })
		if !sendN(t, cc, sc, 3000) {
			t.Fatalf("a 3000-byte datagram sent after learning the path MTU did not arrive; drops %v", dropped.list()[1:])
		}
		ev = frags.list()
		if len(ev) != 3 {
			t.Fatalf("%d fragments crossed the tunnel, want 3: %v", len(ev), ev)
		}
		for _, e := range ev {
			if e.Size > 1280 {
				t.Errorf("fragment of %d bytes crossed an MTU of 1280", e.Size)
			}
		}
		// The path MTU is forgotten after ten minutes, as Linux's mtu_expires.
		time.Sleep(linuxMTUExpires + time.Second)
		if got := cli.PathMTU(srv.Addr()); got != 1500 {
			t.Errorf("path MTU after ten minutes %d, want 1500 again", got)
		}
	})
}

func TestMTUBlackHoleSendsNoICMP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, _, cli, srv := vpnPath(t, MTU{Size: 1280, NoICMP: true})
		cc, sc := listenOn(t, cli, 1000), listenOn(t, srv, 2000)
		dropped := drops(n, t)
		for i := 0; i < 3; i++ {
			if sendN(t, cc, sc, 1300) {
				t.Fatal("a datagram over the MTU arrived")
			}
		}
		if got := cli.PathMTU(srv.Addr()); got != 1500 {
			t.Errorf("path MTU %d: the sender learned of a black hole", got)
		}
		ev := dropped.list()
		if len(ev) != 3 || !strings.Contains(ev[0].Reason, "black hole") {
			t.Errorf("drops %v, want three naming the black hole", ev)
		}
	})
}

func TestMTUPMTUDiscoveryDoRefusesWithEMSGSIZE(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, _, cli, srv := vpnPath(t, MTU{Size: 1280})
		cli.SetPMTUDiscovery(PMTUDiscoveryDo)
		cc, sc := listenOn(t, cli, 1000), listenOn(t, srv, 2000)
		if _, err := cc.WriteToUDP(make([]byte, 1473), net.UDPAddrFromAddrPort(addrOf(sc))); !errors.Is(err, syscall.EMSGSIZE) {
			t.Fatalf("datagram over the link MTU: %v, want EMSGSIZE", err)
		}
		if sendN(t, cc, sc, 1300) {
			t.Fatal("a datagram over the tunnel MTU arrived")
		}
		if _, err := cc.WriteToUDP(make([]byte, 1300), net.UDPAddrFromAddrPort(addrOf(sc))); !errors.Is(err, syscall.EMSGSIZE) {
			t.Fatalf("datagram over the learned path MTU: %v, want EMSGSIZE", err)
		}
		if !sendN(t, cc, sc, 1252) {
			t.Fatal("a datagram that fits did not arrive")
		}
	})
}

// Without DF, routers fragment; a firewall that drops fragments loses the
// datagram, and the receiver gives up the rest after ipfrag_time.
func TestMTUFragmentsAndFragmentFilters(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rule   []Rule
		arrive bool
		drop   string
	}{
		{"no filter", nil, true, ""},
		{"drop later fragments", []Rule{{Name: "no-later", Fragments: LaterFragments, Action: Drop}}, false, "fragment reassembly timeout after 30s: 1008 of unknown bytes arrived"},
		{"drop all fragments", DropFragments(), false, "firewall srvlan rule 1 (drop-fragments)"},
		{"drop all fragments, small datagram", DropFragments(), true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n, _, cli, _ := vpnPath(t, MTU{Size: 1028})
				cli.SetPMTUDiscovery(PMTUDiscoveryDont)
				srvlan := mustRouter(t, n.Internet(), "srvlan", NAT{})
				srv := mustHost(t, srvlan, "srv2")
				if _, err := srvlan.Firewall().Add(tc.rule...); err != nil && tc.rule != nil {
					t.Fatal(err)
				}
				cc, sc := listenOn(t, cli, 1000), listenOn(t, srv, 2000)
				dropped := drops(n, t)
				size := 2500
				if strings.Contains(tc.name, "small") {
					size = 900
				}
				start := time.Now()
				got := sendN(t, cc, sc, size)
				if got != tc.arrive {
					t.Fatalf("arrived %v, want %v; drops %v", got, tc.arrive, dropped.list())
				}
				if tc.drop == "" {
					if ev := dropped.list(); len(ev) != 0 {
						t.Errorf("drops %v, want none", ev)
					}
					return
				}
				time.Sleep(ReassemblyTimeout + time.Second - time.Since(start))
				found := false
				for _, e := range dropped.list() {
					found = found || e.Reason == tc.drop
				}
				if !found {
					t.Errorf("drops %v, want one for %q", dropped.list(), tc.drop)
				}
			})
		})
	}
}

// A tunnel that clears DF fragments even DF datagrams (RFC 4459 3.1).
func TestMTUTunnelFragmentsDFPackets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, _, cli, srv := vpnPath(t, MTU{Size: 1280, Fragment: true})
		cc, sc := listenOn(t, cli, 1000), listenOn(t, srv, 2000)
		dropped := drops(n, t)
		if !sendN(t, cc, sc, 1400) {
			t.Fatalf("datagram did not cross a fragmenting tunnel; drops %v", dropped.list())
		}
		if got := cli.PathMTU(srv.Addr()); got != 1500 {
			t.Errorf("path MTU %d: a fragmenting tunnel sends no ICMP", got)
		}
	})
}

// TCP announces MTU-40 in its SYN and sends segments no larger than the
// smaller of both ends' MSS.
func TestMTUTCPMSSFromLinkMTU(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, _, cli, srv := vpnPath(t, MTU{})
		if err := srv.Link().SetMTU(MTU{Size: 1400}); err != nil {
			t.Fatal(err)
		}
		syns := record(t, n, func(e Event) bool { return e.Proto == TCP && e.Flags&FlagSYN != 0 && e.Verdict == Delivered })
		data := record(t, n, func(e Event) bool { return e.Proto == TCP && e.Verdict == Delivered && e.Size > 40 })
		c, s := tcpPair(t, cli, srv, 443)
		msg := randomBytes(100_000)
		go func() { _, _ = c.Write(msg) }()
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(s, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("read: %v", err)
		}
		go func() { _, _ = s.Write(msg) }()
		if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("read back: %v", err)
		}
		c.mu.Lock()
		cm, ca := c.cfg.MSS, c.advMSS
		c.mu.Unlock()
		s.mu.Lock()
		sm, sa := s.cfg.MSS, s.advMSS
		s.mu.Unlock()
		if ca != 1460 || sa != 1360 || cm != 1360 || sm != 1360 {
			t.Errorf("client announces %d, uses %d; server announces %d, uses %d; want 1460, 1360, 1360, 1360", ca, cm, sa, sm)
		}
		if ev := syns.list(); len(ev) != 2 {
			t.Errorf("SYNs %v", ev)
		}
		largest := 0
		for _, e := range data.list() {
			largest = max(largest, e.Size)
		}
		if largest != 1400 {
			t.Errorf("largest segment %d bytes on the wire, want 1400", largest)
		}
	})
}

// TCP across a tunnel smaller than both ends' links: with ICMP the sender
// lowers its MSS and the data arrives; a black hole stalls the connection
// until it times out (RFC 2923 2.1); MSS clamping avoids the problem.
func TestMTUTCPAcrossTunnel(t *testing.T) {
	for _, tc := range []struct {
		name string
		mtu  MTU
		ok   bool
	}{
		{"icmp", MTU{Size: 1280}, true},
		{"black hole", MTU{Size: 1280, NoICMP: true}, false},
		{"black hole with MSS clamping", MTU{Size: 1280, NoICMP: true, ClampMSS: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n, _, cli, srv := vpnPath(t, tc.mtu)
				srv.SetTCPConfig(TCPConfig{UserTimeout: 30 * time.Second})
				dropped := drops(n, t)
				c, s := tcpPair(t, cli, srv, 443)
				msg := randomBytes(20_000)
				if _, err := s.Write(msg); err != nil { // the server's certificate chain, say
					t.Fatal(err)
				}
				got := make([]byte, len(msg))
				_ = c.SetReadDeadline(time.Now().Add(time.Minute))
				_, err := io.ReadFull(c, got)
				if tc.ok {
					if err != nil || !bytes.Equal(got, msg) {
						t.Fatalf("read: %v; drops %v", err, dropped.list())
					}
					return
				}
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("read across a black hole: %v, want the deadline to pass", err)
				}
				// The sender gives up as its retransmissions go unanswered.
				if _, err := s.Read(make([]byte, 1)); !errors.Is(err, syscall.ETIMEDOUT) {
					t.Fatalf("the sender's connection: %v, want ETIMEDOUT", err)
				}
				if ev := dropped.list(); len(ev) == 0 || !strings.Contains(ev[0].Reason, "black hole") {
					t.Errorf("drops %v, want the black hole named", ev)
				}
			})
		})
	}
}

// Fragments that arrive out of order, or through a second, smaller MTU
// that splits them again, are still reassembled.
func TestMTUReassemblesReorderedAndRefragmented(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, vpn, cli, _ := vpnPath(t, MTU{Size: 1400})
		cli.SetPMTUDiscovery(PMTUDiscoveryDont)
		if err := vpn.Uplink().Impair(Impairment{Latency: 10 * time.Millisecond, Jitter: 10 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		far := mustRouter(t, n.Internet(), "far", NAT{})
		if err := far.Uplink().SetMTU(MTU{Size: 700}); err != nil {
			t.Fatal(err)
		}
		srv := mustHost(t, far, "srv2")
		cc, sc := listenOn(t, cli, 1000), listenOn(t, srv, 2000)
		sizes := record(t, n, func(e Event) bool { return e.Where == "far-wan" && e.Verdict == Forwarded })
		for i := 0; i < 20; i++ {
			if !sendN(t, cc, sc, 5000) {
				t.Fatalf("datagram %d did not arrive", i)
			}
		}
		for _, e := range sizes.list() {
			if e.Size > 700 {
				t.Fatalf("a %d-byte fragment crossed an MTU of 700", e.Size)
			}
		}
	})
}

// A connected socket hears of the ICMP "fragmentation needed" once, as
// EMSGSIZE from its next send; then, under Linux's default, its large
// datagrams are fragmented and arrive.
func TestMTUConnectedSocketSeesEMSGSIZEOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, _, cli, srv := vpnPath(t, MTU{Size: 1280})
		sc := listenOn(t, srv, 2000)
		conn, err := cli.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(addrOf(sc)))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		big := make([]byte, 1300)
		if _, err := conn.Write(big); err != nil {
			t.Fatalf("first write: %v", err)
		}
		if _, err := conn.Write(big); !errors.Is(err, syscall.EMSGSIZE) {
			t.Fatalf("write after the ICMP: %v, want EMSGSIZE", err)
		}
		if _, err := conn.Write(big); err != nil {
			t.Fatalf("third write: %v", err)
		}
		_ = sc.SetReadDeadline(time.Now().Add(time.Second))
		if k, _, err := sc.ReadFromUDP(make([]byte, 2000)); err != nil || k != 1300 {
			t.Fatalf("read %d, %v: the fragmented datagram did not arrive whole", k, err)
		}
	})
}
