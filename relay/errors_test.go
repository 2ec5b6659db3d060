package relay

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// rawClient speaks STUN to a relay over one UDP socket, signing requests
// itself, so that a test sees each response exactly as the relay sent it.
type rawClient struct {
	t     *testing.T
	conn  net.Conn
	user  string
	pass  string
	nonce stun.Nonce
}

func newRawClient(t *testing.T, s *Server, user, pass string) *rawClient {
	t.Helper()
	c, err := net.Dial("udp4", addrOf(t, s, UDP).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawClient{t: t, conn: c, user: user, pass: pass}
}

func (c *rawClient) roundTrip(m *stun.Message) *stun.Message {
	c.t.Helper()
	if _, err := c.conn.Write(m.Raw); err != nil {
		c.t.Fatal(err)
	}
	res := readSTUN(c.t, c.conn)
	if res.TransactionID != m.TransactionID {
		c.t.Fatalf("response to another transaction: %v", res)
	}
	var n stun.Nonce
	if n.GetFrom(res) == nil {
		c.nonce = n
	}
	return res
}

// do sends an authenticated request of method with attrs and returns the
// response; the first call learns the nonce from a 401.
func (c *rawClient) do(method stun.Method, attrs ...stun.Setter) *stun.Message {
	c.t.Helper()
	if c.nonce == nil {
		c.roundTrip(stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest), reqUDP))
	}
	return c.roundTrip(c.build(method, c.nonce, attrs...))
}

func (c *rawClient) build(method stun.Method, nonce stun.Nonce, attrs ...stun.Setter) *stun.Message {
	setters := append([]stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}, attrs...)
	setters = append(setters, stun.NewUsername(c.user), stun.NewRealm(testDomain), nonce,
		stun.NewLongTermIntegrity(c.user, testDomain, c.pass), stun.Fingerprint)
	return stun.MustBuild(setters...)
}

var reqUDP = turnRequestedTransport(17)

// xorPeer is XOR-PEER-ADDRESS.
type xorPeer struct{ stun.XORMappedAddress }

func (p xorPeer) AddTo(m *stun.Message) error {
	return p.AddToAs(m, stun.AttrXORPeerAddress)
}

// channelNumber is CHANNEL-NUMBER.
type channelNumber uint16

func (n channelNumber) AddTo(m *stun.Message) error {
	m.Add(stun.AttrChannelNumber, []byte{byte(n >> 8), byte(n), 0, 0})
	return nil
}

// wantError checks res is an error response with code, its RFC reason phrase
// and, when pass is set, a MESSAGE-INTEGRITY valid under the user's key.
func wantError(t *testing.T, what string, res *stun.Message, code stun.ErrorCode, user, pass string) {
	t.Helper()
	var ec stun.ErrorCodeAttribute
	if res.Type.Class != stun.ClassErrorResponse || ec.GetFrom(res) != nil {
		t.Errorf("%s: got %v, want error %d", what, res.Type, code)
		return
	}
	if ec.Code != code || string(ec.Reason) != reasonPhrase(code) || len(ec.Reason) == 0 {
		t.Errorf("%s: got %d %q, want %d %q", what, ec.Code, ec.Reason, code, reasonPhrase(code))
	}
	if pass != "" {
		if err := stun.NewLongTermIntegrity(user, testDomain, pass).Check(res); err != nil {
			t.Errorf("%s: MESSAGE-INTEGRITY of the response: %v", what, err)
		}
	}
	if err := stun.Fingerprint.Check(res); err != nil && res.Contains(stun.AttrFingerprint) {
		t.Errorf("%s: FINGERPRINT of the response: %v", what, err)
	}
}

