package scenarios_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/scenarios"
	"github.com/pion/webrtc/v4"
)

// TestClientProfile checks that profile: browser gives a client what a
// LiveKit browser client does (TCP candidates too, hence the real clock,
// and LiveKit's SDK with the node's ladder), that fields the file sets win, and that an
// unknown profile names the known ones with file and line.
func TestClientProfile(t *testing.T) {
	doc := "name: p\nclients:\n  - name: alice\n    profile: browser\n  - name: bob\n    profile: browser\n    network_types: [udp4]\n  - name: carol\n    profile: pion\n"
	s, err := scenarios.Parse("p.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	alice, bob, carol := s.Spec.Clients[0], s.Spec.Clients[1], s.Spec.Clients[2]
	if !slices.Contains(alice.NetworkTypes, webrtc.NetworkTypeTCP4) || alice.Fallback.Policy != harness.LiveKit {
		t.Errorf("browser client: network types %v, fallback %v; want tcp4 and livekit", alice.NetworkTypes, alice.Fallback.Policy)
	}
	if !s.RealClock {
		t.Error("a browser client does ICE-TCP, so the scenario needs the real clock")
	}
	if !slices.Equal(bob.NetworkTypes, []webrtc.NetworkType{webrtc.NetworkTypeUDP4}) || bob.Fallback.Policy != harness.LiveKit {
		t.Errorf("browser client with network_types [udp4]: %v, fallback %v; want the file's types and the profile's fallback", bob.NetworkTypes, bob.Fallback.Policy)
	}
	if slices.Contains(carol.NetworkTypes, webrtc.NetworkTypeTCP4) || carol.Fallback.Policy != harness.NoFallback {
		t.Errorf("pion client: %v, fallback %v; want UDP only and no fallback", carol.NetworkTypes, carol.Fallback.Policy)
	}

	_, err = scenarios.Parse("p.yaml", []byte("name: p\nclients:\n  - name: alice\n    profile: safari\n"))
	if err == nil || !strings.Contains(err.Error(), "p.yaml:4: clients[0].profile: unknown profile \"safari\"; known: browser, pion") {
		t.Errorf("unknown profile: %v", err)
	}
}

// TestClientProfileMDNS: a browser client hides its host candidates
// behind mDNS names and reports its end as libwebrtc does; mdns: false is
// a page with camera or microphone permission, whose host addresses
// Chromium signals; a pion client does neither.
func TestClientProfileMDNS(t *testing.T) {
	doc := "name: p\nclients:\n  - name: alice\n    profile: browser\n  - name: bob\n    profile: browser\n    mdns: false\n  - name: carol\n    profile: pion\n  - name: dave\n    mdns: true\n"
	s, err := scenarios.Parse("p.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	got := func(c harness.ClientSpec) [2]bool { return [2]bool{c.MDNS, c.LibwebrtcStats} }
	want := map[string][2]bool{"alice": {true, true}, "bob": {false, true}, "carol": {false, false}, "dave": {true, false}}
	for _, c := range s.Spec.Clients {
		if got(c) != want[c.Name] {
			t.Errorf("%s: mdns, libwebrtc stats %v; want %v", c.Name, got(c), want[c.Name])
		}
	}
}
