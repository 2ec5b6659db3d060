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
		srv := mustHost(t, n.Internet(), "server")
		home := mustRouter(t, n.Internet(), "home", PortRestricted())
		cli := mustHost(t, home, "client")
		conformance.Check[transport.UDPConn, transport.TCPConn, transport.TCPListener, *transport.Interface](
			t, transport.Net(srv), transport.Net(cli), net.IP(srv.Addr().AsSlice()), net.IP(home.WAN().AsSlice()),
			func(i *transport.Interface) (net.Interface, []net.Addr) {
				addrs, _ := i.Addrs()
				return i.Interface, addrs
			})
	})
}
