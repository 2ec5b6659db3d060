package harness

import (
	"net/netip"
	"strings"
	"testing"
)

// libwebrtc's label for its own end of the selected pair, from the
// address the far end saw (Connection::MaybeUpdateLocalCandidate).
func TestLibwebrtcLocal(t *testing.T) {
	own := []netip.Addr{netip.MustParseAddr("10.1.0.2")}
	hidden := mdnsName("alice")
	locals := []Candidate{
		{Type: "host", Protocol: "udp", Address: hidden + ":32768"},
		{Type: "host", Protocol: "tcp", Address: "10.1.0.2:0", TCPType: "active"},
		{Type: "srflx", Protocol: "udp", Address: "203.0.113.2:32769"},
		{Type: "relay", Protocol: "udp", Address: "203.0.113.3:40000", RelayProtocol: "udp"},
	}
	udpHost := Candidate{Type: "host", Protocol: "udp", Address: hidden + ":32768"}
	tcpHost := Candidate{Type: "host", Protocol: "tcp", Address: "10.1.0.2:41005", TCPType: "active"}
	relay := locals[3]
	node := Candidate{Type: "host", Protocol: "udp", Address: "203.0.113.3:7882"}
	seen := func(addr string) *Pair {
		return &Pair{Local: node, Remote: Candidate{Type: "prflx", Protocol: "udp", Address: addr}}
	}
	tests := []struct {
		name string
		sel  Candidate
		far  *Pair
		eim  bool
		want string
	}{
		{"the host's own address", udpHost, seen("10.1.0.2:32768"), true, "host"},
		{"a NAT's endpoint-independent mapping, with a srflx candidate of its address", udpHost, seen("203.0.113.2:1024"), true, "srflx"},
		{"a NAT's destination-dependent mapping", udpHost, seen("203.0.113.2:1024"), false, "prflx"},
		{"no srflx candidate of that address", udpHost, seen("198.51.100.7:1024"), true, "prflx"},
		{"ICE-TCP from an ephemeral port", tcpHost, seen("203.0.113.2:32770"), true, "prflx"},
		{"a relay", relay, seen("203.0.113.3:40000"), true, "relay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel := &Pair{Local: tt.sel, Remote: node}
			got := libwebrtcLocal(sel, tt.far, locals, own, tt.eim)
			if got.Local.Type != tt.want {
				t.Errorf("local %s, want %s", got.Local.Type, tt.want)
			}
			if got.Local.Address != tt.sel.Address || got.Remote != node {
				t.Errorf("changed more than the local type: %+v", got)
			}
		})
	}
	if got := libwebrtcLocal(&Pair{Local: udpHost, Remote: node}, nil, locals, own, true); got.Local.Type != "host" {
		t.Errorf("without the far end's view: %s, want pion's host", got.Local.Type)
	}
}

// The hidden host's name is a version 4 UUID in form, followed by .local,
// as pion checks (ice v4.4.9 agent.go:437) and Chromium makes them.
func TestMDNSName(t *testing.T) {
	name := mdnsName("alice")
	if name != mdnsName("alice") || name == mdnsName("bob") {
		t.Fatalf("%s: not one name per client", name)
	}
	parts := strings.Split(strings.TrimSuffix(name, ".local"), "-")
	if !strings.HasSuffix(name, ".local") || len(parts) != 5 || len(parts[2]) != 4 || parts[2][0] != '4' {
		t.Errorf("%s is not NAME.local with a version 4 UUID", name)
	}
}
