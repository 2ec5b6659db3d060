package vnet

import (
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// natBench is a host behind a router with a NAT, and two public hosts with
// two listening ports each, to probe the NAT from outside.
type natBench struct {
	n       *Network
	router  *Router
	inside  *UDPConn
	r1, r2  *Host
	remotes map[string]*UDPConn // "r1:p1" and so on
}

const probePort1, probePort2 = 4001, 4002

func newNATBench(t *testing.T, nat NAT) *natBench {
	t.Helper()
	n := newTestNetwork(t)
	b := &natBench{n: n, router: mustRouter(t, n.Internet(), "lan", nat), remotes: map[string]*UDPConn{}}
	b.inside = listen(t, mustHost(t, b.router, "inside"), 40000)
	b.r1, b.r2 = mustHost(t, n.Internet(), "r1"), mustHost(t, n.Internet(), "r2")
	for name, h := range map[string]*Host{"r1": b.r1, "r2": b.r2} {
		b.remotes[name+":p1"] = listenOn(t, h, probePort1)
		b.remotes[name+":p2"] = listenOn(t, h, probePort2)
	}
	return b
}

func (b *natBench) addr(remote string) netip.AddrPort {
	return addrOf(b.remotes[remote])
}

// mappedBy sends from inside to remote and returns the source the remote
// saw: the NAT's mapping for that destination.
func (b *natBench) mappedBy(t *testing.T, remote string) netip.AddrPort {
	t.Helper()
	send(t, b.inside, "probe", b.addr(remote))
	_, from, ok := recvFrom(t, b.remotes[remote], time.Second)
	if !ok {
		t.Fatalf("probe to %s did not arrive", remote)
	}
	return from
}

// reaches reports whether a datagram from remote to the mapping arrives
// inside.
func (b *natBench) reaches(t *testing.T, remote string, mapping netip.AddrPort) bool {
	t.Helper()
	send(t, b.remotes[remote], "back", mapping)
	_, _, ok := recvFrom(t, b.inside, time.Second)
	return ok
}

func TestNATBehaviour(t *testing.T) {
	tests := []struct {
		name string
		nat  NAT
		// mapping reuse: is the mapping towards r1:p2 and r2:p1 the same
		// as towards r1:p1?
		sameForOtherPort, sameForOtherAddr bool
		// filtering, after sending only to r1:p1: does a datagram to the
		// mapping arrive from r1:p2, from r2:p1?
		fromOtherPort, fromOtherAddr bool
	}{
		{"full cone", FullCone(), true, true, true, true},
		{"address restricted", AddressRestricted(), true, true, true, false},
		{"port restricted", PortRestricted(), true, true, false, false},
		{"symmetric", Symmetric(), false, false, false, false},
		{"carrier grade", CarrierGrade(), true, true, false, false},
		{"linux masquerade", LinuxMasquerade(), true, true, false, false},
		{"linux masquerade, WAN input dropped", linuxMasqueradeInputDrop(), true, true, false, false},
		{"address-dependent mapping", NAT{Mode: NAPT, Mapping: AddressDependent, Filtering: AddressDependent}, true, false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/mapping", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newNATBench(t, tt.nat)
				m := b.mappedBy(t, "r1:p1")
				if m.Addr() != b.router.WAN() {
					t.Errorf("mapping %v is not on the router's external address %v", m, b.router.WAN())
				}
				if got := b.mappedBy(t, "r1:p2") == m; got != tt.sameForOtherPort {
					t.Errorf("same mapping towards another port of the same address: %v, want %v", got, tt.sameForOtherPort)
				}
				if got := b.mappedBy(t, "r2:p1") == m; got != tt.sameForOtherAddr {
					t.Errorf("same mapping towards another address: %v, want %v", got, tt.sameForOtherAddr)
				}
			})
		})
		t.Run(tt.name+"/filtering", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newNATBench(t, tt.nat)
				m := b.mappedBy(t, "r1:p1")
				if !b.reaches(t, "r1:p1", m) {
					t.Fatal("the reply from the endpoint sent to did not arrive")
				}
				if got := b.reaches(t, "r1:p2", m); got != tt.fromOtherPort {
					t.Errorf("arrives from another port of the same address: %v, want %v", got, tt.fromOtherPort)
				}
				if got := b.reaches(t, "r2:p1", m); got != tt.fromOtherAddr {
					t.Errorf("arrives from another address: %v, want %v", got, tt.fromOtherAddr)
				}
			})
		})
	}
}

