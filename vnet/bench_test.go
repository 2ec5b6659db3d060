package vnet

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	pionvnet "github.com/pion/transport/v5/vnet"
)

// BenchmarkUDPForward measures packets per second, and CPU time per
// packet, of 1200-byte datagrams through one router and across a NAT hop,
// with 1 and 20 flows, on the kernel's loopback, on icelab's vnet and on
// pion's own vnet with the same topology, and on
// icelab's vnet over IPv6 (where the "nat" hop is a dual-stack LAN's
// router: IPv6 crosses it routed, through its RFC 6092 connection
// tracking), side by side in one run:
//
//	go test -run '^$' -bench UDPForward ./vnet/
func BenchmarkUDPForward(b *testing.B) {
	for _, impl := range []struct {
		name  string
		build func(b *testing.B, natHop bool) (sender, receiver transport.Net, dst netip.Addr)
	}{
		{"loopback", buildLoopback}, // the kernel's UDP on 127.0.0.1
		{"pion", buildPion},
		{"icelab", buildIcelab},
		{"icelab-mtu1500", buildIcelabMTU},                          // what an MTU check costs
		{"icelab-tap-all", tapped(AllVerdicts)},                     // a tap that takes every event
		{"icelab-tap-drops", tapped(VerdictsOf(Dropped, Rejected))}, // one that takes drops only
		{"icelab-ipv6", buildIcelabIPv6},
	} {
		for _, hop := range []struct {
			name string
			nat  bool
		}{{"router", false}, {"nat", true}} {
			if impl.name == "loopback" && hop.nat {
				continue
			}
			for _, flows := range []int{1, 20} {
				b.Run(fmt.Sprintf("%s/%s/flows=%d", impl.name, hop.name, flows), func(b *testing.B) {
					sender, receiver, dst := impl.build(b, hop.nat)
					ends := make([]flowEnds, flows)
					for i := range ends {
						ends[i] = flowEnds{sender, receiver, dst}
					}
					runFlows(b, ends, 64)
				})
			}
		}
	}
}

// cpuTime returns the CPU time the process has used, user and system: on
// a path that delays packets, wall time per packet measures how late
// timers fire more than what forwarding costs.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// flowEnds are the two ends of a benchmark flow: the receiver listens on
// dst.
type flowEnds struct {
	sender, receiver transport.Net
	dst              netip.Addr
}

