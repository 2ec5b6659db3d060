package vnet

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// newICETCPPeer is a pion peer on h that gathers UDP and TCP candidates,
// including the bridge's loopback ones; mux, if set, is its passive ICE-TCP
// port.
func newICETCPPeer(t testing.TB, h *Host, mux ice.TCPMux, timeouts bool) *peer {
	t.Helper()
	return newPeer(t, h, webrtc.Configuration{}, func(se *webrtc.SettingEngine) {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4})
		se.SetIncludeLoopbackCandidate(true)
		if mux != nil {
			se.SetICETCPMux(mux)
		}
		if timeouts {
			se.SetICETimeouts(time.Second, 2*time.Second, 500*time.Millisecond)
		}
	})
}

// iceTCPSetup builds, on the real clock, a public media node with a
// passive ICE-TCP port 7881 behind a bridge, and a client behind a NAT
// with the given firewall rules that does active ICE-TCP through it.
func iceTCPSetup(t *testing.T, rules []Rule, timeouts bool) (n *Network, client, media *peer, clientHost *Host) {
	t.Helper()
	n = newTestNetwork(t)
	mediaHost := mustHost(t, n.Internet(), "media")
	corp := mustRouter(t, n.Internet(), "corp", PortRestricted())
	if _, err := corp.Firewall().Add(rules...); err != nil {
		t.Fatal(err)
	}
	clientHost = mustHost(t, corp, "client")

	b := NewBridge()
	t.Cleanup(func() { _ = b.Close() })
	if _, err := b.AddClient(clientHost); err != nil {
		t.Fatal(err)
	}
	ln, err := b.Listen(mediaHost, 7881)
	if err != nil {
		t.Fatal(err)
	}
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	mux := ice.NewTCPMuxDefault(ice.TCPMuxParams{
		Listener:                     ln,
		Logger:                       lf.NewLogger("ice-tcp"),
		ReadBufferSize:               64,
		FirstStunBindTimeout:         2 * time.Second,
		AliveDurationForConnFromStun: 2 * time.Second,
	})
	t.Cleanup(func() { _ = mux.Close() })
	media = newICETCPPeer(t, mediaHost, mux, timeouts)
	client = newICETCPPeer(t, clientHost, nil, timeouts)
	return n, client, media, clientHost
}

func TestBridgeInterfaces(t *testing.T) {
	n := newTestNetwork(t)
	h := mustHost(t, n.Internet(), "h")
	b := NewBridge()
	addr, err := b.AddClient(h)
	if err != nil {
		t.Fatal(err)
	}
	ifaces, _ := h.Interfaces()
	if len(ifaces) != 2 || ifaces[1].Flags&net.FlagLoopback == 0 {
		t.Fatalf("interfaces %v, want eth0 and a loopback", ifaces)
	}
	addrs, _ := ifaces[1].Addrs()
	if len(addrs) != 1 || !strings.HasPrefix(addrs[0].String(), addr.String()+"/") || !addr.IsLoopback() {
		t.Fatalf("loopback interface holds %v, want %s", addrs, addr)
	}
	// Addresses are unique across bridges, as parallel tests need.
	other := NewBridge()
	defer other.Close()
	seen := map[string]bool{addr.String(): true}
	for range 20 {
		a, err := other.AddClient(mustHostN(t, n, len(seen)))
		if err != nil {
			t.Fatal(err)
		}
		if seen[a.String()] {
			t.Fatalf("address %s handed out twice", a)
		}
		seen[a.String()] = true
	}
	_ = b.Close()
	if ifaces, _ := h.Interfaces(); len(ifaces) != 1 {
		t.Errorf("%d interfaces after the bridge closed, want 1", len(ifaces))
	}
}

func mustHostN(t testing.TB, n *Network, i int) *Host {
	return mustHost(t, n.Internet(), "h"+strings.Repeat("x", i))
}

func TestPionICETCPThroughBridge(t *testing.T) {
	n, client, media, clientHost := iceTCPSetup(t, BlockUDP(), false)
	_ = n
	connect(t, client, media)
	l, r, _ := selectedPair(t, client)
	if l.Typ != webrtc.ICECandidateTypeHost || l.Protocol != webrtc.ICEProtocolTCP || l.TCPType != "active" ||
		r.Typ != webrtc.ICECandidateTypeHost || r.Protocol != webrtc.ICEProtocolTCP || r.Port != 7881 {
		t.Errorf("client selected %s/%s/%s → %s/%s:%d, want host/tcp/active → host/tcp:7881", l.Typ, l.Protocol, l.TCPType, r.Typ, r.Protocol, r.Port)
	}
	l, r, _ = selectedPair(t, media)
	if l.Typ != webrtc.ICECandidateTypeHost || l.Protocol != webrtc.ICEProtocolTCP || l.Port != 7881 ||
		r.Typ != webrtc.ICECandidateTypePrflx || r.Protocol != webrtc.ICEProtocolTCP {
		t.Errorf("media selected %s/%s:%d → %s/%s, want host/tcp:7881 → prflx/tcp", l.Typ, l.Protocol, l.Port, r.Typ, r.Protocol)
	}
	// The media node sees the client as the NAT maps it.
	if r.Address != clientHost.ExternalAddr().String() {
		t.Errorf("media sees the client at %s, want the NAT's address %s", r.Address, clientHost.ExternalAddr())
	}
}

func TestPionICETCPBlockedBy443Only(t *testing.T) {
	n, client, media, _ := iceTCPSetup(t, OnlyTCPOut(80, 443), true)
	dropped := record(t, n, func(e Event) bool {
		return e.Proto == TCP && e.Dst.Port() == 7881 && e.Flags&FlagSYN != 0 && e.Verdict == Dropped &&
			strings.Contains(e.Reason, "drop-all")
	})
	negotiate(t, client, media)
	if !strings.Contains(media.pc.LocalDescription().SDP, "7881 typ host tcptype passive") {
		t.Fatalf("media node offers no passive ICE-TCP candidate on 7881:\n%s", media.pc.LocalDescription().SDP)
	}
	select {
	case <-client.failed:
	case <-client.connected:
		t.Fatal("ICE connected through a firewall that lets only TCP 80 and 443 out")
	case <-time.After(30 * time.Second):
		t.Fatal("ICE did not fail within 30 s")
	}
	if len(dropped.list()) == 0 {
		t.Error("no bridged SYN to 7881 was dropped by the firewall's drop-all rule")
	}
}
