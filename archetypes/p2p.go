package archetypes

import (
	"net/netip"
	"slices"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/vnet"
)

// peerNames name the peers PeerToPeer places, in order.
var peerNames = []string{"alice", "bob", "carol", "dave", "erin", "frank"}

// RelayServer is the name of the standalone STUN/TURN server PeerToPeer
// puts on the internet.
const RelayServer = "turn"

// ApplyPeer adds peer to spec inside the network, as Apply does for a
// client: its LANs (prefixed with its name), its faults, and the peer on
// the innermost LAN with the network's link unless the peer sets its own.
// A LAN whose address space another LAN of the spec already has gets a
// free 10.N.0.0/24 instead (one virtual network cannot route the same
// space twice): two homes both on 192.168.1.0/24 differ only in that.
func (n Network) ApplyPeer(spec *harness.Spec, peer harness.PeerSpec) {
	p := n.Place(peer.Name)
	for i, l := range p.LANs {
		if l.LANPrefix.IsValid() && slices.ContainsFunc(spec.LANs, func(o harness.LANSpec) bool {
			return o.LANPrefix.IsValid() && o.LANPrefix.Overlaps(l.LANPrefix)
		}) {
			p.LANs[i].LANPrefix = netip.Prefix{}
		}
	}
	spec.LANs = append(spec.LANs, p.LANs...)
	spec.Faults = append(spec.Faults, p.Faults...)
	peer.LAN = p.LAN
	if peer.Link == (vnet.Impairment{}) {
		peer.Link = p.Link
	}
	spec.Peers = append(spec.Peers, peer)
}

// PeerToPeer is a peer-to-peer call among one peer in each network, in
// the spirit of tailscale natlab's RunConnectivityTest(name, route, easy,
// hard): the peers are alice, bob, carol, ... in the order of the
// networks, each a pion peer publishing audio and data with pion's
// defaults (UDP, no fallback), connecting to every other (a full mesh),
// and all handed STUN and TURN/UDP of one standalone relay on the
// internet (RelayServer, LiveKit's default turn: block). The call runs 20
// s; change what you like in the spec it returns.
//
//	spec := archetypes.PeerToPeer("symmetric-to-home", archetypes.SymmetricNAT(), archetypes.HomeRouter())
func PeerToPeer(name string, networks ...Network) harness.Spec {
	spec := harness.Spec{
		Name:     name,
		Servers:  []harness.ServerSpec{{Name: RelayServer}},
		Duration: 20 * time.Second,
	}
	for i, n := range networks {
		peer := harness.PeerSpec{ClientSpec: harness.ClientSpec{
			Name:     peerNames[i%len(peerNames)],
			Publish:  harness.Publish{Audio: true, Data: true},
			Fallback: harness.Fallback{Policy: harness.NoFallback},
			Relays:   []string{"udp"},
		}}
		if i >= len(peerNames) {
			peer.Name += "-" + string(rune('0'+i/len(peerNames)))
		}
		n.ApplyPeer(&spec, peer)
	}
	return spec
}
