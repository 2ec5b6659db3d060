package vnet

import (
	"net"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// With Config.Serial, packets of the same instant reach a host in the same
// order whichever goroutine sent first: alice and bob send to carol in
// the same instant over links of equal latency, in one order and then the
// other, and carol reads them in one order both times.
func TestSerialOrdersAnInstant(t *testing.T) {
	recv := func(aliceFirst bool) []string {
		var got []string
		synctest.Test(t, func(t *testing.T) {
			n, err := New(Config{Seed: 7, Serial: true})
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			link := Impairment{Latency: time.Millisecond}
			var hosts []*Host
			for _, name := range []string{"alice", "bob", "carol"} {
				h, err := n.Internet().AddHost(HostConfig{Name: name, Link: link})
				if err != nil {
					t.Fatal(err)
				}
				hosts = append(hosts, h)
			}
			carol := listen(t, hosts[2], 5000)
			dst := &net.UDPAddr{IP: hosts[2].Addr().AsSlice(), Port: 5000}
			senders := []net.PacketConn{listen(t, hosts[0], 0), listen(t, hosts[1], 0)}
			if !aliceFirst {
				slices.Reverse(senders)
			}
			for round := range 3 {
				for _, c := range senders {
					if _, err := c.WriteTo([]byte{byte(round)}, dst); err != nil {
						t.Fatal(err)
					}
				}
				time.Sleep(time.Millisecond) // the next round sends as this one arrives
			}
			buf := make([]byte, 16)
			for range 6 {
				_, from, err := carol.ReadFrom(buf)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, from.String())
			}
		})
		return got
	}
	a, b := recv(true), recv(false)
	if !slices.Equal(a, b) {
		t.Errorf("carol read %v with alice sending first, %v with bob first", a, b)
	}
}
