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

// hangUp is a call in which bob hangs up 3 s after he connects while the
// network is up, so that alice's and carol's peer connections (a mesh's, or
// the media node's session) receive his DTLS close_notify. pion closes a
// peer connection on close_notify unless told not to, and that path takes
// its SCTP lock while sctp's Abort waits up to 200 ms: inside a synctest
// bubble a goroutine waiting on a mutex is not durably blocked, so the fake
// clock never reaches the 200 ms and the call never ends (DESIGN.md; about
// 8 of 108 peer-to-peer calls hung so in an independent check). Endpoints
// and the node set DisableCloseByDTLS; without it, these calls hang.
func hangUp(p2p bool, i int) harness.Spec {
	leave := harness.Fault{Name: "bob-hangs-up", Kind: harness.Leave, Target: "bob",
		When: harness.Trigger{Event: "connected", Client: "bob", After: 3 * time.Second}}
	var spec harness.Spec
	if p2p {
		spec = archetypes.PeerToPeer("hang-up mesh", archetypes.HomeRouter(), archetypes.OpenInternet(), archetypes.HomeRouter())
		for i := range spec.Peers {
			spec.Peers[i].Publish = harness.Publish{Audio: true, Data: true}
		}
		spec.Peers[0].Name, spec.Peers[1].Name, spec.Peers[2].Name = "alice", "bob", "carol"
	} else {
		spec = call("hang-up room", harness.ClientSpec{Name: "alice"}, harness.ClientSpec{Name: "bob"}, harness.ClientSpec{Name: "carol", LAN: "home"})
		spec.LANs = []harness.LANSpec{{Name: "home", NAT: vnet.PortRestricted()}}
	}
	spec.Faults = []harness.Fault{leave}
	spec.Duration = 12 * time.Second
	spec.Seed = uint64(i)
	spec.Name = fmt.Sprintf("%s %d", spec.Name, i)
	return spec
}

var _ = Describe("a participant who hangs up first", func() {
	// The suite runs a few calls of each shape; the hunt runs many more:
	//
	//	ICELAB_HANGUP_CALLS=1000 go test -race ./harness -run TestHarness -ginkgo.focus "hangs up first"
	calls := envInt("ICELAB_HANGUP_CALLS", 3)
	for _, p2p := range []bool{true, false} {
		shape := "through the media node"
		if p2p {
			shape = "in a peer-to-peer mesh"
		}
		It("ends every call and leaves the others talking, "+shape, func() {
			hung := 0
			for i := range calls {
				spec := hangUp(p2p, i)
				res, err := watched(spec, teardownWatchdog)
				if err != nil {
					hung++
					GinkgoWriter.Println(err)
					continue
				}
				Expect(res.Err).To(BeEmpty())
				honest(res)
				if p2p {
					for _, end := range []string{"bob→alice", "bob→carol"} {
						Expect(res.Client(end).LeftAt).To(BeNumerically(">", 3*time.Second), end)
						Expect(res.Client(end).Failure).To(BeEmpty(), "hanging up is no failure")
					}
					Expect(res).To(FlowMediaToTheEnd().For("alice→carol"))
					Expect(res).To(FlowMediaToTheEnd().For("carol→alice"))
					Expect(res).To(FlowMediaBothWays().For("alice→bob"))
					// The far ends learn that bob went from ICE (consent
					// lost), not from his close_notify: with pion's default
					// they would close at once, on the path that hangs.
					for _, end := range []string{"alice→bob", "carol→bob"} {
						Expect(res.Client(end).PeerConnectionStates).NotTo(ContainElement(HaveField("State", "closed")),
							"%s closed on bob's DTLS close_notify", end)
						Expect(res.Client(end).ICEStates).To(ContainElement(HaveField("State", "disconnected")), end)
					}
				} else {
					bob := res.Client("bob")
					Expect(bob.LeftAt).To(BeNumerically(">", 3*time.Second))
					Expect(bob.Failure).To(BeEmpty(), "hanging up is no failure")
					Expect(bob.TransportSummary()).To(HavePrefix("ICE/UDP, left at"))
					// alice and carol keep hearing each other; bob's
					// tracks stop with him, which is no failure of theirs.
					Expect(res).To(FlowMediaToTheEnd().For("alice"))
					Expect(res).To(FlowMediaToTheEnd().For("carol"))
					Expect(res.Client("alice").Failure).To(BeEmpty())
				}
			}
			Expect(hung).To(BeZero(), "calls that hung or panicked, of %d", calls)
		})
	}
})
