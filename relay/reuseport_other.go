//go:build !linux

package relay

import (
	"net"

	"github.com/pion/transport/v5"
)

func listenUDP(n transport.Net, addr string, _ int) (net.PacketConn, error) {
	return n.ListenPacket("udp4", addr)
}

func udpListeners(transport.Net, int) int { return 1 }
