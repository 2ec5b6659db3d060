package vnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/stun/v4"
	"github.com/pion/webrtc/v4"
)

// v6Net is a network with a dual-stack server on the internet, a
// dual-stack home LAN behind a port-restricted NAT (IPv4) and the RFC 6092
// firewall (IPv6), and an IPv6-only carrier LAN behind a NAT64.
type v6Net struct {
	n              *Network
	server, v4only *Host
	home, carrier  *Router
	laptop, phone  *Host
}

func newV6Net(t *testing.T) *v6Net {
	t.Helper()
	n := newTestNetwork(t)
	server, err := n.Internet().AddHost(HostConfig{Name: "server", IPv6: true})
	if err != nil {
		t.Fatal(err)
	}
	home, err := n.Internet().AddRouter(RouterConfig{Name: "home", NAT: PortRestricted(), IPv6: true})
	if err != nil {
		t.Fatal(err)
	}
	carrier, err := n.Internet().AddRouter(RouterConfig{Name: "carrier", IPv6Only: true, NAT64: true})
	if err != nil {
		t.Fatal(err)
	}
	return &v6Net{n: n, server: server, v4only: mustHost(t, n.Internet(), "v4only"), home: home, carrier: carrier,
		laptop: mustHost(t, home, "laptop"), phone: mustHost(t, carrier, "phone")}
}

func listenNet(t *testing.T, h *Host, network string, port int) *UDPConn {
	t.Helper()
	c, err := h.ListenUDP(network, &net.UDPAddr{Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c.(*UDPConn)
}

// exchange sends one datagram from c to dst and returns the source the
// receiver saw; ok is false when nothing arrived within a second.
func exchange(t *testing.T, c *UDPConn, dst netip.AddrPort, rcv *UDPConn) (netip.AddrPort, bool) {
	t.Helper()
	if _, err := c.WriteToUDP([]byte{0x80, 1}, net.UDPAddrFromAddrPort(dst)); err != nil {
		t.Fatalf("write to %s: %v", dst, err)
	}
	_ = rcv.SetReadDeadline(time.Now().Add(time.Second))
	defer func() { _ = rcv.SetReadDeadline(time.Time{}) }()
	buf := make([]byte, 64)
	_, from, err := rcv.ReadFromUDP(buf)
	if err != nil {
		return netip.AddrPort{}, false
	}
	return from.AddrPort(), true
}

func TestIPv6Addressing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := newV6Net(t)
		if !v.server.Addr().Is4() || !DefaultInternet6.Contains(v.server.Addr6()) {
			t.Errorf("server addresses %s, %s: want IPv4 and one in %s", v.server.Addr(), v.server.Addr6(), DefaultInternet6)
		}
		if v.v4only.Addr6().IsValid() {
			t.Errorf("an internet host that asked for no IPv6 got %s", v.v4only.Addr6())
		}
		if !v.home.LAN6().Contains(v.laptop.Addr6()) || v.home.LAN6().Bits() != 64 {
			t.Errorf("laptop %s outside home's /64 %s", v.laptop.Addr6(), v.home.LAN6())
		}
		if !v.phone.Addr().Is6() || v.phone.Addr6() != v.phone.Addr() {
			t.Errorf("IPv6-only phone has address %s, IPv6 %s", v.phone.Addr(), v.phone.Addr6())
		}
		ifs, err := v.laptop.Interfaces()
		if err != nil {
			t.Fatal(err)
		}
		addrs, _ := ifs[0].Addrs()
		if len(addrs) != 2 || addrs[1].String() != netip.PrefixFrom(v.laptop.Addr6(), 64).String() {
			t.Errorf("laptop interface addresses %v, want the IPv4 one and %s/64", addrs, v.laptop.Addr6())
		}
		if ext, _ := v.home.ExternalAddr(v.laptop.Addr6()); ext != v.laptop.Addr6() {
			t.Errorf("external address of %s is %s: IPv6 is not translated", v.laptop.Addr6(), ext)
		}
		if _, err := v.carrier.AddHost(HostConfig{Name: "x", Addr: netip.MustParseAddr("10.9.9.9")}); err == nil {
			t.Error("an IPv4 address on an IPv6-only LAN was accepted")
		}
		v4lan := mustRouter(t, v.n.Internet(), "v4lan", PortRestricted())
		if _, err := v4lan.AddRouter(RouterConfig{Name: "below", IPv6: true}); err == nil {
			t.Error("an IPv6 LAN below an IPv4-only one was accepted")
		}
		nested, err := v.home.AddRouter(RouterConfig{Name: "nested", IPv6: true})
		if err != nil {
			t.Fatal(err)
		}
		deep := mustHost(t, nested, "deep")
		if !nested.LAN6().Contains(deep.Addr6()) {
			t.Errorf("host below a nested IPv6 LAN got %s", deep.Addr6())
		}
		// Routed both ways through two routers' IPv6 firewalls.
		srv, cli := listenNet(t, v.server, "udp6", 9000), listenNet(t, deep, "udp6", 9001)
		if from, ok := exchange(t, cli, netip.AddrPortFrom(v.server.Addr6(), 9000), srv); !ok || from.Addr() != deep.Addr6() {
			t.Errorf("nested IPv6 host to the internet: from %s (arrived %v)", from, ok)
		}
		if _, ok := exchange(t, srv, netip.AddrPortFrom(deep.Addr6(), 9001), cli); !ok {
			t.Error("the reply did not reach the nested IPv6 host")
		}
	})
}

