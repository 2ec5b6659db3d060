package relay

import (
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// rawAttr adds an attribute as it is written.
type rawAttr struct {
	t stun.AttrType
	v []byte
}

func (a rawAttr) AddTo(m *stun.Message) error {
	m.Add(a.t, a.v)
	return nil
}

// evenPortR is EVEN-PORT with the R bit: reserve the port above (RFC 8656 §14.6).
var evenPortR = rawAttr{stun.AttrEvenPort, []byte{0x80}}

// relayedPort returns the port of a success response's XOR-RELAYED-ADDRESS.
func relayedPort(t *testing.T, what string, res *stun.Message) int {
	t.Helper()
	var a stun.XORMappedAddress
	if res.Type.Class != stun.ClassSuccessResponse || a.GetFromAs(res, stun.AttrXORRelayedAddress) != nil {
		var ec stun.ErrorCodeAttribute
		_ = ec.GetFrom(res)
		t.Fatalf("%s: %v %d %s, want a relayed address", what, res.Type, ec.Code, ec.Reason)
	}
	return a.Port
}

// newRawClientOn is newRawClient over tr (UDP or TCP).
func newRawClientOn(t *testing.T, s *Server, tr Transport) *rawClient {
	t.Helper()
	if tr == UDP {
		return newRawClient(t, s, testUser, testPass)
	}
	c, err := net.DialTimeout("tcp4", addrOf(t, s, TCP).String(), bound)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawClient{t: t, conn: c, user: testUser, pass: testPass}
}

// TestEvenPortPairsOnEverySocket allocates RTP/RTCP port pairs as coturn's
// turnutils_uclient does: an Allocate with EVEN-PORT (R) from one client
// socket, then an Allocate with the RESERVATION-TOKEN it got from a second
// socket. With four SO_REUSEPORT sockets on udp_port the kernel sends the
// two sockets' requests to different listener sockets most of the time;
// every pair must still be the even port and the one above it, over UDP and
// over TCP, with no capacity failure and no port left held.
func TestEvenPortPairsOnEverySocket(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.TURN.UserQuota = 0
	s := startServer(t, cfg, WithUDPListeners(4))
	for _, tr := range []Transport{UDP, TCP} {
		for i := range 20 {
			rtp := newRawClientOn(t, s, tr)
			res := rtp.do(stun.MethodAllocate, reqUDP, evenPortR)
			even := relayedPort(t, "EVEN-PORT allocation", res)
			token, err := res.Get(stun.AttrReservationToken)
			if err != nil || even%2 != 0 {
				t.Fatalf("%s pair %d: port %d, token %x (%v): want an even port and a token", tr, i, even, token, err)
			}
			rtcp := newRawClientOn(t, s, tr)
			odd := relayedPort(t, "RESERVATION-TOKEN allocation", rtcp.do(stun.MethodAllocate, reqUDP, rawAttr{stun.AttrReservationToken, token}))
			if odd != even+1 {
				t.Fatalf("%s pair %d: token allocation got port %d, want %d", tr, i, odd, even+1)
			}
		}
	}
	st := s.Stats()
	if st.CapacityFailures != 0 || st.ReservedPorts != 0 || len(st.Allocations) != 80 {
		t.Errorf("capacity failures %d, reserved ports %d, allocations %d: want 0, 0, 80", st.CapacityFailures, st.ReservedPorts, len(st.Allocations))
	}
}

// TestReservationTokenRefusals checks the 508s of RESERVATION-TOKEN: a token
// used twice, a token the relay never issued and one whose reservation
// expired, each counted; and that the held port is released at expiry.
func TestReservationTokenRefusals(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.TURN.UserQuota = 0
	s := startServer(t, cfg, WithUDPListeners(2))
	s.pairs.mu.Lock()
	s.pairs.held = 200 * time.Millisecond // for the expiry case; bounded waits below
	s.pairs.mu.Unlock()

	res := newRawClient(t, s, testUser, testPass).do(stun.MethodAllocate, reqUDP, evenPortR)
	even := relayedPort(t, "EVEN-PORT allocation", res)
	token, _ := res.Get(stun.AttrReservationToken)
	relayedPort(t, "first use of the token", newRawClient(t, s, testUser, testPass).do(stun.MethodAllocate, reqUDP, rawAttr{stun.AttrReservationToken, token}))
	again := newRawClient(t, s, testUser, testPass).do(stun.MethodAllocate, reqUDP, rawAttr{stun.AttrReservationToken, token})
	wantError(t, "second use of the token", again, stun.CodeInsufficientCapacity, testUser, testPass)
	unknown := newRawClient(t, s, testUser, testPass).do(stun.MethodAllocate, reqUDP, rawAttr{stun.AttrReservationToken, []byte("icelab!!")})
	wantError(t, "unknown token", unknown, stun.CodeInsufficientCapacity, testUser, testPass)

	res = newRawClient(t, s, testUser, testPass).do(stun.MethodAllocate, reqUDP, evenPortR)
	relayedPort(t, "second EVEN-PORT allocation", res)
	late, _ := res.Get(stun.AttrReservationToken)
	waitStats(t, s, "the reservation to expire", func(st Stats) bool { return st.ReservedPorts == 0 })
	expired := newRawClient(t, s, testUser, testPass).do(stun.MethodAllocate, reqUDP, rawAttr{stun.AttrReservationToken, late})
	wantError(t, "expired token", expired, stun.CodeInsufficientCapacity, testUser, testPass)
	if st := s.Stats(); st.CapacityFailures != 3 {
		t.Errorf("%d capacity failures counted, want 3", st.CapacityFailures)
	}
	_ = even
}

// TestIPv6AllocationOnIPv4RelayGets440 asks an IPv4-only relay for an IPv6
// relayed address: RFC 6156 §4.2 (and RFC 8656 §7.2) want 440 Address Family
// not Supported, which tells the client to retry with IPv4; pion answered
// 508. The answer is signed, and an IPv4 request on the same socket works.
func TestIPv6AllocationOnIPv4RelayGets440(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	for _, tr := range []Transport{UDP, TCP} {
		c := newRawClientOn(t, s, tr)
		res := c.do(stun.MethodAllocate, reqUDP, rawAttr{stun.AttrRequestedAddressFamily, []byte{0x02, 0, 0, 0}})
		wantError(t, string(tr)+" IPv6 allocation", res, stun.CodeAddrFamilyNotSupported, testUser, testPass)
		relayedPort(t, string(tr)+" IPv4 allocation", c.do(stun.MethodAllocate, reqUDP, rawAttr{stun.AttrRequestedAddressFamily, []byte{0x01, 0, 0, 0}}))
	}
	if st := s.Stats(); st.FamilyRefusals != 2 || st.CapacityFailures != 0 {
		t.Errorf("family refusals %d, capacity failures %d: want 2, 0", st.FamilyRefusals, st.CapacityFailures)
	}
}
