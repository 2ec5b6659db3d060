package vnet

import (
	"cmp"
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

// A flush's order (by instant, lane and place in the lane) is the order a
// comparison sort of (at, key, seq) gives, whatever the batch.
func TestSerialOrderIsTheComparisonOrder(t *testing.T) {
	var s serial
	r := packetDraws{state: 1}
	for round := range 500 {
		n := 1 + int(r.Float64()*300)
		lanes := 1 + int(r.Float64()*20)
		keys := make([]uint64, lanes)
		for i := range keys {
			keys[i] = uint64(r.Float64() * 1e6)
			if round%3 == 0 {
				keys[i] = uint64(i) // lanes already in key order
			}
		}
		batch := make([]instantEvent, n)
		at := time.Duration(0)
		for i := range batch {
			if r.Float64() < 0.05 {
				at++
			}
			lane := int(r.Float64() * float64(lanes))
			if round%5 == 0 {
				lane = i * lanes / n // each lane's events together
			}
			batch[i] = instantEvent{at: at, key: keys[lane], seq: uint64(i + 1)}
		}
		want := slices.Clone(batch)
		slices.SortFunc(want, func(a, b instantEvent) int {
			if c := cmp.Compare(a.at, b.at); c != 0 {
				return c
			}
			if c := cmp.Compare(a.key, b.key); c != 0 {
				return c
			}
			return cmp.Compare(a.seq, b.seq)
		})
		s.order(batch)
		if !slices.Equal(batch, want) {
			t.Fatalf("round %d: order %v, want %v", round, batch, want)
		}
	}
}