func TestIPv6PacketSize(t *testing.T) {
	src6, dst6 := netip.MustParseAddrPort("[2001:db8::2]:1"), netip.MustParseAddrPort("[2001:db8::3]:2")
	src4, dst4 := netip.MustParseAddrPort("203.0.113.2:1"), netip.MustParseAddrPort("203.0.113.3:2")
	for _, tc := range []struct {
		proto    Proto
		src, dst netip.AddrPort
		want     int
	}{{UDP, src4, dst4, 100 + 28}, {UDP, src6, dst6, 100 + 48}, {TCP, src4, dst4, 100 + 40}, {TCP, src6, dst6, 100 + 60}} {
		p := newPacket(tc.proto, tc.src, tc.dst, make([]byte, 100))
		if got := p.size(); got != tc.want {
			t.Errorf("%s %s size %d, want %d", tc.proto, tc.src, got, tc.want)
		}
		p.release()
	}
}

// TestIPv6UDPFamilies checks that a "udp" wildcard socket receives both
// families, "udp4" only IPv4 and "udp6" only IPv6, and that IPv6 leaves the
// home LAN untranslated while IPv4 is NATed.
func TestIPv6UDPFamilies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := newV6Net(t)
		dual := listenNet(t, v.server, "udp", 5000)
		only4 := listenNet(t, v.server, "udp4", 5004)
		only6 := listenNet(t, v.server, "udp6", 5006)
		cli := listenNet(t, v.laptop, "udp", 0)
		srv4, srv6 := v.server.Addr(), v.server.Addr6()

		if from, ok := exchange(t, cli, netip.AddrPortFrom(srv6, 5000), dual); !ok || from.Addr() != v.laptop.Addr6() {
			t.Errorf("IPv6 to a dual-stack socket: from %s (arrived %v), want the laptop's own %s", from, ok, v.laptop.Addr6())
		}
		if from, ok := exchange(t, cli, netip.AddrPortFrom(srv4, 5000), dual); !ok || from.Addr() != v.home.WAN() {
			t.Errorf("IPv4 to a dual-stack socket: from %s (arrived %v), want the NAT's %s", from, ok, v.home.WAN())
		}
		if _, ok := exchange(t, cli, netip.AddrPortFrom(srv6, 5004), only4); ok {
			t.Error("a udp4 socket received IPv6")
		}
		if _, ok := exchange(t, cli, netip.AddrPortFrom(srv4, 5006), only6); ok {
			t.Error("a udp6 socket received IPv4")
		}
		if _, ok := exchange(t, cli, netip.AddrPortFrom(srv6, 5006), only6); !ok {
			t.Error("a udp6 socket missed IPv6")
		}
		// udp4 and udp6 wildcards share a port; a dual-stack one does not.
		if _, err := v.server.ListenUDP("udp6", &net.UDPAddr{Port: 5004}); err != nil {
			t.Errorf("udp6 beside udp4 on one port: %v", err)
		}
		if _, err := v.server.ListenUDP("udp6", &net.UDPAddr{Port: 5000}); !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("udp6 beside a dual-stack socket: %v, want EADDRINUSE", err)
		}
		// A udp4 socket cannot send to IPv6, nor bind an IPv6 address.
		c4 := listenNet(t, v.laptop, "udp4", 0)
		if _, err := c4.WriteToUDP([]byte{1}, net.UDPAddrFromAddrPort(netip.AddrPortFrom(srv6, 5000))); !errors.Is(err, syscall.EAFNOSUPPORT) {
			t.Errorf("udp4 socket to IPv6: %v, want EAFNOSUPPORT", err)
		}
		if _, err := v.laptop.ListenUDP("udp4", &net.UDPAddr{IP: v.laptop.Addr6().AsSlice()}); err == nil {
			t.Error("udp4 bound an IPv6 address")
		}
		// An IPv4-only host has no IPv6 route.
		c := listenNet(t, v.v4only, "udp", 0)
		if _, err := c.WriteToUDP([]byte{1}, net.UDPAddrFromAddrPort(netip.AddrPortFrom(srv6, 5000))); !errors.Is(err, syscall.ENETUNREACH) {
			t.Errorf("IPv4-only host to IPv6: %v, want ENETUNREACH", err)
		}
	})
}

