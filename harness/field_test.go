package harness_test

import (
	"time"

	"github.com/icelab/icelab/harness"
	. "github.com/icelab/icelab/harness/matchers"
	"github.com/icelab/icelab/vnet"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/pion/webrtc/v4"
)

// roaming is a call whose client leaves Wi-Fi for a cellular network
// (carrier-grade NAT) ten seconds after it connected.
func roaming(policy harness.FallbackPolicy) harness.Spec {
	spec := call("roaming", harness.ClientSpec{Name: "alice", LAN: "wifi", Fallback: harness.Fallback{Policy: policy}}, harness.ClientSpec{Name: "bob"})
	spec.LANs = []harness.LANSpec{
		{Name: "wifi", NAT: vnet.PortRestricted()},
		{Name: "cellular", NAT: vnet.CarrierGrade()},
	}
	spec.Faults = []harness.Fault{{Name: "leave-wifi", When: harness.Trigger{Event: "connected", Client: "alice", After: 10 * time.Second},
		Kind: harness.Move, Target: "alice", To: "cellular"}}
	spec.Duration = 60 * time.Second
	return spec
}

var _ = Describe("the field beyond the seeds", func() {
	It("recovers a client that roams from Wi-Fi to cellular with ICE restart, and reports its outage", func() {
		res := run(roaming(harness.ICERestart))
		alice := res.Client("alice")
		Expect(res.Faults).To(ContainElement(HaveField("What", ContainSubstring("moved alice from"))))
		Expect(res).To(RecoverWithin(40 * time.Second).For("alice"))
		Expect(res).To(FlowMediaToTheEnd().For("alice"))
		Expect(alice.MediaRecoveryTime()).To(BeNumerically(">", 0), "the outage from media stop to media flowing")
		Expect(alice.Selected.Local.Address).NotTo(HavePrefix("10.1."), "the new path is from the cellular network")
	})

	It("loses a roaming client for good without a fallback policy", func() {
		res := run(roaming(harness.NoFallback))
		Expect(res).To(NotRecover().For("alice"))
		Expect(res.Client("alice").TransportSummary()).To(ContainSubstring("lost at"))
	})

	It("connects a phone behind Wi-Fi behind a carrier-grade NAT directly, with the carrier's address as its reflexive one", func() {
		spec := call("cgnat", harness.ClientSpec{Name: "phone", LAN: "home"}, harness.ClientSpec{Name: "bob"})
		spec.LANs = []harness.LANSpec{
			{Name: "carrier", NAT: vnet.CarrierGrade()},
			{Name: "home", Parent: "carrier", NAT: vnet.PortRestricted()},
		}
		spec.Duration = 15 * time.Second
		res := run(spec)
		Expect(res).To(UseTransport(harness.ICEUDP).For("phone"))
		Expect(res).To(FlowMediaToTheEnd())
		phone := res.Client("phone")
		Expect(phone.LocalCandidates).To(ContainElement(SatisfyAll(HaveField("Type", "srflx"), HaveField("Address", HavePrefix("203.0.113.")))))
	})

	It("connects through a guest network that throttles UDP, but loses media above the rate", func() {
		spec := call("throttled", harness.ClientSpec{Name: "visitor", LAN: "guest", Publish: harness.Publish{Video: true}}, harness.ClientSpec{Name: "bob"})
		spec.LANs = []harness.LANSpec{{Name: "guest", NAT: vnet.PortRestricted(), Firewall: vnet.ThrottleUDP(500_000)}}
		spec.Duration = 20 * time.Second
		res := run(spec)
		Expect(res).To(UseTransport(harness.ICEUDP).For("visitor"))
		Expect(res).NotTo(LoseAtMost(0.20).For("visitor"), "1.5 Mbit/s of video through a 500 kbit/s policer")
		Expect(res.Drops).To(HaveKey(ContainSubstring("throttle-udp): over 500 kbit/s")))
	})
})

