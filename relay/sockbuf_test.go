package relay

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// rmemMax reads net.core.rmem_max and wmem_max, the caps on SO_RCVBUF/SO_SNDBUF.
func rmemMax(t *testing.T) (rmem, wmem int) {
	t.Helper()
	read := func(name string) int {
		b, err := os.ReadFile("/proc/sys/net/core/" + name)
		if err != nil {
			t.Skipf("cannot read the kernel's buffer cap: %v", err)
		}
		v, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	return read("rmem_max"), read("wmem_max")
}

// TestSocketBuffersAreSized checks on real loopback sockets that the UDP
// listener and every relay socket get the configured kernel buffers (capped
// at rmem_max/wmem_max; SocketBuffers reports what was asked, not Linux's
// doubled figure), and that 0 keeps the system default.
func TestSocketBuffersAreSized(t *testing.T) {
	t.Parallel()
	rmem, wmem := rmemMax(t)
	cfg := testConfig()
	cfg.TURN.ListenerSocketBuffer = 3 << 20
	cfg.TURN.RelaySocketBuffer = 1 << 20
	s := startServer(t, cfg)
	rcv, snd, ok := s.ListenerBuffers()
	if !ok {
		t.Fatal("no buffer sizes for a real UDP listener")
	}
	if want := min(cfg.TURN.ListenerSocketBuffer, rmem); rcv != want {
		t.Errorf("listener receive buffer %d, want %d", rcv, want)
	}
	if want := min(cfg.TURN.ListenerSocketBuffer, wmem); snd != want {
		t.Errorf("listener send buffer %d, want %d", snd, want)
	}
	alloc := allocate(t, dialTURN(t, UDP, addrOf(t, s, UDP), testUser, testPass, nil))
	roundTrip(t, alloc, newPeer(t), "sized", "buffers")
	s.st.mu.Lock()
	var socks []any
	for _, e := range s.st.relays {
		socks = append(socks, e.sock)
	}
	s.st.mu.Unlock()
	if len(socks) != 1 {
		t.Fatalf("%d relay sockets, want 1", len(socks))
	}
	if rcv, _, ok := SocketBuffers(socks[0]); !ok || rcv != min(cfg.TURN.RelaySocketBuffer, rmem) {
		t.Errorf("relay socket receive buffer %d (%v), want %d", rcv, ok, min(cfg.TURN.RelaySocketBuffer, rmem))
	}

	def := testConfig()
	def.TURN.ListenerSocketBuffer = 0
	d := startServer(t, def)
	if rcv, _, _ := d.ListenerBuffers(); rcv == min(cfg.TURN.ListenerSocketBuffer, rmem) {
		t.Errorf("listener_socket_buffer 0 still sized the buffer to %d", rcv)
	}
}

// TestSeveralUDPListenersShareThePort runs the relay with four UDP sockets on
// one port (SO_REUSEPORT) and checks that many clients each allocate, relay
// both ways and refresh: the kernel must keep each client on one socket, whose
// read loop holds its allocation.
func TestSeveralUDPListenersShareThePort(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.TURN.UserQuota = 0
	s := startServer(t, cfg, WithUDPListeners(4))
	if got := s.track.loops.Load(); got != 4+1 { // and no TLS listener
		t.Errorf("%d read loops, want 4 UDP and the TCP accept loop", got)
	}
	for i := range 16 {
		c := dialTURN(t, UDP, addrOf(t, s, UDP), testUser, testPass, nil)
		alloc := allocate(t, c)
		roundTrip(t, alloc, newPeer(t), "to peer", "to client "+strconv.Itoa(i))
	}
	if st := s.Stats(); len(st.Allocations) != 16 {
		t.Errorf("%d allocations, want 16", len(st.Allocations))
	}
}
