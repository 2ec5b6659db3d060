package generations

import (
	"net"
	"testing"

	"github.com/icelab/icelab/vnet"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// topology builds a relay and a peer on the internet and a client behind a
// port-restricted home router. The network closes when the test ends.
func topology(t *testing.T) (relay, client, peer *vnet.Host) {
	t.Helper()
	n, err := vnet.New(vnet.Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	must := func(h *vnet.Host, err error) *vnet.Host {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	relay = must(n.Internet().AddHost(vnet.HostConfig{Name: "relay"}))
	peer = must(n.Internet().AddHost(vnet.HostConfig{Name: "peer"}))
	home, err := n.Internet().AddRouter(vnet.RouterConfig{Name: "home", NAT: vnet.PortRestricted()})
	if err != nil {
		t.Fatal(err)
	}
	client = must(home.AddHost(vnet.HostConfig{Name: "client"}))
	return relay, client, peer
}

// exchange sends from the client's relayed socket to a peer listening on
// transport/v5 (the host itself) and back.
func exchange(t *testing.T, relayed net.PacketConn, peerHost *vnet.Host) {
	t.Helper()
	peer, err := peerHost.ListenPacket("udp4", peerHost.Addr().String()+":5000")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := relayed.WriteTo([]byte("hello"), peer.LocalAddr()); err != nil {
		t.Fatalf("client to peer: %v", err)
	}
	buf := make([]byte, 64)
	n, from, err := peer.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("peer read %q, %v; want hello", buf[:n], err)
	}
	if from.String() != relayed.LocalAddr().String() {
		t.Errorf("peer saw %s, want the relayed address %s", from, relayed.LocalAddr())
	}
	if _, err := peer.WriteTo([]byte("world"), from); err != nil {
		t.Fatalf("peer to client: %v", err)
	}
	if n, _, err = relayed.ReadFrom(buf); err != nil || string(buf[:n]) != "world" {
		t.Fatalf("client read %q, %v; want world", buf[:n], err)
	}
}
