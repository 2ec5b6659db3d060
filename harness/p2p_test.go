package harness_test

import (
	"net/netip"
	"time"

	"github.com/icelab/icelab/archetypes"
	"github.com/icelab/icelab/harness"
	. "github.com/icelab/icelab/harness/matchers"
	"github.com/icelab/icelab/relay"
	"github.com/icelab/icelab/vnet"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/pion/webrtc/v4"
)

// ends names both ends of the alice-bob connection.
var (
	aliceToBob = harness.PeerResultName("alice", "bob")
	bobToAlice = harness.PeerResultName("bob", "alice")
)

// selected returns the named end's selected pair, failing without one.
func selected(res harness.Result, end string) harness.Pair {
	GinkgoHelper()
	c := res.Client(end)
	Expect(c).NotTo(BeNil(), "no result for %s", end)
	Expect(c.Selected).NotTo(BeNil(), "%s selected no pair", end)
	return *c.Selected
}

var _ = Describe("a peer-to-peer call", func() {
	// RFC 4787 §4.1 and §5: a port-restricted NAT (endpoint-independent
	// mapping, address-and-port-dependent filtering) admits only the
	// ports its host has sent to, and a symmetric NAT sends from a new
	// port to every new destination, so the port alice's router admits is
	// never the one bob's NAT uses towards her: no direct pair works. A
	// TURN permission is per IP address (RFC 8656 §9), so the peer behind
	// the symmetric NAT reaches the other's relay from any port, and one
	// relay suffices. Of the two relayed pairs that work, the controlling
	// peer's host to the controlled peer's relay has the higher priority
	// (RFC 8445 §6.1.2.3: the tie between them is broken by the
	// controlling agent's candidate), so the answerer relays.
	It("relays between a symmetric NAT and a port-restricted one, on the answerer's side, over TURN/UDP", func() {
		res := run(archetypes.PeerToPeer("port-restricted to symmetric", archetypes.HomeRouter(), archetypes.SymmetricNAT()))
		Expect(res.Clients).To(HaveLen(2))
		Expect(res).To(UseTransport(harness.TURNUDP))
		Expect(res).To(FlowMediaToTheEnd())
		Expect(selected(res, aliceToBob).Remote.Type).To(Equal("relay"))
		Expect(selected(res, bobToAlice).Local.Type).To(Equal("relay"))
		Expect(selected(res, bobToAlice).Local.RelayProtocol).To(Equal("udp"))
		Expect(res.Client(bobToAlice).Route).To(HavePrefix("relayed: relay(TURN/UDP) ↔ "))
		Expect(res.Relay.Allocations).To(BeNumerically(">=", 1))
		Expect(res.Relay.PacketsRelayed).To(BeNumerically(">", 0))
		// pion (ice v4.4.9) accepts a relayed pair no sooner than 2 s
		// after checks begin (defaultRelayAcceptanceMinWait), where
		// libwebrtc nominates once a pair succeeds: a pion call that
		// relays connects seconds later than a browser's would.
		Expect(res.Client(aliceToBob).ConnectedAt).To(BeNumerically(">=", 2*time.Second))
	})

	// A full-cone NAT (endpoint-independent filtering, RFC 4787 §5)
	// admits anyone once its host has sent once, so the symmetric side's
	// packets from its per-destination port get through, and alice learns
	// that port as a peer-reflexive candidate.
	It("connects a full-cone NAT and a symmetric one directly, over a prflx or srflx pair", func() {
		res := run(archetypes.PeerToPeer("full cone to symmetric", archetypes.FullConeRouter(), archetypes.SymmetricNAT()))
		Expect(res).To(UseTransport(harness.ICEUDP))
		Expect(res).To(FlowMediaToTheEnd())
		for _, end := range []string{aliceToBob, bobToAlice} {
			p := selected(res, end)
			Expect(p.Local.Type).NotTo(Equal("relay"), end)
			Expect(p.Remote.Type).To(BeElementOf("prflx", "srflx"), end)
			Expect(res.Client(end).Route).To(HavePrefix("direct: "))
			// ... and a peer-reflexive one no sooner than 1 s
			// (defaultPrflxAcceptanceMinWait).
			Expect(res.Client(end).ConnectedAt).To(BeNumerically(">=", time.Second), end)
		}
	})

	It("relays between two symmetric NATs", func() {
		res := run(archetypes.PeerToPeer("symmetric both sides", archetypes.SymmetricNAT(), archetypes.SymmetricNAT()))
		Expect(res).To(UseTransport(harness.TURNUDP))
		Expect(res).To(FlowMediaToTheEnd())
		Expect(res.Relay.PacketsRelayed).To(BeNumerically(">", 0))
	})

	It("fails between two symmetric NATs with STUN only, and says ICE found no pair", func() {
		spec := archetypes.PeerToPeer("symmetric both sides, STUN only", archetypes.SymmetricNAT(), archetypes.SymmetricNAT())
		spec.Servers[0].Addr = netip.MustParseAddr("203.0.113.50")
		for i := range spec.Peers {
			spec.Peers[i].ICEServers = []webrtc.ICEServer{{URLs: []string{"stun:203.0.113.50:3478"}}}
		}
		res := run(spec)
		Expect(res).NotTo(Connect())
		Expect(res).To(FailWithReason("ICE never connected"))
		Expect(res).To(FailWithReason("neither peer gathered a relay candidate"))
		Expect(res).To(FailWithReason("nat: filtered (address-and-port-dependent)"))
		Expect(res.Relay.Allocations).To(BeZero())
		for _, c := range res.Clients {
			Expect(c.LocalCandidates).To(ContainElement(HaveField("Type", "srflx")), "%s gathered through STUN", c.Name)
		}
	})

	It("connects three peers on different networks in a full mesh, with media both ways on every pair", func() {
		res := run(archetypes.PeerToPeer("three-way mesh", archetypes.HomeRouter(), archetypes.SymmetricNAT(), archetypes.OpenInternet()))
		Expect(res.Clients).To(HaveLen(6))
		Expect(res).To(FlowMediaToTheEnd())
		for _, c := range res.Clients {
			Expect(c.Peer).NotTo(Equal(c.Remote))
			Expect(c.Name).To(Equal(harness.PeerResultName(c.Peer, c.Remote)))
			Expect(c.NodeSelected).NotTo(BeNil(), "%s: the remote's end of the pair", c.Name)
		}
		Expect(res.Peer("carol")).To(HaveLen(2))
		// Home router to symmetric NAT relays, as above; the peer on a
		// public address is reached directly from both.
		Expect(res).To(UseTransport(harness.TURNUDP).For(aliceToBob))
		Expect(res).To(UseTransport(harness.TURNUDP).For(bobToAlice))
		Expect(res).To(UseTransport(harness.ICEUDP).ForPeer("carol"))
		Expect(res).NotTo(UseTransport(harness.ICEUDP).ForPeer("alice"), "one of alice's connections relays")
		for _, end := range []string{"alice→carol", "bob→carol"} {
			Expect(res).To(UseTransport(harness.ICEUDP).For(end))
		}
	})

	// A relay on a cloud VM behind a one-to-one NAT advertises the address
	// it is configured to: its private one by default (LiveKit's
	// use_external_ip: false; coturn without external-ip), the external
	// one with rtc.use_external_ip. Two relayed ends still meet, because
	// the server reaches its own private address.
	DescribeTable("relays on both ends when both peers force relay, through a relay on a cloud VM",
		func(useExternalIP bool, prefix string) {
			spec := archetypes.PeerToPeer("relay only", archetypes.HomeRouter(), archetypes.OpenInternet())
			spec.LANs = append(spec.LANs, harness.LANSpec{Name: "cloud", NAT: vnet.CloudOneToOne(), LANPrefix: netip.MustParsePrefix("10.20.0.0/24")})
			spec.Servers[0].LAN = "cloud"
			spec.Servers[0].Config = relay.DefaultConfig()
			spec.Servers[0].Config.TURN.Domain = "turn.example.test"
			spec.Servers[0].Config.RTC.UseExternalIP = useExternalIP
			for i := range spec.Peers {
				spec.Peers[i].Fallback.Policy = harness.ForceRelay
			}
			res := run(spec)
			Expect(res).To(UseTransport(harness.TURNUDP))
			Expect(res).To(FlowMediaToTheEnd())
			for _, end := range []string{aliceToBob, bobToAlice} {
				Expect(res.Client(end).Route).To(Equal("relayed: relay(TURN/UDP) ↔ relay(TURN/UDP)"), end)
				Expect(selected(res, end).Local.Address).To(HavePrefix(prefix), end)
			}
			Expect(res.Relay.Allocations).To(BeNumerically(">=", 2))
		},
		Entry("use_external_ip: false advertises the private address", false, "10.20.0."),
		Entry("use_external_ip: true advertises the external address", true, "203.0.113."),
	)

	It("carries audio, video and data both ways between two peers, each track on its own transceiver", func() {
		spec := archetypes.PeerToPeer("video call", archetypes.OpenInternet(), archetypes.HomeRouter())
		spec.Peers[0].Publish = harness.Publish{Audio: true, Video: true, Data: true}
		spec.Peers[1].Publish = harness.Publish{Audio: true, Video: true}
		spec.Duration = 10 * time.Second
		res := run(spec)
		Expect(res).To(UseTransport(harness.ICEUDP))
		Expect(res).To(FlowMediaToTheEnd())
		var flows []string
		for _, m := range res.Client(aliceToBob).Media {
			if m.Packets > 0 && m.Sent > 0 {
				flows = append(flows, m.Track+" "+m.Direction)
			}
		}
		Expect(flows).To(ConsistOf("alice/audio at-remote", "alice/video at-remote", "alice/data at-remote",
			"bob/audio received", "bob/video received"))
		// One flow, seen from both ends: bob's end lists alice's audio as
		// received, with the same counts.
		mine := res.Client(aliceToBob).Media
		theirs := res.Client(bobToAlice).Media
		Expect(theirs).To(ContainElement(SatisfyAll(HaveField("Track", "alice/audio"), HaveField("Direction", "received"),
			HaveField("Sent", mine[0].Sent), HaveField("Packets", mine[0].Packets))))
		Expect(res.Client(bobToAlice).Media).NotTo(ContainElement(HaveField("Track", "bob/data")), "bob sends no data")
	})

	It("recovers a pair with an ICE restart after one peer roams to another network", func() {
		spec := archetypes.PeerToPeer("roaming peer", archetypes.HomeRouter(), archetypes.OpenInternet())
		spec.LANs = append(spec.LANs, harness.LANSpec{Name: "cellular", NAT: vnet.CarrierGrade()})
		spec.Peers[0].Fallback.Policy = harness.ICERestart
		spec.Faults = []harness.Fault{{Name: "leave-wifi", Kind: harness.Move, Target: "alice", To: "cellular",
			When: harness.Trigger{Event: "connected", Client: "alice", After: 10 * time.Second}}}
		spec.Duration = 60 * time.Second
		res := run(spec)
		Expect(res.Faults).To(ContainElement(HaveField("What", ContainSubstring("moved alice from"))))
		Expect(res).To(RecoverWithin(40 * time.Second))
		Expect(res).To(FlowMediaToTheEnd())
		Expect(res.Client(aliceToBob).Attempts).To(ContainElement(HaveField("Why", ContainSubstring("ICE restart"))))
	})

	It("loses the pair for good when neither peer restarts ICE", func() {
		spec := archetypes.PeerToPeer("roaming peer", archetypes.HomeRouter(), archetypes.OpenInternet())
		spec.LANs = append(spec.LANs, harness.LANSpec{Name: "cellular", NAT: vnet.CarrierGrade()})
		spec.Faults = []harness.Fault{{Name: "leave-wifi", Kind: harness.Move, Target: "alice", To: "cellular",
			When: harness.Trigger{Event: "connected", Client: "alice", After: 10 * time.Second}}}
		spec.Duration = 60 * time.Second
		res := run(spec)
		Expect(res).To(NotRecover())
		Expect(res.Client(aliceToBob).TransportSummary()).To(ContainSubstring("lost at"))
	})
})

