package vnet

import (
	"net"
	"testing"
	"testing/synctest"
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
