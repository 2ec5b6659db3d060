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
	lab := newLab(t, "nltest", Available)
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

// TestFarLink checks that a far host's link holds what crosses it: a UDP
// round trip from a plain public host takes at least twice the delay,
// datagrams keep their order, and a TCP connection carries data both
// ways. It skips without root, ip, nft or /dev/net/tun.
func TestFarLink(t *testing.T) {
	lab := newLab(t, "nlfar", Available, FarAvailable)
	const delay = 30 * time.Millisecond
	far, err := lab.PublicFar("far", delay)
	if err != nil {
		t.Fatal(err)
	}
	near, err := lab.Public("near")
	if err != nil {
		t.Fatal(err)
	}
	var echo *net.UDPConn
	var tcp net.Listener
	if err := far.Do(func() (err error) {
		if echo, err = net.ListenUDP("udp4", &net.UDPAddr{IP: far.Addr.AsSlice(), Port: 7}); err != nil {
			return err
		}
		tcp, err = net.Listen("tcp4", far.Addr.String()+":9")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	defer tcp.Close()
	go func() {
		buf := make([]byte, 64)
		for {
			n, from, err := echo.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, _ = echo.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	go func() {
		c, err := tcp.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 64)
		n, _ := c.Read(buf)
		_, _ = c.Write(append([]byte("re: "), buf[:n]...))
	}()
	var client *net.UDPConn
	var conn net.Conn
	if err := near.Do(func() (err error) {
		if client, err = net.DialUDP("udp4", nil, echo.LocalAddr().(*net.UDPAddr)); err != nil {
			return err
		}
		conn, err = net.DialTimeout("tcp4", far.Addr.String()+":9", 5*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	defer conn.Close()

	start := time.Now()
	for i := range 5 {
		if _, err := client.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 64)
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := range 5 {
		n, err := client.Read(buf)
		if err != nil {
			t.Fatalf("echo %d across the far link: %v", i, err)
		}
		if i == 0 {
			if rtt := time.Since(start); rtt < 2*delay {
				t.Errorf("round trip across a link of %v each way took %v, want at least %v", delay, rtt, 2*delay)
			}
		}
		if n != 1 || buf[0] != byte(i) {
			t.Fatalf("echo %d: got %v, want [%d]: the link reordered", i, buf[:n], i)
		}
	}
	if _, err := conn.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != "re: hello" {
		t.Fatalf("TCP across the far link: %q, %v", buf[:n], err)
	}
}

// newLab builds a lab named name that the test's end closes; it skips the
// test when any of needs says why the lab cannot be built here.
func newLab(t *testing.T, name string, needs ...func() error) *Lab {
	t.Helper()
	for _, need := range needs {
		if err := need(); err != nil {
			t.Skip(err)
		}
	}
	lab, err := New(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Error(err)
		}
	})
	return lab
}
