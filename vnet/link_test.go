package vnet

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// pair is two public hosts with a socket each.
func pair(t *testing.T) (n *Network, a, b *Host, ca, cb *UDPConn) {
	n = newTestNetwork(t)
	a, b = mustHost(t, n.Internet(), "a"), mustHost(t, n.Internet(), "b")
	return n, a, b, listenOn(t, a, 1000), listenOn(t, b, 2000)
}

func TestLinkLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, b, ca, cb := pair(t)
		if err := a.Link().Impair(Impairment{Latency: 30 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		if err := b.Link().ImpairDirection(Down, Impairment{Latency: 20 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		send(t, ca, "x", addrOf(cb))
		if _, _, ok := recvFrom(t, cb, time.Second); !ok {
			t.Fatal("nothing arrived")
		}
		// On the bubble's clock: a's uplink 30 ms plus b's downlink 20 ms.
		if got := time.Since(start); got != 50*time.Millisecond {
			t.Errorf("one-way delay %v, want 50ms", got)
		}
	})
}

func TestLinkKeepsOrderWithoutJitterAndReordersWithIt(t *testing.T) {
	for _, jitter := range []time.Duration{0, 20 * time.Millisecond} {
		synctest.Test(t, func(t *testing.T) {
			_, a, _, ca, cb := pair(t)
			_ = a.Link().Impair(Impairment{Latency: 10 * time.Millisecond, Jitter: jitter})
			for i := 0; i < 100; i++ {
				send(t, ca, fmt.Sprint(i), addrOf(cb))
				time.Sleep(time.Millisecond)
			}
			inversions := 0
			last := -1
			for i := 0; i < 100; i++ {
				msg, _, ok := recvFrom(t, cb, time.Second)
				if !ok {
					t.Fatalf("jitter %v: only %d of 100 arrived", jitter, i)
				}
				var v int
				fmt.Sscan(msg, &v)
				if v < last {
					inversions++
				}
				last = v
			}
			if jitter == 0 && inversions > 0 {
				t.Errorf("no jitter: %d reorderings, want none", inversions)
			}
			if jitter > 0 && inversions == 0 {
				t.Errorf("jitter %v: no reordering over 100 packets 1 ms apart", jitter)
			}
		})
	}
}

func TestLinkLoss(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, _, ca, cb := pair(t)
		_ = a.Link().Impair(Impairment{Loss: 0.3})
		for i := 0; i < 1000; i++ {
			send(t, ca, "x", addrOf(cb))
		}
		got := 0
		for {
			if _, _, ok := recvFrom(t, cb, 10*time.Millisecond); !ok {
				break
			}
			got++
		}
		if got < 600 || got > 800 {
			t.Errorf("%d of 1000 arrived at 30%% loss", got)
		}
	})
}

func TestLinkBandwidthCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, _, ca, cb := pair(t)
		// 1 Mbit/s with a 10 kB queue: a burst of 20 x 1000 bytes cannot
		// all fit (the queue counts the packet being serialised); those that fit
		// arrive spaced by serialisation, 8 ms each.
		_ = a.Link().ImpairDirection(Up, Impairment{Bandwidth: 1_000_000, QueueBytes: 10_000})
		payload := strings.Repeat("x", 1000-28)
		start := time.Now()
		for i := 0; i < 20; i++ {
			send(t, ca, payload, addrOf(cb))
		}
		got := 0
		var last time.Duration
		for {
			if _, _, ok := recvFrom(t, cb, time.Second); !ok {
				break
			}
			got++
			last = time.Since(start)
		}
		if got != 10 {
			t.Errorf("%d of a 20-packet burst passed a 10 kB queue, want 10", got)
		}
		if want := time.Duration(got) * 8 * time.Millisecond; last != want {
			t.Errorf("last packet after %v, want %v at 1 Mbit/s", last, want)
		}
	})
}

