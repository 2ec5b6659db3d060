package scenarios_test

import (
	"strings"
	"testing"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/scenarios"
	"github.com/icelab/icelab/vnet"
)

// TestMTUFields parses the MTU fields: a LAN's uplink MTU as a size and as
// a mapping, a client's link MTU and DTLS certificate, and the fragment
// rules.
func TestMTUFields(t *testing.T) {
	doc := `name: m
network:
  lans:
    - name: vpn
      mtu: 1280
      firewall:
        - drop-fragments
        - {fragments: later, proto: udp, action: drop}
    - name: tunnel
      mtu: {size: 1400, fragment: true, icmp_too_big: false, mss_clamp: true}
clients:
  - name: alice
    lan: vpn
    mtu: 1500
    dtls_certificate: rsa-4096
    pmtu_discovery: dont
  - name: bob
    dtls_certificate: ecdsa-p256
`
	s, err := scenarios.Parse("m.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	vpn, tunnel := s.Spec.LANs[0], s.Spec.LANs[1]
	if vpn.MTU != (vnet.MTU{Size: 1280}) {
		t.Errorf("vpn MTU %+v", vpn.MTU)
	}
	if tunnel.MTU != (vnet.MTU{Size: 1400, Fragment: true, NoICMP: true, ClampMSS: true}) {
		t.Errorf("tunnel MTU %+v", tunnel.MTU)
	}
	if len(vpn.Firewall) != 2 || vpn.Firewall[0].Fragments != vnet.AllFragments || vpn.Firewall[1].Fragments != vnet.LaterFragments {
		t.Errorf("fragment rules %+v", vpn.Firewall)
	}
	alice, bob := s.Spec.Clients[0], s.Spec.Clients[1]
	if alice.MTU.Size != 1500 || alice.DTLSCertificate != harness.DTLSCertRSA4096 || bob.DTLSCertificate != harness.DTLSCertECDSA ||
		alice.PMTUDiscovery != vnet.PMTUDiscoveryDont || bob.PMTUDiscovery != vnet.PMTUDiscoveryWant {
		t.Errorf("clients %+v %+v", alice, bob)
	}
}

// TestMTURejects names the file, line and field of every bad MTU field.
func TestMTURejects(t *testing.T) {
	lan := func(body string) string {
		return "name: x\nnetwork:\n  lans:\n    - name: a\n      " + body + "\nclients:\n  - name: alice\n"
	}
	client := func(body string) string { return "name: x\nclients:\n  - name: alice\n    " + body + "\n" }
	tests := []struct{ name, doc, want string }{
		{"below 576", lan("mtu: 500"), `x.yaml:5: network.lans[0].mtu: MTU 500 is below 576, the smallest datagram every IPv4 host must accept (RFC 791)`},
		{"above 65535", lan("mtu: 70000"), `x.yaml:5: network.lans[0].mtu: MTU 70000 is above 65535, the largest IPv4 packet`},
		{"not a number", lan("mtu: jumbo"), `x.yaml:5: network.lans[0].mtu`},
		{"size below 576", lan("mtu: {size: 100}"), `x.yaml:5: network.lans[0].mtu.size: MTU 100 is below 576`},
		{"mapping without size", lan("mtu: {icmp_too_big: false}"), `x.yaml:5: network.lans[0].mtu.size: missing; want the MTU in bytes, like 1280`},
		{"icmp not a boolean", lan("mtu: {size: 1280, icmp_too_big: maybe}"), `x.yaml:5: network.lans[0].mtu.icmp_too_big`},
		{"unknown mtu field", lan("mtu: {size: 1280, df: true}"), `x.yaml:5: network.lans[0].mtu.df: unknown field "df"`},
		{"below IPv6's 1280 on an IPv6 LAN", lan("ipv6: true\n      mtu: 1200"), `x.yaml:6: network.lans[0].mtu: MTU 1200 is below 1280, IPv6's minimum link MTU (RFC 8200 section 5), and the LAN carries IPv6`},
		{"client below 576", client("mtu: 575"), `x.yaml:4: clients[0].mtu: MTU 575 is below 576`},
		{"unknown certificate", client("dtls_certificate: dsa"), `x.yaml:4: clients[0].dtls_certificate: unknown DTLS certificate "dsa"; want ecdsa-p256, rsa-2048, rsa-4096`},
		{"unknown pmtu mode", client("pmtu_discovery: probe"), `x.yaml:4: clients[0].pmtu_discovery: unknown path MTU discovery mode "probe"; want want, do, dont`},
		{"unknown fragment match", lan("firewall: [{fragments: first, action: drop}]"), `x.yaml:5: network.lans[0].firewall[0].fragments: unknown fragment match "first"; want later, all`},
		{"drop-fragments takes no arguments", lan("firewall: [{drop-fragments: 3}]"), `x.yaml:5: network.lans[0].firewall[0].drop-fragments: drop-fragments takes no arguments`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := scenarios.Parse("x.yaml", []byte(tt.doc))
			if err == nil {
				t.Fatalf("parsed %+v; want error %q", s, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
		})
	}
}