// runFlows sends b.N datagrams split over flows, each flow a sending and a
// receiving socket with at most window datagrams in flight, so no buffer
// anywhere overflows and every datagram is counted.
func runFlows(b *testing.B, ends []flowEnds, window int) {
	const size = 1200
	flows := len(ends)
	type flow struct {
		out, in net.PacketConn
		to      net.Addr
		credit  chan struct{}
		n       int
	}
	fs := make([]*flow, flows)
	for i := range fs {
		sender, receiver, dst := ends[i].sender, ends[i].receiver, ends[i].dst
		network, wildcard := "udp4", "0.0.0.0:0"
		if dst.Is6() {
			network, wildcard = "udp6", "[::]:0"
		}
		in, err := receiver.ListenPacket(network, netip.AddrPortFrom(dst, 0).String())
		if err != nil {
			b.Fatal(err)
		}
		port := in.LocalAddr().(*net.UDPAddr).Port
		out, err := sender.ListenPacket(network, wildcard)
		if err != nil {
			b.Fatal(err)
		}
		fs[i] = &flow{out: out, in: in, to: &net.UDPAddr{IP: dst.AsSlice(), Port: port}, credit: make(chan struct{}, window), n: b.N / flows}
		for j := 0; j < window; j++ {
			fs[i].credit <- struct{}{}
		}
	}
	fs[0].n += b.N % flows
	payload := make([]byte, size)
	payload[0] = 0x80 // RTP
	b.SetBytes(size)
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	var wg sync.WaitGroup
	for _, f := range fs {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < f.n; i++ {
				<-f.credit
				if _, err := f.out.WriteTo(payload, f.to); err != nil {
					b.Error(err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			buf := make([]byte, 1500)
			for i := 0; i < f.n; i++ {
				_ = f.in.SetReadDeadline(time.Now().Add(10 * time.Second))
				if _, _, err := f.in.ReadFrom(buf); err != nil {
					b.Errorf("flow lost a datagram: %v", err)
					return
				}
				f.credit <- struct{}{}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pkt/s")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/pkt")
	b.StopTimer()
	for _, f := range fs {
		_ = f.out.Close()
		_ = f.in.Close()
	}
}

// buildLoopback is the kernel's own UDP over 127.0.0.1: what a real
// socket costs.
func buildLoopback(b *testing.B, _ bool) (transport.Net, transport.Net, netip.Addr) {
	n, err := stdnet.NewNet()
	if err != nil {
		b.Fatal(err)
	}
	return n, n, netip.MustParseAddr("127.0.0.1")
}

func buildIcelab(b *testing.B, natHop bool) (transport.Net, transport.Net, netip.Addr) {
	n, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = n.Close() })
	recv := mustHost(b, n.Internet(), "receiver")
	parent := n.Internet()
	if natHop {
		parent = mustRouter(b, parent, "lan", FullCone())
	}
	return mustHost(b, parent, "sender"), recv, recv.Addr()
}

// tapped is buildIcelab with a tap that wants the given verdicts, as the
// harness taps its networks: what building events costs.
func tapped(want Verdicts) func(b *testing.B, natHop bool) (transport.Net, transport.Net, netip.Addr) {
	return func(b *testing.B, natHop bool) (transport.Net, transport.Net, netip.Addr) {
		sender, recv, dst := buildIcelab(b, natHop)
		var seen atomic.Int64
		b.Cleanup(sender.(*Host).Network().TapVerdicts(want, func(e Event) { seen.Add(int64(e.Size)) }))
		return sender, recv, dst
	}
}

// buildIcelabMTU is buildIcelab with an Ethernet MTU on every link.
func buildIcelabMTU(b *testing.B, natHop bool) (transport.Net, transport.Net, netip.Addr) {
	sender, recv, dst := buildIcelab(b, natHop)
	for _, h := range []*Host{sender.(*Host), recv.(*Host)} {
		if err := h.Link().SetMTU(MTU{Size: 1500}); err != nil {
			b.Fatal(err)
		}
		if up := h.first().router.Uplink(); up != nil {
			if err := up.SetMTU(MTU{Size: 1500}); err != nil {
				b.Fatal(err)
			}
		}
	}
	return sender, recv, dst
}

// buildIcelabIPv6 is buildIcelab over IPv6: no NAT, an RFC 6092 firewall on the hop.
func buildIcelabIPv6(b *testing.B, natHop bool) (transport.Net, transport.Net, netip.Addr) {
	n, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = n.Close() })
	recv, err := n.Internet().AddHost(HostConfig{Name: "receiver", IPv6: true})
	if err != nil {
		b.Fatal(err)
	}
	var sender *Host
	if natHop {
		lan, err := n.Internet().AddRouter(RouterConfig{Name: "lan", NAT: FullCone(), IPv6: true})
		if err != nil {
			b.Fatal(err)
		}
		sender = mustHost(b, lan, "sender")
	} else if sender, err = n.Internet().AddHost(HostConfig{Name: "sender", IPv6: true}); err != nil {
		b.Fatal(err)
	}
	return sender, recv, recv.Addr6()
}

