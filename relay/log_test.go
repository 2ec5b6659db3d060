package relay

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// syncBuffer is a bytes.Buffer safe for a logger and a test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// take returns what was logged since the last take.
func (b *syncBuffer) take() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	b.buf.Reset()
	return s
}

// TestRelayLogsEvents checks that each event is logged, with its level, by the
// time the client has the relay's answer: an authentication failure with user
// and reason, an allocation created, refreshed and deleted, a refused peer and
// a quota refusal.
func TestRelayLogsEvents(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	cfg := testConfig()
	cfg.TURN.UserQuota = 1
	s := startServer(t, cfg, WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	expect := func(what string, want ...string) {
		t.Helper()
		got := logs.take()
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: log lacks %q:\n%s", what, w, got)
			}
		}
	}

	wrong := newRawClient(t, s, testUser, "wrong")
	wrong.do(stun.MethodAllocate, reqUDP)
	expect("wrong password", `level=WARN msg="authentication failed" user=alice`, `reason="wrong password"`)
	expired, pass := RESTCredentials(testSecret, "carol", time.Now().Add(-time.Minute))
	newRawClient(t, s, expired, pass).do(stun.MethodAllocate, reqUDP)
	expect("expired", `msg="authentication failed" user=`+expired, `reason="expired TURN REST credentials"`)

	alice := newRawClient(t, s, testUser, testPass)
	alice.do(stun.MethodAllocate, reqUDP)
	expect("allocate", `level=INFO msg="allocation created" user=alice client=udp:`+alice.conn.LocalAddr().String(), "transport=udp relay=127.0.0.1:")
	alice.do(stun.MethodRefresh)
	expect("refresh", `level=INFO msg="allocation refreshed" user=alice`)
	alice.do(stun.MethodCreatePermission, xorPeer{stun.XORMappedAddress{IP: []byte{10, 1, 2, 3}, Port: 5000}})
	expect("denied peer", `level=WARN msg="peer denied" client=udp:`+alice.conn.LocalAddr().String(), "peer=10.1.2.3")
	newRawClient(t, s, testUser, testPass).do(stun.MethodAllocate, reqUDP)
	expect("quota", `level=WARN msg="allocation quota reached" user=alice`, "user_quota=1")
	alice.do(stun.MethodRefresh, lifetime0{})
	waitStats(t, s, "the allocation's deletion", func(st Stats) bool { return len(st.Allocations) == 0 })
	expect("delete", `level=INFO msg="allocation deleted" user=alice`)
}

// lifetime0 is LIFETIME 0, which deletes an allocation.
type lifetime0 struct{}

func (lifetime0) AddTo(m *stun.Message) error {
	m.Add(stun.AttrLifetime, []byte{0, 0, 0, 0})
	return nil
}