// TestIPv6SimpleSecurity checks RFC 6092's default: unsolicited inbound
// IPv6 is dropped at the home router, replies to the LAN's flows pass, and
// IPv6Open turns the guard off.
func TestIPv6SimpleSecurity(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := newV6Net(t)
		open, err := v.n.Internet().AddRouter(RouterConfig{Name: "open", IPv6: true, IPv6Open: true})
		if err != nil {
			t.Fatal(err)
		}
		exposed := mustHost(t, open, "exposed")
		srv := listenNet(t, v.server, "udp6", 6000)
		lap := listenNet(t, v.laptop, "udp6", 6001)
		exp := listenNet(t, exposed, "udp6", 6001)
		drops := record(t, v.n, func(e Event) bool { return e.Verdict == Dropped && e.Where == "home" })

		if _, ok := exchange(t, srv, netip.AddrPortFrom(v.laptop.Addr6(), 6001), lap); ok {
			t.Error("unsolicited inbound IPv6 reached the laptop")
		}
		if evs := drops.list(); len(evs) != 1 || evs[0].Reason != "ipv6 firewall: unsolicited inbound (RFC 6092 simple security)" {
			t.Errorf("drops at home: %+v", evs)
		}
		if _, ok := exchange(t, lap, netip.AddrPortFrom(v.server.Addr6(), 6000), srv); !ok {
			t.Fatal("outbound IPv6 lost")
		}
		if _, ok := exchange(t, srv, netip.AddrPortFrom(v.laptop.Addr6(), 6001), lap); !ok {
			t.Error("the reply to the laptop's flow was dropped")
		}
		if _, ok := exchange(t, srv, netip.AddrPortFrom(exposed.Addr6(), 6001), exp); !ok {
			t.Error("IPv6Open dropped unsolicited inbound")
		}
	})
}

func TestIPv6FirewallRule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := newV6Net(t)
		if _, err := v.home.Firewall().Add(Rule{Name: "no-v6-out", Direction: Outbound, Remote: netip.MustParsePrefix("2001:db8::/64"), Action: Drop}); err != nil {
			t.Fatal(err)
		}
		srv := listenNet(t, v.server, "udp", 7000)
		cli := listenNet(t, v.laptop, "udp", 0)
		if _, ok := exchange(t, cli, netip.AddrPortFrom(v.server.Addr6(), 7000), srv); ok {
			t.Error("a rule on an IPv6 prefix let IPv6 out")
		}
		if _, ok := exchange(t, cli, netip.AddrPortFrom(v.server.Addr(), 7000), srv); !ok {
			t.Error("a rule on an IPv6 prefix stopped IPv4")
		}
	})
}

