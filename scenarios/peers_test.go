package scenarios_test

import (
	"strings"
	"testing"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/scenarios"
)

const p2pNet = "name: x\nnetwork:\n  lans:\n    - {name: home, nat: port-restricted}\n    - {name: office, nat: symmetric}\n"

// TestPeersRejected proves a peer-to-peer file's mistakes are reported at
// their line and field: clients or a node beside peers, neither, a peer on
// no LAN, an expectation for an unknown peer or remote, duplicate names, a
// server no peer can name, and what a peer cannot do.
func TestPeersRejected(t *testing.T) {
	const two = "peers:\n  - {name: alice, lan: home}\n  - {name: bob, lan: office}\n"
	tests := []struct{ name, doc, want string }{
		{"peers and clients", p2pNet + two + "clients:\n  - name: carol\n",
			`p2p.yaml:6: peers: a file has clients (of a media node) or peers (a peer-to-peer call), not both; clients are at line 9`},
		{"peers and a node", p2pNet + "node: {lan: home}\n" + two,
			`p2p.yaml:6: node: a peer-to-peer call (peers:) has no media node`},
		{"neither", p2pNet + "duration: 5s\n",
			`p2p.yaml:1: clients: missing; a scenario needs clients (with a media node) or peers (a peer-to-peer call)`},
		{"one peer", p2pNet + "peers:\n  - {name: alice, lan: home}\n",
			`p2p.yaml:7: peers: a peer-to-peer call needs at least two peers, got 1`},
		{"a peer on no LAN", p2pNet + "peers:\n  - {name: alice, lan: home}\n  - {name: bob, lan: mars}\n",
			`p2p.yaml:8: peers[1].lan: unknown LAN "mars"`},
		{"duplicate peer", p2pNet + "peers:\n  - {name: alice, lan: home}\n  - {name: alice, lan: office}\n",
			`p2p.yaml:8: peers[1].name: peer "alice" is defined twice (first at line 7)`},
		{"expectation for an unknown peer", p2pNet + two + "expect:\n  carol: {connected: true}\n",
			`p2p.yaml:10: expect.carol: unknown peer "carol"; want one of: alice, bob`},
		{"expectation for an unknown remote", p2pNet + two + "expect:\n  alice:\n    with:\n      alice: {connected: true}\n",
			`p2p.yaml:12: expect.alice.with.alice: unknown remote "alice"; want another peer: alice, bob`},
		{"an unknown server", p2pNet + "servers:\n  - {name: turn}\npeers:\n  - {name: alice, lan: home, servers: [stun2]}\n  - {name: bob, lan: office}\n",
			`p2p.yaml:9: peers[0].servers[0]: unknown server "stun2"; want one of: turn`},
		{"duplicate server", p2pNet + "servers:\n  - {name: turn}\n  - {name: turn}\n" + two,
			`p2p.yaml:8: servers[1].name: server "turn" is defined twice (first at line 7)`},
		{"a server on no LAN", p2pNet + "servers:\n  - {name: turn, lan: mars}\n" + two,
			`p2p.yaml:7: servers[0].lan: unknown LAN "mars"`},
		{"a server's certificate without a kind", p2pNet + "servers:\n  - name: turn\n    tls: {}\n" + two,
			`p2p.yaml:8: servers[0].tls.cert: missing; want generated, wrong-name, expired, missing-intermediate`},
		{"a server named as a peer", p2pNet + "servers:\n  - {name: alice}\n" + two,
			`"alice" is both a server and a client or peer`},
		{"transport fallback", p2pNet + "peers:\n  - {name: alice, lan: home, fallback: {policy: transport}}\n  - {name: bob, lan: office}\n",
			`p2p.yaml:7: peers[0].fallback.policy: "transport" is a media node's policy; a peer has none, force-relay, ice-restart`},
		{"ICE-TCP", p2pNet + "peers:\n  - {name: alice, lan: home, network_types: [udp4, tcp4]}\n  - {name: bob, lan: office}\n",
			`p2p.yaml:7: peers[0].network_types: ICE-TCP between peers is not modelled`},
		{"ice_servers and servers", p2pNet + "servers:\n  - {name: turn}\npeers:\n  - {name: alice, lan: home, servers: [turn], ice_servers: [{urls: 'stun:203.0.113.9'}]}\n  - {name: bob, lan: office}\n",
			`p2p.yaml:9: peers[0].servers: a peer has ice_servers or servers, not both`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := (&scenarios.Loader{CA: testCA}).Parse("p2p.yaml", []byte(tt.doc))
			if err == nil {
				t.Fatalf("parsed %+v; want error %q", s, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
		})
	}
}

// TestPeerExpectations proves a peer's expectation applies to each of its
// connections and with: overrides it for one remote.
func TestPeerExpectations(t *testing.T) {
	doc := p2pNet + "servers:\n  - {name: turn}\npeers:\n  - {name: alice, lan: home}\n  - {name: bob, lan: office, servers: []}\n  - {name: carol}\n" +
		"expect:\n  alice:\n    transport: ICE/UDP\n    media: {both_ways: true}\n    with:\n      bob: {transport: TURN/UDP}\n"
	s, err := (&scenarios.Loader{CA: testCA}).Parse("p2p.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Spec.Peers) != 3 || len(s.Spec.Clients) != 0 || len(s.Spec.Servers) != 1 {
		t.Fatalf("spec: %d peers, %d clients, %d servers", len(s.Spec.Peers), len(s.Spec.Clients), len(s.Spec.Servers))
	}
	if s.Spec.Peers[0].Servers != nil || s.Spec.Peers[1].Servers == nil || len(s.Spec.Peers[1].Servers) != 0 {
		t.Errorf("servers: alice %v (want nil: every server), bob %v (want none)", s.Spec.Peers[0].Servers, s.Spec.Peers[1].Servers)
	}
	if len(s.Expect) != 2 {
		t.Fatalf("expectations for %v; want alice→bob and alice→carol", s.Expect)
	}
	ab, ac := s.Expect[harness.PeerResultName("alice", "bob")], s.Expect[harness.PeerResultName("alice", "carol")]
	if len(ab.Transports) != 1 || ab.Transports[0] != harness.TURNUDP || ab.MediaBothWays == nil || !*ab.MediaBothWays {
		t.Errorf("alice→bob: %+v; want TURN/UDP with media both ways", ab)
	}
	if len(ac.Transports) != 1 || ac.Transports[0] != harness.ICEUDP || ac.MediaBothWays == nil {
		t.Errorf("alice→carol: %+v; want ICE/UDP with media both ways", ac)
	}
}
