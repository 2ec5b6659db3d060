package harness_test

import (
	"fmt"
	"time"

	"github.com/icelab/icelab/archetypes"
	"github.com/icelab/icelab/harness"
	. "github.com/icelab/icelab/harness/matchers"
	"github.com/icelab/icelab/vnet"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// natOf is the NAT a single-layer archetype puts its peer behind; the zero
// NAT (no translation, no filtering) for a public address.
func natOf(n archetypes.Network) vnet.NAT {
	if len(n.Layers) == 0 {
		return vnet.NAT{}
	}
	return n.Layers[len(n.Layers)-1].NAT
}

// needsRelay is what a network engineer predicts from RFC 4787's
// behaviours, as RFC 5128 §3.3 reasons about hole punching: a peer whose
// NAT maps per destination (address- or port-dependent mapping) sends its
// checks from a port its STUN binding never revealed, so they get through
// only a NAT that filters no finer than by address; and two such peers
// never meet. Everything else punches through.
func needsRelay(a, b vnet.NAT) bool {
	perDestination := func(n vnet.NAT) bool { return n.Mode != vnet.NoNAT && n.Mapping != vnet.EndpointIndependent }
	portFiltering := func(n vnet.NAT) bool { return n.Mode != vnet.NoNAT && n.Filtering == vnet.AddressPortDependent }
	return perDestination(a) && (perDestination(b) || portFiltering(b)) || perDestination(b) && portFiltering(a)
}

// The natlab-style matrix: every pair of single-NAT networks, the outcome
// predicted from the NATs' behaviours rather than written down per pair.
var _ = Describe("peer-to-peer between every pair of NAT behaviours", func() {
	networks := []archetypes.Network{archetypes.OpenInternet(), archetypes.FullConeRouter(),
		archetypes.AddressRestrictedRouter(), archetypes.HomeRouter(), archetypes.SymmetricNAT()}
	for i, a := range networks {
		for _, b := range networks[i:] {
			want := harness.ICEUDP
			if needsRelay(natOf(a), natOf(b)) {
				want = harness.TURNUDP
			}
			It(fmt.Sprintf("%s to %s: %s", a.Name, b.Name, want), func() {
				spec := archetypes.PeerToPeer(a.Name+" to "+b.Name, a, b)
				spec.Duration = 10 * time.Second
				res := run(spec)
				Expect(res).To(UseTransport(want))
				Expect(res).To(FlowMediaToTheEnd())
			})
		}
	}

	It("predicts what the catalog shows", func() {
		Expect(needsRelay(natOf(archetypes.SymmetricNAT()), natOf(archetypes.HomeRouter()))).To(BeTrue())
		Expect(needsRelay(natOf(archetypes.SymmetricNAT()), natOf(archetypes.SymmetricNAT()))).To(BeTrue())
		Expect(needsRelay(natOf(archetypes.FullConeRouter()), natOf(archetypes.SymmetricNAT()))).To(BeFalse())
		Expect(needsRelay(natOf(archetypes.HomeRouter()), natOf(archetypes.HomeRouter()))).To(BeFalse())
	})
})
