package vnet

import (
	"net"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"
)

// TestEventsNumberPackets checks that every event about one datagram, on
// each side of a NAT, carries the same packet number, that a reply is
// another packet, and that TCP events carry the segment's numbers.
func TestEventsNumberPackets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		srv := mustHost(t, n.Internet(), "server")
		home := mustRouter(t, n.Internet(), "home", PortRestricted())
		cli := mustHost(t, home, "client")
		rec := record(t, n, func(Event) bool { return true })
		s := listen(t, srv, 3478)
		c := listen(t, cli, 0)
		if _, err := c.WriteTo([]byte("ping"), &net.UDPAddr{IP: srv.Addr().AsSlice(), Port: 3478}); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 16)
		_, from, err := s.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.WriteTo([]byte("pong"), from); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.ReadFrom(buf); err != nil {
			t.Fatal(err)
		}
		evs := rec.list()
		packets := map[uint64][]Event{}
		for _, e := range evs {
			if e.Packet == 0 {
				t.Fatalf("event without a packet number: %v", e)
			}
			packets[e.Packet] = append(packets[e.Packet], e)
		}
		if len(packets) != 2 {
			t.Fatalf("events name %d packets, want 2 (the ping and the pong):\n%v", len(packets), evs)
		}
		for num, es := range packets {
			var translated, delivered bool
			for _, e := range es {
				translated = translated || e.Verdict == Translated
				delivered = delivered || e.Verdict == Delivered
			}
			if !translated || !delivered {
				t.Errorf("packet %d: translated %t, delivered %t; want both on one number", num, translated, delivered)
			}
		}
	})
}

// TestTapVerdicts checks that a tap asking for drops only sees drops, and
// that a tap for everything beside it still sees every hop.
func TestTapVerdicts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		a, b := mustHost(t, n.Internet(), "a"), mustHost(t, n.Internet(), "b")
		ca, cb := listenOn(t, a, 1), listenOn(t, b, 2)
		var drops []Event
		remove := n.TapVerdicts(VerdictsOf(Dropped, Rejected), func(e Event) { drops = append(drops, e) })
		send(t, ca, "delivered", addrOf(cb))
		send(t, ca, "refused", netip.AddrPortFrom(b.Addr(), 9))
		if _, _, ok := recvFrom(t, cb, time.Second); !ok {
			t.Fatal("nothing arrived")
		}
		if len(drops) != 1 || drops[0].Verdict != Rejected || drops[0].Reason != "port unreachable" {
			t.Fatalf("drops-only tap saw %v, want the one rejected datagram", drops)
		}
		all := record(t, n, func(Event) bool { return true })
		send(t, ca, "again", addrOf(cb))
		if _, _, ok := recvFrom(t, cb, time.Second); !ok {
			t.Fatal("nothing arrived")
		}
		if got := len(all.list()); got != 3 {
			t.Errorf("tap for all saw %d events, want 3 (two links, one delivery)", got)
		}
		if len(drops) != 1 {
			t.Errorf("drops-only tap saw %d events beside a tap for all, want still 1", len(drops))
		}
		remove()
		if !VerdictsOf(Dropped).Has(Dropped) || VerdictsOf(Dropped).Has(Forwarded) || !AllVerdicts.Has(Translated) {
			t.Error("verdict sets do not hold what they were made of")
		}
	})
}

// TestUDPAddr checks the one-allocation address against the standard
// library's.
func TestUDPAddr(t *testing.T) {
	for _, s := range []string{"203.0.113.7:3478", "[2001:db8::1]:443", "[::ffff:10.0.0.1]:9", "[fe80::1%eth0]:5000"} {
		ap := netip.MustParseAddrPort(s)
		got, want := udpAddr(ap), net.UDPAddrFromAddrPort(ap)
		if got.String() != want.String() || len(got.IP) != len(want.IP) || !got.IP.Equal(want.IP) {
			t.Errorf("%s: %v (%d-byte IP), want %v (%d-byte IP)", s, got, len(got.IP), want, len(want.IP))
		}
	}
}