func TestNATUnsolicitedInboundDropped(t *testing.T) {
	for _, nat := range []NAT{FullCone(), PortRestricted(), Symmetric()} {
		synctest.Test(t, func(t *testing.T) {
			b := newNATBench(t, nat)
			if b.reaches(t, "r1:p1", netip.AddrPortFrom(b.router.WAN(), 40000)) {
				t.Errorf("%+v: unsolicited datagram reached the inside host", nat)
			}
		})
	}
}

func TestNATPortPreservation(t *testing.T) {
	for _, tt := range []struct {
		preserve bool
	}{{true}, {false}} {
		synctest.Test(t, func(t *testing.T) {
			nat := FullCone()
			nat.PortPreservation = tt.preserve
			b := newNATBench(t, nat)
			m := b.mappedBy(t, "r1:p1")
			if got := m.Port() == 40000; got != tt.preserve {
				t.Errorf("port preservation %v: external port %d", tt.preserve, m.Port())
			}
		})
	}
}

func TestNATMappingExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nat := PortRestricted()
		nat.MappingLifetime = 30 * time.Second
		b := newNATBench(t, nat)
		m := b.mappedBy(t, "r1:p1")

		// Outbound traffic refreshes the mapping: 20 s, refresh, 20 s.
		time.Sleep(20 * time.Second)
		if b.mappedBy(t, "r1:p1") != m {
			t.Fatal("mapping changed before it expired")
		}
		time.Sleep(20 * time.Second)
		if !b.reaches(t, "r1:p1", m) {
			t.Fatal("mapping expired although outbound traffic refreshed it")
		}

		// Inbound traffic does not refresh it (InboundRefresh is off).
		time.Sleep(31 * time.Second)
		if b.reaches(t, "r1:p1", m) {
			t.Fatal("datagram arrived through an expired mapping")
		}
		if got := b.router.Mappings(); got != 0 {
			t.Errorf("%d mappings live after expiry, want 0", got)
		}
	})
}

func TestNATPortsAreReused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nat := Symmetric()
		nat.PortMin, nat.PortMax = 50000, 50003 // four external ports
		nat.MappingLifetime = 10 * time.Second
		n := newTestNetwork(t)
		r := mustRouter(t, n.Internet(), "lan", nat)
		inside := listen(t, mustHost(t, r, "inside"), 0)
		remote := mustHost(t, n.Internet(), "remote")
		sink := listen(t, remote, 7000)
		seen := map[netip.AddrPort]bool{}
		// Far more flows over time than there are ports: each round's
		// mappings expire and free their ports for the next.
		for round := 0; round < 50; round++ {
			for i := 0; i < 4; i++ {
				send(t, inside, "x", netip.AddrPortFrom(remote.Addr(), uint16(7000+i)))
			}
			send(t, inside, "x", netip.AddrPortFrom(remote.Addr(), 7000))
			if _, from, ok := recvFrom(t, sink, time.Second); !ok {
				t.Fatalf("round %d: no free port", round)
			} else {
				seen[from] = true
			}
			time.Sleep(11 * time.Second)
		}
		if len(seen) > 4 {
			t.Errorf("%d distinct external endpoints, want at most 4", len(seen))
		}
	})
}

func TestNATHairpinning(t *testing.T) {
	for _, hairpin := range []bool{true, false} {
		synctest.Test(t, func(t *testing.T) {
			nat := FullCone()
			nat.Hairpinning = hairpin
			b := newNATBench(t, nat)
			m := b.mappedBy(t, "r1:p1")
			other := listen(t, mustHost(t, b.router, "neighbour"), 0)
			send(t, other, "hairpin", m)
			_, from, ok := recvFrom(t, b.inside, time.Second)
			if ok != hairpin {
				t.Fatalf("hairpinning %v: datagram arrived %v", hairpin, ok)
			}
			if ok && from.Addr() != b.router.WAN() {
				t.Errorf("hairpinned datagram came from %v, want the router's external address (RFC 4787 REQ-9)", from)
			}
		})
	}
}

func TestNATOneToOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		cloud := mustRouter(t, n.Internet(), "cloud", CloudOneToOne())
		vm := mustHost(t, cloud, "vm")
		vm2 := mustHost(t, cloud, "vm2")
		in := listen(t, vm, 7881)
		remote := listenOn(t, mustHost(t, n.Internet(), "remote"), 5000)
		ext := vm.ExternalAddr()
		if ext == vm.Addr() || ext == vm2.ExternalAddr() || !n.Internet().LAN().Contains(ext) {
			t.Fatalf("1:1 external address %v (private %v, neighbour %v)", ext, vm.Addr(), vm2.ExternalAddr())
		}
		// Unsolicited inbound reaches the VM, on the same port.
		send(t, remote, "hi", netip.AddrPortFrom(ext, 7881))
		if _, _, ok := recvFrom(t, in, time.Second); !ok {
			t.Fatal("inbound datagram to the 1:1 address did not arrive")
		}
		// Outbound leaves from the external address with the port kept.
		send(t, in, "hi", addrOf(remote))
		_, from, ok := recvFrom(t, remote, time.Second)
		if !ok || from != netip.AddrPortFrom(ext, 7881) {
			t.Fatalf("outbound came from %v (ok=%v), want %v", from, ok, netip.AddrPortFrom(ext, 7881))
		}
	})
}

func TestDoubleNAT(t *testing.T) {
	tests := []struct {
		name             string
		outer, inner     NAT
		sameForOtherAddr bool
	}{
		{"cone behind cone", FullCone(), PortRestricted(), true},
		{"cone behind symmetric", Symmetric(), FullCone(), false},
	}
	for _, tt := range tests {
		synctest.Test(t, func(t *testing.T) {
			n := newTestNetwork(t)
			inner, err := n.Internet().AddDoubleNAT("home", tt.outer, tt.inner)
			if err != nil {
				t.Fatal(err)
			}
			in := listen(t, mustHost(t, inner, "inside"), 0)
			r1 := listenOn(t, mustHost(t, n.Internet(), "r1"), 4001)
			r2 := listenOn(t, mustHost(t, n.Internet(), "r2"), 4001)
			var seen []netip.AddrPort
			for _, r := range []*UDPConn{r1, r2} {
				send(t, in, "x", addrOf(r))
				_, from, ok := recvFrom(t, r, time.Second)
				if !ok {
					t.Fatalf("%s: datagram did not cross both NATs", tt.name)
				}
				seen = append(seen, from)
			}
			if seen[0].Addr() != inner.Parent().WAN() {
				t.Errorf("%s: seen from %v, want the outer router's address %v", tt.name, seen[0], inner.Parent().WAN())
			}
			if got := seen[0] == seen[1]; got != tt.sameForOtherAddr {
				t.Errorf("%s: same mapping for two remotes: %v, want %v", tt.name, got, tt.sameForOtherAddr)
			}
			// A reply crosses back through both.
			send(t, r1, "back", seen[0])
			if _, _, ok := recvFrom(t, in, time.Second); !ok {
				t.Errorf("%s: reply did not cross both NATs", tt.name)
			}
		})
	}
}

func TestNATPortForward(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		nat := Symmetric()
		lanHost := netip.MustParseAddr("10.1.0.2")
		nat.Forwards = []Forward{{Proto: UDP, ExternalPort: 3478, Internal: netip.AddrPortFrom(lanHost, 3478)}}
		r := mustRouter(t, n.Internet(), "lan", nat)
		h, err := r.AddHost(HostConfig{Name: "server", Addr: lanHost})
		if err != nil {
			t.Fatal(err)
		}
		in := listen(t, h, 3478)
		remote := listenOn(t, mustHost(t, n.Internet(), "remote"), 0)
		send(t, remote, "hi", netip.AddrPortFrom(r.WAN(), 3478))
		if _, _, ok := recvFrom(t, in, time.Second); !ok {
			t.Fatal("forwarded port did not reach the LAN host")
		}
		send(t, in, "reply", addrOf(remote))
		if _, from, ok := recvFrom(t, remote, time.Second); !ok || from != netip.AddrPortFrom(r.WAN(), 3478) {
			t.Fatalf("reply from %v (ok=%v), want from the forwarded port", from, ok)
		}
	})
}

