package relay

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/icelab/icelab/vnet"
	"github.com/pion/turn/v5"
)

// BenchmarkRelayVnet measures client-to-peer datagrams (1200 bytes,
// ChannelData) relayed per second on icelab's virtual network, through
// one allocation and through 50 concurrent ones: the relay on an internet
// host, each client on its own host behind a port-restricted NAT, the
// peers on another internet host. The loopback figures are
// BenchmarkRelayOneAllocation and BenchmarkRelay50Allocations.
func BenchmarkRelayVnet(b *testing.B) {
	for _, flows := range []int{1, 50} {
		b.Run(fmt.Sprintf("allocations=%d", flows), func(b *testing.B) {
			n, err := vnet.New(vnet.Config{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = n.Close() })
			relayHost, err := n.Internet().AddHost(vnet.HostConfig{Name: "relay"})
			if err != nil {
				b.Fatal(err)
			}
			peerHost, err := n.Internet().AddHost(vnet.HostConfig{Name: "peers"})
			if err != nil {
				b.Fatal(err)
			}
			cfg := testConfig()
			cfg.TURN.UserQuota = 0
			cfg.TURN.UDPPort = 3478
			cfg.TURN.AllowedPeers = []netip.Prefix{n.Internet().LAN()}
			s, err := New(cfg, WithBindIP(relayHost.Addr()), WithLoggerFactory(quietLogs()))
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Start(context.Background(), relayHost); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			server := netip.AddrPortFrom(relayHost.Addr(), 3478).String()
			fs := make([]*benchFlow, flows)
			for i := range fs {
				lan, err := n.Internet().AddRouter(vnet.RouterConfig{Name: fmt.Sprintf("home%d", i), NAT: vnet.PortRestricted()})
				if err != nil {
					b.Fatal(err)
				}
				h, err := lan.AddHost(vnet.HostConfig{Name: fmt.Sprintf("client%d", i)})
				if err != nil {
					b.Fatal(err)
				}
				conn, err := h.ListenPacket("udp4", "0.0.0.0:0")
				if err != nil {
					b.Fatal(err)
				}
				c, err := turn.NewClient(&turn.ClientConfig{TURNServerAddr: server, STUNServerAddr: server,
					Username: testUser, Password: testPass, Conn: conn, Net: h, LoggerFactory: quietLogs()})
				if err != nil {
					b.Fatal(err)
				}
				if err := c.Listen(); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { c.Close(); _ = conn.Close() })
				peer, err := peerHost.ListenPacket("udp4", netip.AddrPortFrom(peerHost.Addr(), uint16(7000+i)).String())
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = peer.Close() })
				f := &benchFlow{alloc: allocate(b, c), peer: peer}
				roundTrip(b, f.alloc, f.peer, "warm-up", "warm-up")
				fs[i] = f
			}
			window := 64
			if flows > 1 {
				window = 4
			}
			runFlows(b, fs, window)
		})
	}
}
