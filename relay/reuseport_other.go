//go:build !linux

package relay

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/pion/transport/v5"
)

// listenUDPGroup binds one UDP socket on addr: SO_REUSEPORT groups are used
// on Linux only.
func listenUDPGroup(n transport.Net, addr netip.AddrPort, _ int) ([]net.PacketConn, error) {
	c, err := n.ListenPacket("udp4", addr.String())
	if err != nil {
		return nil, err
	}
	if _, ok := c.LocalAddr().(*net.UDPAddr); !ok {
		_ = c.Close()
		return nil, fmt.Errorf("local address %v is not UDP", c.LocalAddr())
	}
	return []net.PacketConn{c}, nil
}

func udpListeners(transport.Net, int) int { return 1 }
