package scenarios_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/icelab/icelab/scenarios"
	"github.com/icelab/icelab/vnet"
	"github.com/pion/webrtc/v4"
)

// TestIPv6Fields proves the IPv6 fields reach the harness spec: a LAN's
// IPv6 prefix, an IPv6-only NAT64 LAN with its NAT, the node's IPv6 and
// TURN by name, udp6 on a client of an IPv6 LAN, and an AAAA name.
func TestIPv6Fields(t *testing.T) {
	doc := `name: v6
network:
  lans:
    - {name: home, ipv6: "2001:db8:77::/64", nat: port-restricted}
    - {name: carrier, ipv6_only: true, nat64: true, nat: address-restricted}
    - {name: dual, ipv6: true}
  dns:
    v6.example: 2001:db8::99
node:
  ipv6: true
  turn_by_name: true
clients:
  - {name: alice, lan: home, network_types: [udp4, udp6]}
  - {name: phone, lan: carrier, network_types: [udp6]}
`
	s, err := scenarios.Parse("v6.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	lans := s.Spec.LANs
	if len(lans) != 3 {
		t.Fatalf("LANs %+v", lans)
	}
	if !lans[0].IPv6 || lans[0].IPv6Prefix != netip.MustParsePrefix("2001:db8:77::/64") {
		t.Errorf("home: IPv6 %v prefix %s", lans[0].IPv6, lans[0].IPv6Prefix)
	}
	if c := lans[1]; !c.IPv6Only || !c.NAT64 || c.NAT.Filtering != vnet.AddressDependent || !c.CarriesIPv6() {
		t.Errorf("carrier: %+v", c)
	}
	if d := lans[2]; !d.IPv6 || d.IPv6Prefix.IsValid() {
		t.Errorf("dual: IPv6 %v prefix %s, want an automatic prefix", d.IPv6, d.IPv6Prefix)
	}
	if !s.Spec.Node.IPv6 || !s.Spec.Node.TURNByName {
		t.Errorf("node: IPv6 %v, TURNByName %v", s.Spec.Node.IPv6, s.Spec.Node.TURNByName)
	}
	if !slices.Equal(s.Spec.Clients[1].NetworkTypes, []webrtc.NetworkType{webrtc.NetworkTypeUDP6}) {
		t.Errorf("phone network types %v", s.Spec.Clients[1].NetworkTypes)
	}
	if s.Spec.Names["v6.example"] != "2001:db8::99" {
		t.Errorf("AAAA name: %q", s.Spec.Names["v6.example"])
	}
	if s.RealClock {
		t.Error("udp6 needs no real clock")
	}
}

// TestProfilesGatherIPv6 proves a profile gathers udp6 on a LAN that
// carries IPv6, as a browser or pion would, and not elsewhere; a file's
// own network_types win.
func TestProfilesGatherIPv6(t *testing.T) {
	doc := `name: p
network:
  lans: [{name: carrier, ipv6_only: true, nat64: true}, {name: home}]
clients:
  - {name: a, lan: carrier, profile: browser}
  - {name: b, lan: home, profile: browser}
  - {name: c, lan: carrier, profile: pion, network_types: [udp4]}
`
	s, err := scenarios.Parse("p.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	has6 := func(i int) bool { return slices.Contains(s.Spec.Clients[i].NetworkTypes, webrtc.NetworkTypeUDP6) }
	if !has6(0) || has6(1) || has6(2) {
		t.Errorf("udp6 in a (IPv6 LAN) %v, b (IPv4 LAN) %v, c (its own types) %v; want true, false, false", has6(0), has6(1), has6(2))
	}
}
