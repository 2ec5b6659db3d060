package main

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// TestRelayServeEvenPortPairsInARow allocates ten RTP/RTCP port pairs in a
// row against `icelab relay serve` with GOMAXPROCS=2 and 8 (one SO_REUSEPORT
// listener socket per CPU), as issue 21's acceptance asks, without coturn's
// client: each pair is an Allocate with EVEN-PORT (R bit) from one fresh UDP
// socket and an Allocate with the RESERVATION-TOKEN it got from a second one,
// so that the kernel hashes the two requests to listener sockets of its
// choice. Each pair must be an even port and the one above it, and the relay
// must count no capacity failure. Before the relay kept the pairs itself, a
// token made on one socket was unknown on the others (508).
func TestRelayServeEvenPortPairsInARow(t *testing.T) {
	for _, procs := range []int{2, 8} {
		t.Run(fmt.Sprintf("GOMAXPROCS=%d", procs), func(t *testing.T) {
			serve := startServeEnv(t, []string{fmt.Sprintf("GOMAXPROCS=%d", procs)},
				"--config", uclientConfig(t, "43000-43999"), "--ephemeral-ports")
			addr := serve.addrs["udp"]
			for i := range 10 {
				rtp := dialTURN(t, addr, "alice", "secret")
				res := rtp.allocate(t, stun.RawAttribute{Type: stun.AttrEvenPort, Value: []byte{0x80}})
				even := relayedPortOf(t, fmt.Sprintf("pair %d: EVEN-PORT allocation", i), res)
				token, err := res.Get(stun.AttrReservationToken)
				if err != nil || even%2 != 0 {
					t.Fatalf("pair %d: port %d, token %x (%v): want an even port and a token", i, even, token, err)
				}
				rtcp := dialTURN(t, addr, "alice", "secret")
				odd := relayedPortOf(t, fmt.Sprintf("pair %d: RESERVATION-TOKEN allocation", i),
					rtcp.allocate(t, stun.RawAttribute{Type: stun.AttrReservationToken, Value: token}))
				if odd != even+1 {
					t.Fatalf("pair %d: the token's allocation got port %d, want %d", i, odd, even+1)
				}
			}
			serve.interrupt(t)
			if out := serve.output(); !strings.Contains(out, "capacity_failures=0 ") || !strings.Contains(out, "stopped: 20 allocations") {
				t.Errorf("want 20 allocations and no capacity failure:\n%s", out)
			}
		})
	}
}

// turnClient is a TURN/UDP client that writes its requests by hand, with
// the long-term credential of the realm and nonce its first request got.
type turnClient struct {
	conn         net.Conn
	user, pass   string
	realm, nonce stun.RawAttribute
	haveKey      bool
}

func dialTURN(t *testing.T, addr, user, pass string) *turnClient {
	t.Helper()
	c, err := net.Dial("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &turnClient{conn: c, user: user, pass: pass}
}

// allocate sends an Allocate for a UDP relay with attrs, answering the
// first 401 with credentials, and returns the final response.
func (c *turnClient) allocate(t *testing.T, attrs ...stun.Setter) *stun.Message {
	t.Helper()
	transport := stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}
	for range 3 {
		setters := []stun.Setter{stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest), transport}
		setters = append(setters, attrs...)
		if c.haveKey {
			setters = append(setters, stun.NewUsername(c.user), c.realm, c.nonce,
				stun.NewLongTermIntegrity(c.user, string(c.realm.Value), c.pass))
		}
		res := c.roundTrip(t, stun.MustBuild(setters...))
		var code stun.ErrorCodeAttribute
		if res.Type.Class == stun.ClassErrorResponse && code.GetFrom(res) == nil &&
			(code.Code == stun.CodeUnauthorized || code.Code == stun.CodeStaleNonce) {
			realm, err1 := res.Get(stun.AttrRealm)
			nonce, err2 := res.Get(stun.AttrNonce)
			if err1 != nil || err2 != nil {
				t.Fatalf("%d without realm or nonce", code.Code)
			}
			c.realm = stun.RawAttribute{Type: stun.AttrRealm, Value: realm}
			c.nonce = stun.RawAttribute{Type: stun.AttrNonce, Value: nonce}
			c.haveKey = true
			continue
		}
		return res
	}
	t.Fatal("Allocate: still unauthorized after three tries")
	return nil
}

// roundTrip sends req until its answer comes back (UDP may lose either).
func (c *turnClient) roundTrip(t *testing.T, req *stun.Message) *stun.Message {
	t.Helper()
	buf := make([]byte, 1500)
	for deadline := time.Now().Add(bound); time.Now().Before(deadline); {
		if _, err := c.conn.Write(req.Raw); err != nil {
			t.Fatal(err)
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for {
			n, err := c.conn.Read(buf)
			if err != nil {
				break // retransmit
			}
			res := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if res.Decode() == nil && res.TransactionID == req.TransactionID {
				return res
			}
		}
	}
	t.Fatalf("no answer to %v within %v", req.Type, bound)
	return nil
}

// relayedPortOf returns the port of a success response's XOR-RELAYED-ADDRESS.
func relayedPortOf(t *testing.T, what string, res *stun.Message) int {
	t.Helper()
	var a stun.XORMappedAddress
	if res.Type.Class != stun.ClassSuccessResponse || a.GetFromAs(res, stun.AttrXORRelayedAddress) != nil {
		var code stun.ErrorCodeAttribute
		_ = code.GetFrom(res)
		t.Fatalf("%s: %v %d %s, want a relayed address", what, res.Type, code.Code, code.Reason)
	}
	return a.Port
}
