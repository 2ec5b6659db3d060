package relay

import (
	"context"
	"net"
	"sync"
	"testing"

	"github.com/pion/transport/v5"
	"github.com/pion/turn/v5"
)

// minimalRelay is a relay someone brings along: plain pion/turn, one static
// user, UDP only, counting allocations through pion's EventHandler.
type minimalRelay struct {
	user, pass string

	mu     sync.Mutex
	srv    *turn.Server
	addrs  []ListenAddr
	live   int
	total  uint64
	closed bool
}

func (m *minimalRelay) Start(_ context.Context, n transport.Net) error {
	conn, err := n.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	count := func(d int) {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.live += d
		if d > 0 {
			m.total++
		}
	}
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm:         "minimal",
		LoggerFactory: quietLogs(),
		AuthHandler: func(ra *turn.RequestAttributes) (string, []byte, bool) {
			if ra.Username != m.user {
				return "", nil, false
			}
			return ra.Username, turn.GenerateAuthKey(ra.Username, ra.Realm, m.pass), true
		},
		EventHandler: turn.EventHandler{
			OnAllocationCreated: func(net.Addr, net.Addr, string, string, string, net.Addr, int) { count(1) },
			OnAllocationDeleted: func(net.Addr, net.Addr, string, string, string) { count(-1) },
		},
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn: conn,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{
				RelayAddress: net.ParseIP("127.0.0.1"), Address: "127.0.0.1", Net: n,
			},
		}},
	})
	if err != nil {
		_ = conn.Close()
		return err
	}
	m.mu.Lock()
	m.srv, m.addrs = srv, []ListenAddr{{UDP, conn.LocalAddr()}}
	m.mu.Unlock()
	return nil
}

func (m *minimalRelay) Addrs() []ListenAddr {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.addrs
}

func (m *minimalRelay) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Stats{AllocationsTotal: m.total, Allocations: make([]AllocationStats, m.live)}
}

func (m *minimalRelay) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.srv == nil {
		return nil
	}
	m.closed = true
	return m.srv.Close()
}

// exerciseRelay is the helper a harness runs against any Relay: start it on
// loopback, allocate over UDP, relay a datagram each way, and read its stats.
func exerciseRelay(t *testing.T, r Relay, user, pass string) {
	t.Helper()
	startRelay(t, r)
	c := dialTURN(t, UDP, addrOf(t, r, UDP), user, pass, nil)
	alloc := allocate(t, c)
	roundTrip(t, alloc, newPeer(t), "ping!", "pong!")
	if st := r.Stats(); st.AllocationsTotal != 1 || len(st.Allocations) != 1 {
		t.Errorf("stats: %d allocations total, %d live; want 1 and 1", st.AllocationsTotal, len(st.Allocations))
	}
	if _, err := dialTURN(t, UDP, addrOf(t, r, UDP), user, "wrong", nil).Allocate(); err == nil {
		t.Errorf("allocation with a wrong password succeeded")
	}
}

func TestBringYourOwnRelay(t *testing.T) {
	t.Parallel()
	t.Run("built-in", func(t *testing.T) {
		t.Parallel()
		s, err := New(testConfig(), WithBindIP(loopback), WithEphemeralPorts(), WithLoggerFactory(quietLogs()))
		if err != nil {
			t.Fatal(err)
		}
		exerciseRelay(t, s, testUser, testPass)
	})
	t.Run("minimal pion relay", func(t *testing.T) {
		t.Parallel()
		exerciseRelay(t, &minimalRelay{user: "u", pass: "p"}, "u", "p")
	})
}
