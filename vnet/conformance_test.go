package vnet

import (
	"net"
	"testing"
	"testing/synctest"

	"github.com/icelab/icelab/vnet/internal/conformance"
	"github.com/pion/transport/v5"
)

// TestHostConformance runs the transport checks that the transport/v3 and
// v4 adapters also pass on the host itself, a transport/v5 Net.
func TestHostConformance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		srv, err := n.Internet().AddHost(HostConfig{Name: "server", IPv6: true})
		if err != nil {
			t.Fatal(err)
		}
		home, err := n.Internet().AddRouter(RouterConfig{Name: "home", NAT: PortRestricted(), IPv6: true})
		if err != nil {
			t.Fatal(err)
		}
		cli := mustHost(t, home, "client")
		iface := func(i *transport.Interface) (net.Interface, []net.Addr) {
			addrs, _ := i.Addrs()
			return i.Interface, addrs
		}
		conformance.Check[transport.UDPConn, transport.TCPConn, transport.TCPListener, *transport.Interface](
			t, transport.Net(srv), transport.Net(cli), net.IP(srv.Addr().AsSlice()), net.IP(home.WAN().AsSlice()), iface)
		conformance.CheckIPv6[transport.UDPConn, transport.TCPConn, transport.TCPListener, *transport.Interface](
			t, transport.Net(srv), transport.Net(cli), net.IP(srv.Addr6().AsSlice()), net.IP(cli.Addr6().AsSlice()), iface)
	})
}
