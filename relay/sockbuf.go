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

// SocketBuffers reports the kernel receive and send buffer sizes of a real
// socket (as SO_RCVBUF/SO_SNDBUF report them, which on Linux is twice what
// was asked); ok is false for sockets that have none, such as virtual ones.
func SocketBuffers(c any) (rcv, snd int, ok bool) {
	return socketBuffers(c)
}
