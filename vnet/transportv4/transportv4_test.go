package transportv4_test

import (
	"net"
	"testing"
	"testing/synctest"

	"github.com/icelab/icelab/vnet"
	"github.com/icelab/icelab/vnet/internal/conformance"
	"github.com/icelab/icelab/vnet/transportv4"
	"github.com/pion/transport/v4"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestConformance runs the transport checks through the adapter: a server
// on the internet and a client behind a port-restricted NAT, so the
// adapter's sockets go through the same translation as the host's own.
func TestConformance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, err := vnet.New(vnet.Config{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		srv, err := n.Internet().AddHost(vnet.HostConfig{Name: "server", IPv6: true})
		if err != nil {
			t.Fatal(err)
		}
		home, err := n.Internet().AddRouter(vnet.RouterConfig{Name: "home", NAT: vnet.PortRestricted(), IPv6: true})
		if err != nil {
			t.Fatal(err)
		}
		cli, err := home.AddHost(vnet.HostConfig{Name: "client"})
		if err != nil {
			t.Fatal(err)
		}
		conformance.Check[transport.UDPConn, transport.TCPConn, transport.TCPListener, *transport.Interface](
			t, transportv4.Net(srv), transportv4.Net(cli), net.IP(srv.Addr().AsSlice()), net.IP(home.WAN().AsSlice()), iface)
		conformance.CheckIPv6[transport.UDPConn, transport.TCPConn, transport.TCPListener, *transport.Interface](
			t, transportv4.Net(srv), transportv4.Net(cli), net.IP(srv.Addr6().AsSlice()), net.IP(cli.Addr6().AsSlice()), iface)
	})
}

func iface(i *transport.Interface) (net.Interface, []net.Addr) {
	addrs, _ := i.Addrs()
	return i.Interface, addrs
}