func TestIPv6TCP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := newV6Net(t)
		l6, err := v.server.ListenTCP("tcp6", &net.TCPAddr{Port: 443})
		if err != nil {
			t.Fatal(err)
		}
		defer l6.Close()
		ldual, err := v.server.ListenTCP("tcp", &net.TCPAddr{Port: 80})
		if err != nil {
			t.Fatal(err)
		}
		defer ldual.Close()
		for _, tc := range []struct {
			l       net.Listener
			network string
			dst     netip.Addr
			from    netip.Addr
		}{
			{l6, "tcp6", v.server.Addr6(), v.laptop.Addr6()},
			{ldual, "tcp", v.server.Addr6(), v.laptop.Addr6()},
			{ldual, "tcp4", v.server.Addr(), v.home.WAN()},
		} {
			port := tc.l.Addr().(*net.TCPAddr).Port
			accepted := make(chan net.Conn, 1)
			go func() {
				c, err := tc.l.Accept()
				if err == nil {
					accepted <- c
				}
			}()
			c, err := v.laptop.Dial(tc.network, netip.AddrPortFrom(tc.dst, uint16(port)).String())
			if err != nil {
				t.Fatalf("dial %s %s: %v", tc.network, tc.dst, err)
			}
			s := <-accepted
			if got := s.RemoteAddr().(*net.TCPAddr).AddrPort().Addr(); got != tc.from {
				t.Errorf("%s to %s: server sees %s, want %s", tc.network, tc.dst, got, tc.from)
			}
			if _, err := c.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 5)
			if _, err := s.Read(buf); err != nil || string(buf) != "hello" {
				t.Errorf("read %q, %v", buf, err)
			}
			_ = c.Close()
			_ = s.Close()
		}
		if _, err := v.laptop.Dial("tcp4", netip.AddrPortFrom(v.server.Addr6(), 443).String()); err == nil {
			t.Error("tcp4 dialled an IPv6 address")
		}
	})
}

// TestNAT64 checks the RFC 6146 translation: an IPv6-only phone reaches an
// IPv4-only host at its synthesized address, from the carrier's external
// IPv4 address with one endpoint-independent mapping, and gets the reply
// from the synthesized address; TCP crosses too.
func TestNAT64(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := newV6Net(t)
		a := listenNet(t, v.v4only, "udp4", 3478)
		b := listenNet(t, v.v4only, "udp4", 3479)
		phone := listenNet(t, v.phone, "udp", 0)
		synth := Synthesize(v.v4only.Addr())
		if !NAT64Prefix.Contains(synth) || synth.String() != "64:ff9b::"+hexPair(v.v4only.Addr()) {
			t.Fatalf("synthesized %s", synth)
		}
		fromA, ok := exchange(t, phone, netip.AddrPortFrom(synth, 3478), a)
		if !ok || fromA.Addr() != v.carrier.WAN() {
			t.Fatalf("phone via NAT64: from %s (arrived %v), want the carrier's %s", fromA, ok, v.carrier.WAN())
		}
		fromB, ok := exchange(t, phone, netip.AddrPortFrom(synth, 3479), b)
		if !ok || fromB != fromA {
			t.Errorf("second destination mapped to %s, first to %s: want one endpoint-independent mapping", fromB, fromA)
		}
		from, ok := exchange(t, a, fromA, phone)
		if !ok || from != netip.AddrPortFrom(synth, 3478) {
			t.Errorf("reply from %s (arrived %v), want %s", from, ok, netip.AddrPortFrom(synth, 3478))
		}
		// An IPv4 literal is unreachable from the IPv6-only phone.
		if _, err := phone.WriteToUDP([]byte{1}, net.UDPAddrFromAddrPort(netip.AddrPortFrom(v.v4only.Addr(), 3478))); !errors.Is(err, syscall.ENETUNREACH) {
			t.Errorf("IPv4 literal from the IPv6-only phone: %v, want ENETUNREACH", err)
		}
		// TCP through the NAT64.
		l, err := v.v4only.ListenTCP("tcp4", &net.TCPAddr{Port: 443})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			if c, err := l.Accept(); err == nil {
				_, _ = c.Write([]byte("ok"))
				_ = c.Close()
			}
		}()
		c, err := v.phone.Dial("tcp6", netip.AddrPortFrom(synth, 443).String())
		if err != nil {
			t.Fatalf("TCP via NAT64: %v", err)
		}
		buf := make([]byte, 2)
		if _, err := c.Read(buf); err != nil || string(buf) != "ok" {
			t.Errorf("TCP via NAT64 read %q, %v", buf, err)
		}
		_ = c.Close()
	})
}

func hexPair(a netip.Addr) string {
	b := a.As4()
	return netip.AddrFrom16([16]byte{10: 0, 12: b[0], 13: b[1], 14: b[2], 15: b[3]}).String()[2:]
}