var _ = DescribeTable("a peer-to-peer spec that cannot run",
	func(change func(*harness.Spec), want string) {
		spec := archetypes.PeerToPeer("bad", archetypes.HomeRouter(), archetypes.OpenInternet())
		change(&spec)
		res := harness.RunT(suiteT, spec)
		Expect(res.Err).To(ContainSubstring(want))
	},
	Entry("peers and clients", func(s *harness.Spec) { s.Clients = []harness.ClientSpec{{Name: "carol"}} }, "or peers, not both"),
	Entry("one peer", func(s *harness.Spec) { s.Peers = s.Peers[:1] }, "at least two peers"),
	Entry("a peer on no LAN", func(s *harness.Spec) { s.Peers[1].LAN = "mars" }, `peer bob: lan "mars" is not defined`),
	Entry("an unknown server", func(s *harness.Spec) { s.Peers[0].Servers = []string{"stun2"} }, `peer alice: server "stun2" is not defined`),
	Entry("ICE-TCP", func(s *harness.Spec) {
		s.Peers[0].NetworkTypes = []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4}
	}, "ICE-TCP between peers is not modelled"),
	Entry("transport fallback", func(s *harness.Spec) { s.Peers[0].Fallback.Policy = harness.TransportFallback }, "is a media node's"),
	Entry("duplicate names", func(s *harness.Spec) { s.Peers[1].Name = "alice" }, `duplicate name "alice"`),
	Entry("a media node", func(s *harness.Spec) { s.Node.LAN = "alice-home" }, "a peer-to-peer call has no media node"),
	Entry("a server on no LAN", func(s *harness.Spec) { s.Servers[0].LAN = "mars" }, `server turn: lan "mars" is not defined`),
)