func TestLinkCutAndRestore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, a, _, ca, cb := pair(t)
		_ = a.Link().Impair(Impairment{Latency: 50 * time.Millisecond})
		drops := record(t, n, func(e Event) bool { return e.Verdict == Dropped })
		send(t, ca, "in flight", addrOf(cb))
		time.Sleep(10 * time.Millisecond)
		a.Link().Cut()
		send(t, ca, "while cut", addrOf(cb))
		if msg, _, ok := recvFrom(t, cb, time.Second); ok {
			t.Fatalf("%q arrived across a cut link", msg)
		}
		a.Link().Restore()
		send(t, ca, "restored", addrOf(cb))
		if msg, _, ok := recvFrom(t, cb, time.Second); !ok || msg != "restored" {
			t.Fatalf("after restore got %q, %v", msg, ok)
		}
		var reasons []string
		for _, e := range drops.list() {
			reasons = append(reasons, e.Reason)
		}
		if len(reasons) != 2 || reasons[0] != "link cut" || reasons[1] != "link cut" {
			t.Errorf("drop reasons %q, want two link cuts (in flight and while cut)", reasons)
		}
	})
}

func TestCaptureSeesEveryHop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		home := mustRouter(t, n.Internet(), "home", PortRestricted())
		alice := mustHost(t, home, "alice")
		ca := listen(t, alice, 5000)
		sfu := mustHost(t, n.Internet(), "sfu")
		cs := listenOn(t, sfu, 3478)
		all := record(t, n, func(Event) bool { return true })
		send(t, ca, string(stunPayload), addrOf(cs))
		if _, _, ok := recvFrom(t, cs, time.Second); !ok {
			t.Fatal("not delivered")
		}
		var got []string
		for _, e := range all.list() {
			got = append(got, e.Where+" "+e.Verdict.String())
		}
		want := []string{"alice-eth0 forwarded", "home translated", "home-wan forwarded", "sfu-eth0 forwarded", "sfu delivered"}
		if strings.Join(got, ", ") != strings.Join(want, ", ") {
			t.Errorf("events %q, want %q", got, want)
		}
	})
}

func TestDNS(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		h := mustHost(t, n.Internet(), "h")
		turnIP := netip.MustParseAddr("203.0.113.50")
		if err := n.AddName("turn.example.com", turnIP); err != nil {
			t.Fatal(err)
		}
		a, err := h.ResolveUDPAddr("udp4", "TURN.example.com.:3478")
		if err != nil || a.AddrPort() != netip.AddrPortFrom(turnIP, 3478) {
			t.Fatalf("resolved %v, %v", a, err)
		}
		if _, err := h.ResolveTCPAddr("tcp4", "missing.example.com:443"); err == nil || !strings.Contains(err.Error(), "no such host") {
			t.Fatalf("missing name: %v, want no such host", err)
		}
		if _, err := h.ResolveUDPAddr("udp6", "turn.example.com:3478"); err == nil {
			t.Fatal("udp6 resolved to an IPv4 address")
		}
	})
}

func TestTopologyErrors(t *testing.T) {
	n := newTestNetwork(t)
	for _, tc := range []struct {
		name string
		fn   func() error
		want string
	}{
		{"duplicate name", func() error {
			mustHost(t, n.Internet(), "dup")
			_, err := n.Internet().AddHost(HostConfig{Name: "dup"})
			return err
		}, `"dup" is already used`},
		{"address outside LAN", func() error {
			_, err := n.Internet().AddHost(HostConfig{Name: "x", Addr: netip.MustParseAddr("10.9.9.9")})
			return err
		}, "outside internet's LAN"},
		{"loopback LAN", func() error {
			_, err := n.Internet().AddRouter(RouterConfig{Name: "lo", LAN: netip.MustParsePrefix("127.1.0.0/16"), NAT: FullCone()})
			return err
		}, "overlaps this machine's address space"},
		{"overlapping LANs", func() error {
			mustRouter(t, n.Internet(), "lan-a", FullCone())
			_, err := n.Internet().AddRouter(RouterConfig{Name: "lan-b", LAN: netip.MustParsePrefix("10.1.0.0/16"), NAT: FullCone()})
			return err
		}, "overlaps"},
		{"bad impairment", func() error {
			_, err := n.Internet().AddHost(HostConfig{Name: "lossy", Link: Impairment{Loss: 2}})
			return err
		}, "loss 2 is not between 0 and 1"},
	} {
		if err := tc.fn(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}