// TestErrorResponsesFollowRFC8656 provokes every error the relay sends and
// checks its code and reason phrase: 401 without and with bad credentials,
// 438 for a nonce the relay never issued, 437 for a second Allocate on one
// 5-tuple, 403 for CreatePermission and ChannelBind to a refused peer (pion
// answers ChannelBind with 401), 486 over the user quota and 508 when the relay
// port range is used up. Responses that carry MESSAGE-INTEGRITY must verify.
func TestErrorResponsesFollowRFC8656(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.TURN.UserQuota = 1
	cfg.TURN.RelayRangeStart, cfg.TURN.RelayRangeEnd = 42100, 42101 // two relay ports
	s := startServer(t, cfg)

	alice := newRawClient(t, s, testUser, testPass)
	res := alice.roundTrip(stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest), reqUDP))
	wantError(t, "no credentials", res, stun.CodeUnauthorized, "", "")
	wrong := &rawClient{t: t, conn: alice.conn, user: testUser, pass: "wrong"}
	wantError(t, "wrong password", wrong.do(stun.MethodAllocate, reqUDP), stun.CodeUnauthorized, "", "")
	wantError(t, "stale nonce", alice.roundTrip(alice.build(stun.MethodAllocate, stun.NewNonce("not-issued-by-the-relay"), reqUDP)),
		stun.CodeStaleNonce, "", "")

	if res := alice.do(stun.MethodAllocate, reqUDP); res.Type.Class != stun.ClassSuccessResponse {
		t.Fatalf("allocate: %v", res)
	}
	wantError(t, "second allocate", alice.do(stun.MethodAllocate, reqUDP), stun.CodeAllocMismatch, testUser, testPass)
	denied := xorPeer{stun.XORMappedAddress{IP: net.ParseIP("10.1.2.3"), Port: 5000}}
	wantError(t, "permission to a private peer", alice.do(stun.MethodCreatePermission, denied), stun.CodeForbidden, testUser, testPass)
	wantError(t, "channel to a private peer", alice.do(stun.MethodChannelBind, channelNumber(0x4001), denied), stun.CodeForbidden, testUser, testPass)
	if got := s.Stats().PeersDenied; got < 2 {
		t.Errorf("%d peers denied, want 2", got)
	}

	quota := newRawClient(t, s, testUser, testPass)
	wantError(t, "over the user quota", quota.do(stun.MethodAllocate, reqUDP), stun.CodeAllocQuotaReached, testUser, testPass)

	bob := newRawClient(t, s, "bob", "bob-password")
	if res := bob.do(stun.MethodAllocate, reqUDP); res.Type.Class != stun.ClassSuccessResponse {
		t.Fatalf("bob's allocate: %v", res)
	}
	// Both relay ports are taken: a third user gets 508.
	user, pass := RESTCredentials(testSecret, "carol", time.Now().Add(time.Hour))
	carol := newRawClient(t, s, user, pass)
	wantError(t, "no relay port left", carol.do(stun.MethodAllocate, reqUDP), stun.CodeInsufficientCapacity, user, pass)
}

// TestFixResponseGivesEveryCodeItsReason rewrites a signed error response for
// every code the relay can send, 441 included (pion never sends it), and
// checks the reason phrase and that integrity and fingerprint still verify.
func TestFixResponseGivesEveryCodeItsReason(t *testing.T) {
	t.Parallel()
	key := stun.NewLongTermIntegrity(testUser, testDomain, testPass)
	for _, code := range []stun.ErrorCode{400, 401, 403, 420, 437, 438, 440, 441, 442, 443, 446, 447, 486, 500, 508} {
		res := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodRefresh, stun.ClassErrorResponse),
			&stun.ErrorCodeAttribute{Code: code}, stun.NewRealm(testDomain), key, stun.Fingerprint)
		out := &stun.Message{Raw: fixResponse(res.Raw, key)}
		if err := out.Decode(); err != nil {
			t.Fatalf("%d: %v", code, err)
		}
		wantError(t, fmt.Sprint(code), out, code, testUser, testPass)
		if got := fixResponse(res.Raw, nil); &got[0] != &res.Raw[0] {
			t.Errorf("%d: a signed response was rewritten without its key", code)
		}
	}
	ok := stun.MustBuild(stun.TransactionID, stun.BindingSuccess, stun.Fingerprint)
	if got := fixResponse(ok.Raw, nil); &got[0] != &ok.Raw[0] {
		t.Errorf("a success response was rewritten")
	}
}