// TestHairpinPassesTheFirewall: a cloud VM reaching its own public address
// passes its security group on the way back in.
func TestHairpinPassesTheFirewall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		cloud := mustRouter(t, n.Internet(), "cloud", CloudOneToOne())
		vm := mustHost(t, cloud, "vm")
		relay := listen(t, vm, 30000)
		sfu := listen(t, vm, 50000)
		to := netip.AddrPortFrom(vm.ExternalAddr(), 30000)
		send(t, sfu, "via public address", to)
		if _, _, ok := recvFrom(t, relay, time.Second); !ok {
			t.Fatal("hairpin through a 1:1 NAT with an open firewall failed")
		}
		if _, err := cloud.Firewall().Add(Rule{Name: "no-relay-range", Direction: Inbound, Proto: UDP, LocalPorts: PortRange{30000, 40000}, Action: Drop}); err != nil {
			t.Fatal(err)
		}
		send(t, sfu, "via public address", to)
		if _, _, ok := recvFrom(t, relay, time.Second); ok {
			t.Fatal("hairpinned datagram passed an inbound rule that drops it")
		}
	})
}

// TestCarrierGradeNAT puts two subscribers' home routers on a carrier's
// RFC 6598 shared address space behind its CGN: each subscriber's mappings
// come from a block of its own, a subscriber that exhausts its block gets
// no more ports while the other still does, and the CGN does not hairpin
// between them.
func TestCarrierGradeNAT(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		cgn := CarrierGrade()
		cgn.PortBlock = 4
		carrier, err := n.Internet().AddRouter(RouterConfig{Name: "carrier", LAN: netip.MustParsePrefix("100.64.0.0/24"), NAT: cgn})
		if err != nil {
			t.Fatal(err)
		}
		homeA := mustRouter(t, carrier, "home-a", PortRestricted())
		homeB := mustRouter(t, carrier, "home-b", PortRestricted())
		if !netip.MustParsePrefix("100.64.0.0/10").Contains(homeA.WAN()) {
			t.Fatalf("home router's WAN %v is not in the shared address space", homeA.WAN())
		}
		drops := record(t, n, func(e Event) bool { return e.Verdict == Dropped })
		r := listenOn(t, mustHost(t, n.Internet(), "r"), 4001)
		a, b := mustHost(t, homeA, "a"), mustHost(t, homeB, "b")
		mapped := func(h *Host) (netip.AddrPort, bool) {
			t.Helper()
			send(t, listen(t, h, 0), "x", addrOf(r))
			_, from, ok := recvFrom(t, r, time.Second)
			return from, ok
		}
		var portsA []uint16
		for range 4 {
			m, ok := mapped(a)
			if !ok {
				t.Fatal("a mapping within the block did not cross the CGN")
			}
			portsA = append(portsA, m.Port())
		}
		mb, ok := mapped(b)
		if !ok {
			t.Fatal("the other subscriber's first mapping did not cross the CGN")
		}
		// Blocks are consecutive runs of four ports from 1024.
		block := func(p uint16) uint16 { return (p - 1024) / 4 }
		for _, p := range portsA {
			if block(p) != block(portsA[0]) {
				t.Errorf("subscriber a's ports %v span more than one block", portsA)
			}
		}
		if block(mb.Port()) == block(portsA[0]) {
			t.Errorf("subscriber b's port %d is in subscriber a's block (ports %v)", mb.Port(), portsA)
		}
		if _, ok := mapped(a); ok {
			t.Error("a fifth mapping crossed a CGN whose blocks hold four ports")
		}
		exhausted := false
		for _, e := range drops.list() {
			exhausted = exhausted || strings.Contains(e.Reason, "port block") && strings.Contains(e.Reason, "exhausted")
		}
		if !exhausted {
			t.Errorf("no drop names the exhausted port block: %v", drops.list())
		}
		if _, ok := mapped(b); !ok {
			t.Error("subscriber b lost its ports when subscriber a exhausted its block")
		}
		// No hairpinning: a reaches b's public mapping only through the
		// internet, which the CGN does not turn around.
		in := listen(t, b, 5000)
		send(t, in, "open", addrOf(r))
		_, bPublic, ok := recvFrom(t, r, time.Second)
		if !ok {
			t.Fatal("b's datagram did not cross")
		}
		send(t, listen(t, mustHost(t, homeA, "a2"), 0), "hairpin", bPublic)
		if _, _, ok := recvFrom(t, in, time.Second); ok {
			t.Error("the CGN hairpinned between its subscribers")
		}
	})
}