// A peer is placed and makes its peer connections as a client does
// (harness/endpoint.go), so what the network does to a client's link does
// the same to a peer's: here a 1200-byte tunnel that sends no ICMP (a path
// MTU black hole, RFC 2923) swallows the 1253-byte datagrams of the
// RSA-4096 certificate flight of alice's DTLS handshake. The same call
// without the tunnel's MTU connects.
var _ = Describe("a peer behind a path MTU black hole", func() {
	blackHole := func(mtu vnet.MTU) harness.Spec {
		alice := harness.PeerSpec{ClientSpec: harness.ClientSpec{Name: "alice", LAN: "vpn",
			DTLSCertificate: harness.DTLSCertRSA4096, Publish: harness.Publish{Audio: true}}}
		bob := harness.PeerSpec{ClientSpec: harness.ClientSpec{Name: "bob", Publish: harness.Publish{Audio: true}}}
		return harness.Spec{
			Name:     "p2p black hole",
			LANs:     []harness.LANSpec{{Name: "vpn", NAT: vnet.FullCone(), MTU: mtu}},
			Peers:    []harness.PeerSpec{alice, bob},
			Duration: 10 * time.Second,
		}
	}
	It("connects without the tunnel's MTU", func() {
		Expect(run(blackHole(vnet.MTU{}))).To(SatisfyAll(Connect(), FlowMediaToTheEnd()))
	})
	It("stalls the DTLS handshake, and says why, as it does a client's", func() {
		res := run(blackHole(vnet.MTU{Size: 1200, NoICMP: true}))
		Expect(res).To(EndIn("connecting").For(aliceToBob))
		Expect(res).To(FailWithReason("the DTLS handshake stalled: packets larger than the path MTU vanished without an ICMP message").For(aliceToBob))
	})
})