func buildPion(b *testing.B, natHop bool) (transport.Net, transport.Net, netip.Addr) {
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	wan, err := pionvnet.NewRouter(&pionvnet.RouterConfig{CIDR: "1.2.3.0/24", LoggerFactory: lf})
	if err != nil {
		b.Fatal(err)
	}
	recv, err := pionvnet.NewNet(&pionvnet.NetConfig{StaticIPs: []string{"1.2.3.4"}})
	if err != nil {
		b.Fatal(err)
	}
	if err := wan.AddNet(recv); err != nil {
		b.Fatal(err)
	}
	sender, err := pionvnet.NewNet(&pionvnet.NetConfig{StaticIPs: []string{"1.2.3.5"}})
	if err != nil {
		b.Fatal(err)
	}
	if natHop {
		sender, err = pionvnet.NewNet(&pionvnet.NetConfig{StaticIPs: []string{"192.168.0.2"}})
		if err != nil {
			b.Fatal(err)
		}
		lan, err := pionvnet.NewRouter(&pionvnet.RouterConfig{
			CIDR: "192.168.0.0/24", StaticIPs: []string{"1.2.3.100"}, LoggerFactory: lf,
			NATType: &pionvnet.NATType{Mode: pionvnet.NATModeNormal, MappingBehavior: pionvnet.EndpointIndependent, FilteringBehavior: pionvnet.EndpointIndependent},
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := wan.AddRouter(lan); err != nil {
			b.Fatal(err)
		}
		if err := lan.AddNet(sender); err != nil {
			b.Fatal(err)
		}
	} else if err := wan.AddNet(sender); err != nil {
		b.Fatal(err)
	}
	if err := wan.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = wan.Stop() })
	return sender, recv, netip.MustParseAddr("1.2.3.4")
}

// BenchmarkUDPForwardDelayed measures packets per second of 1200-byte
// datagrams on paths that delay them by 1 ms, each flow between its own
// pair of hosts, so every delayed delivery of the network goes through the
// scheduler: on icelab's vnet each host's link has 500 µs of latency; on
// pion's, the router has a MinDelay of 1 ms. Side by side in one run:
//
//	go test -run '^$' -bench UDPForwardDelayed ./vnet/
func BenchmarkUDPForwardDelayed(b *testing.B) {
	for _, impl := range []struct {
		name  string
		build func(b *testing.B, flows int) []flowEnds
	}{
		{"pion", buildPionDelayed},
		{"icelab", buildIcelabDelayed},
	} {
		for _, flows := range []int{1, 20} {
			b.Run(fmt.Sprintf("%s/flows=%d", impl.name, flows), func(b *testing.B) {
				b.ReportAllocs()
				// Enough in flight that 1 ms of delay does not bound
				// the rate below what the CPU can forward.
				runFlows(b, impl.build(b, flows), 1024/flows)
			})
		}
	}
}

func buildIcelabDelayed(b *testing.B, flows int) []flowEnds {
	n, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = n.Close() })
	half := Impairment{Latency: 500 * time.Microsecond}
	ends := make([]flowEnds, flows)
	for i := range ends {
		s, err := n.Internet().AddHost(HostConfig{Name: fmt.Sprintf("s%d", i), Link: half})
		if err != nil {
			b.Fatal(err)
		}
		r, err := n.Internet().AddHost(HostConfig{Name: fmt.Sprintf("r%d", i), Link: half})
		if err != nil {
			b.Fatal(err)
		}
		ends[i] = flowEnds{s, r, r.Addr()}
	}
	return ends
}

func buildPionDelayed(b *testing.B, flows int) []flowEnds {
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	wan, err := pionvnet.NewRouter(&pionvnet.RouterConfig{CIDR: "1.2.0.0/16", MinDelay: time.Millisecond, LoggerFactory: lf})
	if err != nil {
		b.Fatal(err)
	}
	ends := make([]flowEnds, flows)
	for i := range ends {
		s, err := pionvnet.NewNet(&pionvnet.NetConfig{StaticIPs: []string{fmt.Sprintf("1.2.1.%d", i+1)}})
		if err != nil {
			b.Fatal(err)
		}
		r, err := pionvnet.NewNet(&pionvnet.NetConfig{StaticIPs: []string{fmt.Sprintf("1.2.2.%d", i+1)}})
		if err != nil {
			b.Fatal(err)
		}
		for _, nic := range []*pionvnet.Net{s, r} {
			if err := wan.AddNet(nic); err != nil {
				b.Fatal(err)
			}
		}
		ends[i] = flowEnds{s, r, netip.MustParseAddr(fmt.Sprintf("1.2.2.%d", i+1))}
	}
	if err := wan.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = wan.Stop() })
	return ends
}
