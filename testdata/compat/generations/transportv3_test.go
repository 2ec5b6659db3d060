package generations

// This file and its sibling for the other generation differ only in the
// pion packages they import: each runs a pion TURN release built on one
// transport generation over vnet through that generation's adapter.

import (
	"net"
	"testing"
	"testing/synctest"

	"github.com/icelab/icelab/vnet/transportv3"
	"github.com/pion/turn/v3"
)

// TestTURNv3OverAdapter runs turn/v3 v3.0.3 (built on transport/v3): a
// server on a public host and a client behind a home router allocate over
// UDP and over TCP, and relay to a peer on transport/v5 both ways.
func TestTURNv3OverAdapter(t *testing.T) {
	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				relayHost, client, peer := topology(t)
				relayNet := transportv3.Net(relayHost)
				relayAddr := relayHost.Addr().String() + ":3478"
				pc, err := relayNet.ListenPacket("udp4", relayAddr)
				if err != nil {
					t.Fatal(err)
				}
				ln, err := relayNet.ListenTCP("tcp4", &net.TCPAddr{IP: net.IP(relayHost.Addr().AsSlice()), Port: 3478})
				if err != nil {
					t.Fatal(err)
				}
				gen := &turn.RelayAddressGeneratorStatic{RelayAddress: net.IP(relayHost.Addr().AsSlice()), Address: relayHost.Addr().String(), Net: relayNet}
				key := turn.GenerateAuthKey("user", "icelab", "pass")
				srv, err := turn.NewServer(turn.ServerConfig{
					Realm:             "icelab",
					AuthHandler:       func(u, _ string, _ net.Addr) ([]byte, bool) { return key, u == "user" },
					PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: pc, RelayAddressGenerator: gen}},
					ListenerConfigs:   []turn.ListenerConfig{{Listener: ln, RelayAddressGenerator: gen}},
				})
				if err != nil {
					t.Fatal(err)
				}
				defer srv.Close()

				clientNet := transportv3.Net(client)
				var conn net.PacketConn
				if proto == "udp" {
					conn, err = clientNet.ListenPacket("udp4", client.Addr().String()+":0")
				} else {
					var c net.Conn
					c, err = clientNet.Dial("tcp4", relayAddr)
					conn = turn.NewSTUNConn(c)
				}
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				tc, err := turn.NewClient(&turn.ClientConfig{
					STUNServerAddr: relayAddr, TURNServerAddr: relayAddr, Conn: conn,
					Username: "user", Password: "pass", Realm: "icelab", Net: clientNet,
				})
				if err != nil {
					t.Fatal(err)
				}
				defer tc.Close()
				if err := tc.Listen(); err != nil {
					t.Fatal(err)
				}
				relayed, err := tc.Allocate()
				if err != nil {
					t.Fatalf("allocate over %s: %v", proto, err)
				}
				defer relayed.Close()
				exchange(t, relayed, peer)
			})
		})
	}
}
