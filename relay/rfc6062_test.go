package relay

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestTCPAllocationRelaysData allocates a TCP relay (RFC 6062) over a TCP
// control connection, connects to a TCP peer and exchanges bytes both ways
// on the data connection, which after ConnectionBind carries raw bytes.
func TestTCPAllocationRelaysData(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	c := dialTURN(t, TCP, addrOf(t, s, TCP), testUser, testPass, nil)
	alloc, err := c.AllocateTCP()
	if err != nil {
		t.Fatalf("AllocateTCP: %v", err)
	}
	t.Cleanup(func() { _ = alloc.Close() })
	peer, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = peer.Close() })
	echoed := make(chan error, 1)
	go func() {
		pc, err := peer.Accept()
		if err != nil {
			echoed <- err
			return
		}
		defer pc.Close()
		_ = pc.SetDeadline(time.Now().Add(bound))
		buf := make([]byte, 5)
		if _, err := io.ReadFull(pc, buf); err != nil {
			echoed <- err
			return
		}
		_, err = pc.Write(append([]byte("echo:"), buf...))
		echoed <- err
	}()
	conn, err := alloc.Dial("tcp4", peer.Addr().String())
	if err != nil {
		t.Fatalf("Dial through the relay: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(bound))
	if _, err := conn.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 10)
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatalf("read the echo: %v (peer: %v)", err, <-echoed)
	}
	if string(got) != "echo:hello" {
		t.Errorf("got %q", got)
	}
	if err := <-echoed; err != nil {
		t.Errorf("peer: %v", err)
	}
}
