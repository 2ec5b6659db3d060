package scenarios_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/icelab/icelab/scenarios"
)

// TestValidateRejectsWhatRunWould proves the loader rejects, at the line
// and field responsible, what would otherwise fail or mislead only when
// the scenario runs: a second document, LANs whose address space
// collides with another's, the internet's, loopback's or this machine's,
// a LAN too small for its hosts, and network types the IPv4-only network
// cannot carry. YAML syntax errors name the line that breaks the file, and
// a tab in the indentation is named as such.
func TestValidateRejectsWhatRunWould(t *testing.T) {
	const alice = "clients:\n  - name: alice\n"
	tests := []struct {
		name, doc, want string
	}{
		{"two documents", "name: a\n" + alice + "---\nname: b\n" + alice,
			`office.yaml:4: a second YAML document starts here; a scenario file holds one scenario`},
		{"duplicate prefix", "name: x\nnetwork:\n  lans:\n    - {name: a, prefix: 10.9.0.0/24}\n    - {name: b, prefix: 10.9.0.0/24}\n" + alice,
			`office.yaml:5: network.lans[1].prefix: 10.9.0.0/24 overlaps LAN a 10.9.0.0/24`},
		{"overlapping prefix", "name: x\nnetwork:\n  lans:\n    - {name: a, prefix: 10.9.0.0/16}\n    - {name: b, prefix: 10.9.4.0/24}\n" + alice,
			`office.yaml:5: network.lans[1].prefix: 10.9.4.0/24 overlaps LAN a 10.9.0.0/16`},
		{"prefix taken automatically first", "name: x\nnetwork:\n  lans:\n    - {name: a}\n    - {name: b, prefix: 10.1.0.0/24}\n" + alice,
			`office.yaml:5: network.lans[1].prefix: 10.1.0.0/24 overlaps LAN a, assigned automatically`},
		{"prefix on the internet", "name: x\nnetwork:\n  lans:\n    - {name: a, prefix: 203.0.113.128/25}\n" + alice,
			`office.yaml:4: network.lans[0].prefix: 203.0.113.128/25 overlaps the internet 203.0.113.0/24`},
		{"prefix on loopback", "name: x\nnetwork:\n  lans:\n    - {name: a, prefix: 127.5.0.0/24}\n" + alice,
			`office.yaml:4: network.lans[0].prefix: 127.5.0.0/24 overlaps loopback`},
		{"prefix on this machine", "name: x\nnetwork:\n  lans:\n    - {name: a, prefix: 192.168.7.0/24}\n" + alice,
			`office.yaml:4: network.lans[0].prefix: 192.168.7.0/24 overlaps this machine's address space 192.168.0.0/16`},
		{"LAN too small", "name: x\nnetwork:\n  lans:\n    - {name: a, prefix: 10.9.0.0/30}\nclients:\n  - {name: alice, lan: a}\n  - {name: bob, lan: a}\n",
			`office.yaml:4: network.lans[0].prefix: 10.9.0.0/30 has room for 1 host besides its router, but 2 are on it: client alice, client bob`},
		{"child routers count", "name: x\nnetwork:\n  lans:\n    - {name: isp, prefix: 10.9.0.0/30}\n    - {name: home, parent: isp}\nclients:\n  - {name: alice, lan: isp}\n",
			`network.lans[0].prefix: 10.9.0.0/30 has room for 1 host besides its router, but 2 are on it: client alice, the router of LAN home`},
		{"udp6 on the internet", "name: x\nclients:\n  - name: alice\n    network_types: [udp4, udp6]\n",
			`office.yaml:4: clients[0].network_types[1]: udp6: client alice is on the internet, whose hosts have no IPv6 here`},
		{"udp6 on an IPv4 LAN", "name: x\nnetwork:\n  lans: [{name: home}]\nclients:\n  - name: alice\n    lan: home\n    network_types: [udp6]\n",
			`office.yaml:7: clients[0].network_types[0]: udp6: LAN home carries no IPv6; give it ipv6: true`},
		{"tcp6", "name: x\nnetwork:\n  lans: [{name: home, ipv6: true}]\nclients:\n  - name: alice\n    lan: home\n    network_types: [tcp6]\n",
			`office.yaml:7: clients[0].network_types[0]: tcp6: ICE-TCP over IPv6 is not modelled`},
		{"ipv6 prefix not IPv6", "name: x\nnetwork:\n  lans: [{name: home, ipv6: 10.9.0.0/24}]\n" + alice,
			`office.yaml:3: network.lans[0].ipv6: 10.9.0.0/24: want true or an IPv6 prefix`},
		{"ipv6 prefix too small", "name: x\nnetwork:\n  lans: [{name: home, ipv6: \"2001:db8:9::/124\"}]\n" + alice,
			`office.yaml:3: network.lans[0].ipv6: 2001:db8:9::/124: too small`},
		{"ipv6 prefix on the internet's hosts", "name: x\nnetwork:\n  lans: [{name: home, ipv6: \"2001:db8::/64\"}]\n" + alice,
			`office.yaml:3: network.lans[0].ipv6: 2001:db8::/64 overlaps the internet's own hosts`},
		{"ipv6 not a boolean or prefix", "name: x\nnetwork:\n  lans: [{name: home, ipv6: yes-please}]\n" + alice,
			`office.yaml:3: network.lans[0].ipv6: "yes-please" is not a CIDR prefix`},
		{"nat64 one-to-one", "name: x\nnetwork:\n  lans: [{name: carrier, nat64: true, nat: one-to-one}]\n" + alice,
			`office.yaml:3: network.lans[0].nat: a NAT64 translates many IPv6 hosts to one IPv4 address`},
		{"IPv6-only with nat but no nat64", "name: x\nnetwork:\n  lans: [{name: carrier, ipv6_only: true, nat: symmetric}]\n" + alice,
			`office.yaml:3: network.lans[0].nat: an IPv6-only LAN has no IPv4 to translate`},
		{"nat64 not a boolean", "name: x\nnetwork:\n  lans: [{name: carrier, nat64: 1}]\n" + alice,
			`office.yaml:3: network.lans[0].nat64:`},
		{"node ipv6 on an IPv4 LAN", "name: x\nnetwork:\n  lans: [{name: dc}]\nnode:\n  lan: dc\n  ipv6: true\n" + alice,
			`office.yaml:6: node.ipv6: LAN dc carries no IPv6; give the LAN ipv6: true`},
		{"dns name to no address", "name: x\nnetwork:\n  dns: {turn.example.com: 999.1.1.1}\n" + alice,
			`office.yaml:3: network.dns.turn.example.com: "999.1.1.1" is not an IP address`},
		{"IPv6 LAN below an IPv4-only one", "name: x\nnetwork:\n  lans:\n    - {name: carrier, nat: carrier-grade}\n    - {name: home, parent: carrier, ipv6: true}\n" + alice,
			`office.yaml:5: network.lans[1].ipv6: LAN home carries IPv6 but its parent carrier does not`},
		{"node ipv6 with single_port", "name: x\nnode:\n  single_port: 7882\n  ipv6: true\n" + alice,
			`office.yaml:4: node.ipv6: single_port muxes media on one IPv4 socket`},
		{"turn_by_name not a boolean", "name: x\nnode:\n  turn_by_name: maybe\n" + alice,
			`office.yaml:3: node.turn_by_name:`},
		{"syntax error on its line", "name: x\nclients:\n  - name: alice\n  bad: : x\nduration: 5s\n",
			`office.yaml:4: invalid YAML: did not find expected '-' indicator`},
		{"unclosed list on its line", "name: x\nclients:\n  - name: alice\n    publish: [audio\nduration: 5s\n",
			`office.yaml:4: invalid YAML: did not find expected ',' or ']'`},
		{"tab in indentation", "name: x\nclients:\n\t- name: alice\n",
			`office.yaml:3: invalid YAML: a tab in the indentation; YAML indents with spaces only`},
		{"fault target lists the targets", "name: x\nnetwork: {lans: [{name: corp}]}\n" + alice + "faults:\n  - {kind: impair, target: ghost, impairment: {loss: 1%}}\n",
			`office.yaml:6: faults[0].target: "ghost" is neither a LAN nor a host (a client, peer, server, proxy or the media node); want one of: corp, alice, media`},
	}
	machine := []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16")}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := (&scenarios.Loader{CA: testCA, HostPrefixes: machine}).Parse("office.yaml", []byte(tt.doc))
			if err == nil {
				t.Fatalf("parsed %+v; want error %q", s, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
		})
	}
}

// TestAddressingAcceptsWhatRuns proves the address checks leave valid
// layouts alone: automatic LANs beside explicit ones, nested LANs, a /30
// holding its one host.
func TestAddressingAcceptsWhatRuns(t *testing.T) {
	doc := "name: x\nnetwork:\n  lans:\n    - {name: isp, prefix: 10.1.0.0/24}\n    - {name: home, parent: isp}\n    - {name: tiny, prefix: 172.16.0.0/30}\n" +
		"clients:\n  - {name: alice, lan: home}\n  - {name: bob, lan: tiny}\n"
	if _, err := (&scenarios.Loader{CA: testCA, HostPrefixes: []netip.Prefix{}}).Parse("office.yaml", []byte(doc)); err != nil {
		t.Fatal(err)
	}
}