var _ = Describe("a client that goes quiet", func() {
	It("keeps its call through a 20 s mute behind a NAT with a 10 s mapping lifetime, the silence reported as an outage", func() {
		spec := call("quiet", harness.ClientSpec{Name: "alice", LAN: "home", Publish: harness.Publish{Audio: true}},
			harness.ClientSpec{Name: "bob", Publish: harness.Publish{Audio: true}})
		nat := vnet.PortRestricted()
		nat.MappingLifetime = 10 * time.Second
		spec.LANs = []harness.LANSpec{{Name: "home", NAT: nat}}
		spec.Faults = []harness.Fault{
			{Name: "mute", When: harness.Trigger{Event: "connected", Client: "alice", After: 5 * time.Second}, Kind: harness.Mute, Target: "alice"},
			{Name: "unmute", When: harness.Trigger{Event: "connected", Client: "alice", After: 25 * time.Second}, Kind: harness.Unmute, Target: "alice"},
		}
		spec.Duration = 40 * time.Second
		res := run(spec)
		alice := res.Client("alice")
		Expect(res).To(UseTransport(harness.ICEUDP).For("alice"))
		Expect(res).To(FlowMediaToTheEnd().For("alice"))
		Expect(alice.Outages).To(HaveLen(1))
		Expect(alice.Outages[0].Duration()).To(BeNumerically("~", 20*time.Second, time.Second), "the mute, from media stop to media flowing")
		up := flow(alice, "alice/audio", "at-node")
		Expect(up.Last).To(BeNumerically(">", 35*time.Second), "alice's audio reached the node again after unmuting")
	})
})

var _ = Describe("a TURN/TLS certificate issued by an intermediate", func() {
	chained := func(leafOnly bool) harness.Result {
		inter, err := ca.Intermediate("icelab intermediate CA")
		Expect(err).NotTo(HaveOccurred())
		leaf, err := inter.Valid(turnDomain)
		Expect(err).NotTo(HaveOccurred())
		if leafOnly {
			leaf = leaf.LeafOnly()
		}
		cfg := nodeConfig(0)
		cfg.TURN.TLSPort = 443
		cfg.TURN.Certificate = &leaf.Certificate
		spec := call("chain", harness.ClientSpec{Name: "alice", LAN: "corp"})
		spec.LANs = []harness.LANSpec{{Name: "corp", NAT: vnet.PortRestricted(), Firewall: vnet.OnlyTCPOut(80, 443)}}
		spec.Node.Config = cfg
		spec.Duration = 15 * time.Second
		return run(spec)
	}

	It("connects over TURN/TLS when the relay sends the intermediate with its certificate", func() {
		Expect(chained(false)).To(UseTransport(harness.TURNTLS).For("alice"))
	})

	It("fails without the intermediate, naming the issuer the chain lacks", func() {
		res := chained(true)
		Expect(res).NotTo(Connect().For("alice"))
		Expect(res).To(FailWithReason("issued by CN=icelab intermediate CA").For("alice"))
	})
})

var _ = Describe("TURN REST credentials minted by a clock that is off", func() {
	minted := func(offset time.Duration) harness.Result {
		spec := call("skew", harness.ClientSpec{Name: "alice", LAN: "home", Policy: webrtc.ICETransportPolicyRelay})
		spec.LANs = []harness.LANSpec{{Name: "home", NAT: vnet.PortRestricted()}}
		spec.Node.Config = nodeConfig(0)
		spec.Node.CredentialTTL = time.Hour
		spec.Node.MintClockOffset = offset
		spec.Duration = 15 * time.Second
		return run(spec)
	}

	It("allocate when the minting clock agrees with the relay's", func() {
		Expect(minted(0)).To(UseTransport(harness.TURNUDP).For("alice"))
	})

	It("are refused with 401 when the minting clock is two hours behind a one-hour TTL", func() {
		res := minted(-2 * time.Hour)
		Expect(res).NotTo(Connect().For("alice"))
		Expect(res).To(FailWithReason("401").For("alice"))
		Expect(res.Relay.Allocations).To(BeZero())
	})
})