// TestDNS64 checks the resolver of the NAT64's LAN: an IPv4-only name gets
// a synthesized AAAA, a name with its own AAAA keeps it, other LANs see no
// synthesis, and IPv4 literals stay IPv4.
func TestDNS64(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := newV6Net(t)
		if err := v.n.AddName("media.example", v.v4only.Addr()); err != nil {
			t.Fatal(err)
		}
		if err := v.n.AddName("dual.example", v.server.Addr(), v.server.Addr6()); err != nil {
			t.Fatal(err)
		}
		resolve := func(h *Host, network, addr string) (netip.Addr, error) {
			ua, err := h.ResolveUDPAddr(network, addr)
			if err != nil {
				return netip.Addr{}, err
			}
			return ua.AddrPort().Addr().Unmap(), nil
		}
		for _, tc := range []struct {
			h        *Host
			network  string
			addr     string
			want     netip.Addr
			wantFail bool
		}{
			{v.phone, "udp6", "media.example:3478", Synthesize(v.v4only.Addr()), false},
			{v.phone, "udp", "media.example:3478", Synthesize(v.v4only.Addr()), false},
			{v.phone, "udp4", "media.example:3478", v.v4only.Addr(), false},
			{v.phone, "udp6", "dual.example:3478", v.server.Addr6(), false},
			{v.phone, "udp6", v.v4only.Addr().String() + ":3478", netip.Addr{}, true},
			{v.laptop, "udp6", "media.example:3478", netip.Addr{}, true},
			{v.laptop, "udp", "dual.example:3478", v.server.Addr(), false},
			{v.laptop, "udp6", "dual.example:3478", v.server.Addr6(), false},
		} {
			got, err := resolve(tc.h, tc.network, tc.addr)
			if tc.wantFail {
				if err == nil {
					t.Errorf("%s resolving %s %s: got %s, want an error", tc.h.Name(), tc.network, tc.addr, got)
				}
				continue
			}
			if err != nil || got != tc.want {
				t.Errorf("%s resolving %s %s: %s, %v; want %s", tc.h.Name(), tc.network, tc.addr, got, err, tc.want)
			}
		}
		ip, err := v.phone.ResolveIPAddr("ip6", "media.example")
		if err != nil || !NAT64Prefix.Contains(netip.AddrFrom16([16]byte(ip.IP.To16()))) {
			t.Errorf("ResolveIPAddr ip6 on the phone: %v, %v", ip, err)
		}
	})
}

// TestPionPeersOverIPv6 connects two pion peers gathering udp6 only, one
// on a dual-stack home LAN and one on the internet: they pair IPv6 host
// candidates, through the home router's RFC 6092 firewall.
func TestPionPeersOverIPv6(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := newV6Net(t)
		udp6 := func(se *webrtc.SettingEngine) { se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP6}) }
		l, r := newPeer(t, v.laptop, webrtc.Configuration{}, udp6), newPeer(t, v.server, webrtc.Configuration{}, udp6)
		connect(t, l, r)
		pair, err := l.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
		if err != nil || pair == nil {
			t.Fatalf("selected pair: %v, %v", pair, err)
		}
		if pair.Local.Address != v.laptop.Addr6().String() || pair.Remote.Address != v.server.Addr6().String() {
			t.Errorf("selected %s → %s, want %s → %s", pair.Local.Address, pair.Remote.Address, v.laptop.Addr6(), v.server.Addr6())
		}
		if pair.Local.Typ != webrtc.ICECandidateTypeHost || pair.Remote.Typ != webrtc.ICECandidateTypeHost {
			t.Errorf("selected %s → %s, want host → host", pair.Local.Typ, pair.Remote.Typ)
		}
	})
}

