package vnet

import (
	"net"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// A UDP socket binds to a multicast group address, and, as Go's
// net.ListenUDP sets SO_REUSEADDR on such sockets, more than one binds
// the same group and port.
func TestBindMulticastGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		h := mustHost(t, n.Internet(), "h")
		group := &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353}
		a, err := h.ListenUDP("udp4", group)
		if err != nil {
			t.Fatal(err)
		}
		b, err := h.ListenUDP("udp4", group)
		if err != nil {
			t.Fatalf("second bind to the group: %v", err)
		}
		if got := a.LocalAddr().String(); got != "224.0.0.251:5353" {
			t.Errorf("bound to %s, want 224.0.0.251:5353", got)
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		h.mu.RLock()
		left := len(h.mcast)
		h.mu.RUnlock()
		if left != 0 {
			t.Errorf("%d group bindings left after closing both sockets", left)
		}
	})
}

// pion's MulticastDNSModeQueryAndGather on vnet: the agent's mDNS
// listener binds (224.0.0.251:5353), its responder cannot start (x/net's
// JoinGroup needs an operating system socket), and pion keeps the mode
// (ice v4.4.9 agent.go:500-512 only logs the error): its host candidates
// carry a NAME.local address. A far end with mDNS disabled, as LiveKit's
// server runs by default, drops them and learns the address from the
// checks: peer-reflexive. The hiding end's own pion still calls its end
// host.
func TestPionMDNSHostCandidatesOnVnet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		hiding := newPeer(t, mustHost(t, n.Internet(), "browser"), webrtc.Configuration{}, func(se *webrtc.SettingEngine) {
			se.SetICEMulticastDNSMode(ice.MulticastDNSModeQueryAndGather)
		})
		far := newPeer(t, mustHost(t, n.Internet(), "server"), webrtc.Configuration{})
		connect(t, hiding, far)
		offer := hiding.pc.LocalDescription().SDP
		if !strings.Contains(offer, ".local ") {
			t.Errorf("offer has no mDNS host candidate:\n%s", offer)
		}
		for _, line := range strings.Split(offer, "\n") {
			if strings.Contains(line, "typ host") && !strings.Contains(line, ".local ") {
				t.Errorf("host candidate with an address: %s", line)
			}
		}
		if l, r := selectedTypes(t, hiding); l != webrtc.ICECandidateTypeHost || r != webrtc.ICECandidateTypeHost {
			t.Errorf("hiding end selected %s→%s, want host→host", l, r)
		}
		if l, r := selectedTypes(t, far); l != webrtc.ICECandidateTypeHost || r != webrtc.ICECandidateTypePrflx {
			t.Errorf("far end selected %s→%s, want host→prflx", l, r)
		}
	})
}
