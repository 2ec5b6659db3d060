package vnet

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// TestHostMove moves a phone from Wi-Fi to a cellular network mid-flow: a
// wildcard socket carries on from the new address behind the new NAT, a
// socket bound to the old address can no longer send, and a reply to the
// old mapping no longer reaches the phone.
func TestHostMove(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		wifi := mustRouter(t, n.Internet(), "wifi", PortRestricted())
		cell := mustRouter(t, n.Internet(), "cell", CarrierGrade())
		phone := mustHost(t, wifi, "phone")
		server := listenOn(t, mustHost(t, n.Internet(), "server"), 3478)
		old := phone.Addr()

		any := listen(t, phone, 0)
		bound, err := phone.ListenUDP("udp4", &net.UDPAddr{IP: old.AsSlice()})
		if err != nil {
			t.Fatal(err)
		}
		defer bound.Close()

		send(t, any, "before", addrOf(server))
		_, before, ok := recvFrom(t, server, time.Second)
		if !ok || before.Addr() != wifi.WAN() {
			t.Fatalf("before the move the server saw %v (arrived %t), want the Wi-Fi router's %v", before, ok, wifi.WAN())
		}

		now, err := phone.Move(cell, netip.Addr{})
		if err != nil {
			t.Fatal(err)
		}
		if !cell.LAN().Contains(now) || phone.Addr() != now {
			t.Fatalf("after the move the phone is at %v (Addr %v), want an address on %v", now, phone.Addr(), cell.LAN())
		}

		send(t, any, "after", addrOf(server))
		_, after, ok := recvFrom(t, server, time.Second)
		if !ok || after.Addr() != cell.WAN() {
			t.Fatalf("after the move the server saw %v (arrived %t), want the cellular NAT's %v", after, ok, cell.WAN())
		}
		if _, err := bound.WriteTo([]byte("stale"), net.UDPAddrFromAddrPort(addrOf(server))); !errors.Is(err, syscall.EADDRNOTAVAIL) {
			t.Errorf("a socket bound to the old address wrote with error %v, want EADDRNOTAVAIL", err)
		}
		send(t, server, "to the old mapping", before)
		if msg, _, ok := recvFrom(t, any, time.Second); ok {
			t.Errorf("a reply to the Wi-Fi mapping reached the phone after it left: %q", msg)
		}
		send(t, server, "to the new mapping", after)
		if _, _, ok := recvFrom(t, any, time.Second); !ok {
			t.Error("a reply to the cellular mapping did not reach the phone")
		}
	})
}
