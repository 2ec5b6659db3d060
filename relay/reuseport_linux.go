package relay

import (
	"context"
	"net"
	"syscall"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"golang.org/x/sys/unix"
)

// reusePort lets several UDP sockets share the relay's port, so that several
// read loops serve it. The kernel hashes each client's address to one socket,
// so a client's allocation always sees its datagrams on the same socket.
var reusePort = net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); err != nil {
		return err
	}
	return serr
}}

// listenUDP binds addr. On the machine's own network with more than one
// listener it binds with SO_REUSEPORT; elsewhere through n.
func listenUDP(n transport.Net, addr string, listeners int) (net.PacketConn, error) {
	if _, real := n.(*stdnet.Net); real && listeners > 1 {
		return reusePort.ListenPacket(context.Background(), "udp4", addr)
	}
	return n.ListenPacket("udp4", addr)
}

// udpListeners is how many UDP sockets serve udp_port on n.
func udpListeners(n transport.Net, want int) int {
	if _, real := n.(*stdnet.Net); real {
		return max(want, 1)
	}
	return 1
}
