package relay

import (
	"fmt"
)

// bufferSetter is a socket whose kernel buffers can be sized: *net.UDPConn
// on real sockets. Virtual sockets may not be.
type bufferSetter interface {
	SetReadBuffer(bytes int) error
	SetWriteBuffer(bytes int) error
}

// sizeBuffers sets c's receive and send buffers to size bytes when size > 0
// and c supports it. The kernel caps the size at net.core.rmem_max/wmem_max.
func sizeBuffers(c any, size int) error {
	if size <= 0 {
		return nil
	}
	b, ok := c.(bufferSetter)
	if !ok {
		return nil
	}
	if err := b.SetReadBuffer(size); err != nil {
		return fmt.Errorf("receive buffer %d bytes: %w", size, err)
	}
	if err := b.SetWriteBuffer(size); err != nil {
		return fmt.Errorf("send buffer %d bytes: %w", size, err)
	}
	return nil
}

// SocketBuffers reports the receive and send buffer sizes of a real socket
// in bytes, as turn.listener_socket_buffer and relay_socket_buffer set them
// (after the kernel's cap, net.core.rmem_max and wmem_max). Linux's
// SO_RCVBUF/SO_SNDBUF report twice that, the other half being the kernel's
// bookkeeping (socket(7)); SocketBuffers reports the half. ok is false for
// sockets that have none, such as virtual ones.
func SocketBuffers(c any) (rcv, snd int, ok bool) {
	return socketBuffers(c)
}