// TestPionIPv6OnlyPhoneNAT64 runs a pion peer on an IPv6-only phone behind
// a NAT64 against an IPv4-only peer with a TURN server, and pins what pion
// does there:
//
//   - behind an endpoint-independent-filtering NAT64, ICE connects over the
//     synthesized address: the phone's IPv6 host candidate learns a
//     server-reflexive IPv4 address (the NAT64's) from the TURN server
//     named by a DNS64 name, the IPv4 peer's checks reach it, and the phone
//     pairs its host candidate with the peer as peer-reflexive at
//     64:ff9b::/96;
//   - behind an address-dependent NAT64 that path is filtered (the phone
//     sent only to the TURN server, on another address than the peer), and the
//     relay does not save the call: pion's TURN client asks for an IPv6
//     relayed address (RFC 6156 REQUESTED-ADDRESS-FAMILY, inferred from
//     its IPv6 socket) and the IPv4-only pion/turn server, whose relay
//     address generator has no IPv6 address, answers 508 Insufficient
//     Capacity (measured; RFC 6156 section 4.2 would have 440 Address
//     Family not Supported for a server without IPv6);
//   - the TURN server as an IPv4 literal is unreachable from the phone, so
//     there is nothing at all.
func TestPionIPv6OnlyPhoneNAT64(t *testing.T) {
	for _, tc := range []struct {
		name     string
		byName   bool
		nat      NAT
		wantConn bool
		want508  bool
	}{
		{"turn by name, endpoint-independent NAT64", true, NAT{}, true, true},
		{"turn by name, address-dependent NAT64", true, AddressRestricted(), false, true},
		{"turn by IPv4 literal", false, NAT{}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newTestNetwork(t)
				media := mustHost(t, n.Internet(), "media")
				turnHost := mustHost(t, n.Internet(), "turn")
				carrier, err := n.Internet().AddRouter(RouterConfig{Name: "carrier", IPv6Only: true, NAT64: true, NAT: tc.nat})
				if err != nil {
					t.Fatal(err)
				}
				phoneHost := mustHost(t, carrier, "phone")
				addr := startTURN(t, turnHost)
				if err := n.AddName("turn.example", turnHost.Addr()); err != nil {
					t.Fatal(err)
				}
				var mu sync.Mutex
				got508 := false
				t.Cleanup(n.Tap(func(e Event) {
					if e.Verdict != Delivered || e.Where != "phone" || e.Class != ClassSTUN {
						return
					}
					m := &stun.Message{Raw: append([]byte(nil), e.Payload...)}
					var code stun.ErrorCodeAttribute
					if m.Decode() == nil && code.GetFrom(m) == nil && code.Code == stun.CodeInsufficientCapacity {
						mu.Lock()
						got508 = true
						mu.Unlock()
					}
				}))
				url := "turn:" + addr
				if tc.byName {
					url = "turn:turn.example:3478"
				}
				cfg := webrtc.Configuration{ICEServers: []webrtc.ICEServer{{URLs: []string{url}, Username: "user", Credential: "pass"}}}
				both := func(se *webrtc.SettingEngine) {
					se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
				}
				phone, peer := newPeer(t, phoneHost, cfg, both), newPeer(t, media, webrtc.Configuration{})
				negotiate(t, phone, peer)
				select {
				case <-phone.connected:
					if !tc.wantConn {
						t.Fatal("connected")
					}
					pair, err := phone.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
					if err != nil || pair == nil {
						t.Fatalf("selected pair: %v, %v", pair, err)
					}
					remote, _ := netip.ParseAddr(pair.Remote.Address)
					if pair.Local.Typ != webrtc.ICECandidateTypeHost || pair.Local.Address != phoneHost.Addr6().String() ||
						pair.Remote.Typ != webrtc.ICECandidateTypePrflx || remote != Synthesize(media.Addr()) {
						t.Errorf("phone selected %s, want its IPv6 host candidate to the peer's synthesized address %s", pair, Synthesize(media.Addr()))
					}
				case <-phone.failed:
					if tc.wantConn {
						t.Fatal("ICE failed")
					}
				case <-time.After(time.Minute):
					t.Fatal("ICE neither connected nor failed within a minute")
				}
				mu.Lock()
				defer mu.Unlock()
				if got508 != tc.want508 {
					t.Errorf("508 Insufficient Capacity seen: %v, want %v", got508, tc.want508)
				}
			})
		})
	}
}

// TestIPv6TCPReject checks that a reject rule of a router that NATs its
// IPv4 answers an inbound IPv6 SYN with a reset, so the dial is refused at
// once: IPv6 has no NAT mapping to answer from.
func TestIPv6TCPReject(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := newV6Net(t)
		open, err := v.n.Internet().AddRouter(RouterConfig{Name: "open", NAT: FullCone(), IPv6: true, IPv6Open: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := open.Firewall().Add(Rule{Direction: Inbound, Proto: TCP, Action: Reject}); err != nil {
			t.Fatal(err)
		}
		h := mustHost(t, open, "web")
		l, err := h.ListenTCP("tcp6", &net.TCPAddr{Port: 443})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		_, err = v.server.Dial("tcp6", netip.AddrPortFrom(h.Addr6(), 443).String())
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial through a reject rule: %v, want ECONNREFUSED", err)
		}
	})
}