// Two phones on IPv6-only carriers (no NAT for IPv6, as deployed; each
// carrier's router admits inbound IPv6 only as replies, RFC 6092 simple
// security) call each other on udp6 with no STUN or TURN server: each
// side's connectivity checks open its own firewall for the other's, as on
// a port-restricted NAT, and their global host addresses pair directly.
var _ = Describe("a peer-to-peer call over IPv6", func() {
	It("connects two IPv6-only phones directly, host to host over udp6, through both RFC 6092 firewalls", func() {
		phone := func(name, lan string) harness.PeerSpec {
			return harness.PeerSpec{ClientSpec: harness.ClientSpec{Name: name, LAN: lan,
				NetworkTypes: []webrtc.NetworkType{webrtc.NetworkTypeUDP6}, Publish: harness.Publish{Audio: true}}}
		}
		res := run(harness.Spec{
			Name:     "p2p ipv6",
			LANs:     []harness.LANSpec{{Name: "carrier-a", IPv6Only: true}, {Name: "carrier-b", IPv6Only: true}},
			Peers:    []harness.PeerSpec{phone("alice", "carrier-a"), phone("bob", "carrier-b")},
			Duration: 10 * time.Second,
		})
		Expect(res).To(SatisfyAll(Connect(), UseTransport(harness.ICEUDP), FlowMediaToTheEnd()))
		for _, end := range []string{aliceToBob, bobToAlice} {
			pair := selected(res, end)
			Expect(pair.Local.Type).To(Equal("host"), "%s's local candidate", end)
			Expect(pair.Local.Address).To(HavePrefix("[2001:db8:"), "%s's local candidate", end)
			Expect(pair.Remote.Address).To(HavePrefix("[2001:db8:"), "%s's remote candidate", end)
		}
	})
})
