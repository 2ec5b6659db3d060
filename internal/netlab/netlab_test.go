package netlab

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// TestMasqueradeRouter builds a host behind a masquerading router and
// checks that the router's rules load and the host reaches the internet's
// bridge through it. It skips without root, ip or nft.
func TestMasqueradeRouter(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	lab, err := New("nltest")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Error(err)
		}
	})
	r, err := lab.Router("r", nil, RouterConfig{NAT: Masquerade, DropWANInput: true, Forward: []string{`iifname "lan" tcp dport 9 drop`}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.Host("h")
	if err != nil {
		t.Fatal(err)
	}
	if !r.LAN.Contains(h.Addr) || !Internet.Contains(r.Addr) {
		t.Fatalf("host %v on LAN %v, router WAN %v", h.Addr, r.LAN, r.Addr)
	}
	// A datagram from the host reaches the internet from the router's
	// address (masquerade), and the reply comes back through conntrack.
	var server *net.UDPConn
	if err := lab.InternetNS().Do(func() (err error) {
		server, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(203, 0, 113, 1)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	var client *net.UDPConn
	if err := h.Do(func() (err error) {
		client, err = net.DialUDP("udp4", nil, server.LocalAddr().(*net.UDPAddr))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := client.Write([]byte("out")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	_ = server.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, from, err := server.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("datagram through the router: %v", err)
	}
	if from.Addr() != r.Addr {
		t.Errorf("datagram came from %v, want the router's address %v", from, r.Addr)
	}
	if _, err := server.WriteToUDPAddrPort([]byte("back"), from); err != nil {
		t.Fatal(err)
	}
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := client.Read(buf); err != nil {
		t.Fatalf("reply through conntrack: %v", err)
	}
	rules, err := r.Command(context.Background(), "nft", "list", "ruleset").CombinedOutput()
	if err != nil || !strings.Contains(string(rules), "masquerade") {
		t.Fatalf("router ruleset: %v: %s", err, rules)
	}
}