// TestHostMoveToIPv6Only moves a phone from IPv4 Wi-Fi to an IPv6-only
// carrier behind NAT64: its address becomes IPv6, an IPv4 literal is
// unreachable from then on, and the synthesized address reaches the same
// server from the carrier's NAT64.
func TestHostMoveToIPv6Only(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := newV6Net(t)
		wifi := mustRouter(t, v.n.Internet(), "wifi", PortRestricted())
		phone := mustHost(t, wifi, "roamer")
		srv := listenNet(t, v.v4only, "udp4", 3478)
		sock := listenNet(t, phone, "udp", 0)
		dst := netip.AddrPortFrom(v.v4only.Addr(), 3478)
		if from, ok := exchange(t, sock, dst, srv); !ok || from.Addr() != wifi.WAN() {
			t.Fatalf("on Wi-Fi: from %s (arrived %v), want %s", from, ok, wifi.WAN())
		}
		now, err := phone.Move(v.carrier, netip.Addr{})
		if err != nil {
			t.Fatal(err)
		}
		if !now.Is6() || !v.carrier.LAN6().Contains(now) || phone.Addr() != now {
			t.Fatalf("moved to %s (Addr %s), want an address on %s", now, phone.Addr(), v.carrier.LAN6())
		}
		if _, err := sock.WriteToUDP([]byte{1}, net.UDPAddrFromAddrPort(dst)); !errors.Is(err, syscall.ENETUNREACH) {
			t.Errorf("IPv4 literal after the move: %v, want ENETUNREACH", err)
		}
		if from, ok := exchange(t, sock, netip.AddrPortFrom(Synthesize(dst.Addr()), 3478), srv); !ok || from.Addr() != v.carrier.WAN() {
			t.Errorf("via NAT64 after the move: from %s (arrived %v), want %s", from, ok, v.carrier.WAN())
		}
	})
}

// TestPionHostCandidatesTieAcrossFamilies pins that pion ranks a
// dual-stack host's IPv4 and IPv6 host candidates equally: one local
// preference (65535) for every UDP host candidate, no RFC 8421 family
// preference. Which family a dual-stack call then selects is a race
// (harness spec "pairs per family on a dual-stack client and node").
func TestPionHostCandidatesTieAcrossFamilies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := newV6Net(t)
		p := newPeer(t, v.laptop, webrtc.Configuration{}, func(se *webrtc.SettingEngine) {
			se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
		})
		if _, err := p.pc.CreateDataChannel("data", nil); err != nil {
			t.Fatal(err)
		}
		offer, err := p.pc.CreateOffer(nil)
		if err != nil {
			t.Fatal(err)
		}
		gathered := webrtc.GatheringCompletePromise(p.pc)
		if err := p.pc.SetLocalDescription(offer); err != nil {
			t.Fatal(err)
		}
		<-gathered
		prio := map[bool]uint32{}
		for _, line := range strings.Split(p.pc.LocalDescription().SDP, "\n") {
			line = strings.TrimSpace(line)
			if !strings.HasPrefix(line, "a=candidate:") {
				continue
			}
			c, err := ice.UnmarshalCandidate(strings.TrimPrefix(line, "a="))
			if err != nil {
				t.Fatal(err)
			}
			if c.Type() == ice.CandidateTypeHost {
				a, _ := netip.ParseAddr(c.Address())
				prio[a.Is6()] = c.Priority()
			}
		}
		if prio[false] == 0 || prio[true] == 0 || prio[false] != prio[true] {
			t.Errorf("host candidate priorities IPv4 %d, IPv6 %d: want both gathered and equal", prio[false], prio[true])
		}
	})
}

// TestInternet6 checks that a custom internet IPv6 space hands its LANs
// /64s inside it, after the /64 of its own hosts, and that a space too
// small for that is refused.
func TestInternet6(t *testing.T) {
	n, err := New(Config{Internet6: netip.MustParsePrefix("2001:db8:aa00::/40"), HostAddrs: []netip.Prefix{}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	for i, want := range []string{"2001:db8:aa00:1::/64", "2001:db8:aa00:2::/64"} {
		r, err := n.Internet().AddRouter(RouterConfig{Name: fmt.Sprint("lan", i), IPv6: true})
		if err != nil {
			t.Fatal(err)
		}
		if r.LAN6().String() != want {
			t.Errorf("LAN %d got %s, want %s", i, r.LAN6(), want)
		}
	}
	if _, err := New(Config{Internet6: netip.MustParsePrefix("2001:db8:1:2::/64")}); err == nil {
		t.Error("a /64 internet IPv6 space was accepted")
	}
}