// linuxMasqueradeInputDrop is a Linux router that drops unsolicited WAN
// input, as OpenWrt's wan zone does.
func linuxMasqueradeInputDrop() NAT {
	nat := LinuxMasquerade()
	nat.ConntrackClash = false
	return nat
}

// TestLinuxMasqueradeClash pins conntrack's port reallocation: after an
// unsolicited datagram from r2:p1 to the inside host's mapping, a flow from
// the inside host to r2:p1 cannot take that port (nf_nat_used_tuple) and
// gets another, while flows to everyone else keep it; with WAN input
// dropped no entry is made and the port stays.
func TestLinuxMasqueradeClash(t *testing.T) {
	for _, tt := range []struct {
		name    string
		nat     NAT
		newPort bool
	}{
		{"no input drop: clash, new port", LinuxMasquerade(), true},
		{"WAN input dropped: no clash, same port", linuxMasqueradeInputDrop(), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newNATBench(t, tt.nat)
				m := b.mappedBy(t, "r1:p1")
				if m.Port() != 40000 {
					t.Fatalf("first mapping %v does not preserve port 40000", m)
				}
				if b.reaches(t, "r2:p1", m) {
					t.Fatal("an unsolicited datagram from r2:p1 reached the inside host")
				}
				got := b.mappedBy(t, "r2:p1")
				if got.Addr() != b.router.WAN() {
					t.Fatalf("mapping towards r2:p1 %v is not on the router's address %v", got, b.router.WAN())
				}
				if (got != m) != tt.newPort {
					t.Fatalf("mapping towards r2:p1 is %v after r2:p1 sent to %v; want a new port: %v", got, m, tt.newPort)
				}
				if !b.reaches(t, "r2:p1", got) {
					t.Error("r2:p1's reply to its own mapping did not arrive")
				}
				if again := b.mappedBy(t, "r2:p1"); again != got {
					t.Errorf("mapping towards r2:p1 moved from %v to %v", got, again)
				}
				if other := b.mappedBy(t, "r1:p2"); other != m {
					t.Errorf("mapping towards r1:p2 is %v, want the unclaimed %v", other, m)
				}
			})
		})
	}
}

// TestLinuxMasqueradeNoClashKeepsPort pins the endpoint-independent side:
// without an unsolicited datagram every remote sees the preserved port, and
// a claim 30 s old (nf_conntrack_udp_timeout) has expired.
func TestLinuxMasqueradeNoClashKeepsPort(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newNATBench(t, LinuxMasquerade())
		m := b.mappedBy(t, "r1:p1")
		for _, r := range []string{"r1:p2", "r2:p1", "r2:p2"} {
			if got := b.mappedBy(t, r); got != m {
				t.Errorf("mapping towards %s is %v, want %v", r, got, m)
			}
		}
		// r2 claims a port the inside host has not used towards it yet:
		// a second socket's preserved port.
		second := listen(t, mustHost(t, b.router, "second"), 40001)
		wan := netip.AddrPortFrom(b.router.WAN(), 40001)
		send(t, b.remotes["r2:p1"], "early", wan)
		time.Sleep(claimLifetime)
		send(t, second, "late", b.addr("r2:p1"))
		if _, from, ok := recvFrom(t, b.remotes["r2:p1"], time.Second); !ok || from != wan {
			t.Errorf("after the claim expired the mapping towards r2:p1 is %v (arrived %v), want %v", from, ok, wan)
		}
	})
}

// TestLinuxMasqueradeNoHairpin pins that masquerade does not hairpin.
func TestLinuxMasqueradeNoHairpin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newNATBench(t, LinuxMasquerade())
		m := b.mappedBy(t, "r1:p1")
		other := listen(t, mustHost(t, b.router, "neighbour"), 0)
		send(t, other, "hairpin", m)
		if _, _, ok := recvFrom(t, b.inside, time.Second); ok {
			t.Fatal("a datagram to the router's external address hairpinned")
		}
	})
}
