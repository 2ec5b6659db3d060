package harness_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/icelab/icelab/harness"
	. "github.com/icelab/icelab/harness/matchers"
	"github.com/icelab/icelab/relay"
	"github.com/icelab/icelab/vnet"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/pion/webrtc/v4"
)

const turnDomain = "turn.example.com"

// nodeConfig is a livekit.yaml for the node: TURN with a key, a small
// relay range, and TLS on tlsPort with a certificate for the TURN domain
// when tlsPort is not zero.
func nodeConfig(tlsPort int) relay.Config {
	cfg := relay.DefaultConfig()
	cfg.TURN.Domain = turnDomain
	cfg.TURN.RelayRangeStart, cfg.TURN.RelayRangeEnd = 30000, 30049
	cfg.Keys = map[string]string{"devkey": "devsecret"}
	if tlsPort != 0 {
		leaf, err := ca.Valid(turnDomain)
		Expect(err).NotTo(HaveOccurred())
		cfg.TURN.TLSPort = tlsPort
		cfg.TURN.Certificate = &leaf.Certificate
	}
	return cfg
}

// call is the usual call: every client publishing audio and data (the
// open-internet spec adds video; video's SRTP dominates a run's CPU).
func call(name string, clients ...harness.ClientSpec) harness.Spec {
	for i := range clients {
		if clients[i].Publish == (harness.Publish{}) {
			clients[i].Publish = harness.Publish{Audio: true, Data: true}
		}
	}
	return harness.Spec{Name: name, Node: harness.NodeSpec{Config: nodeConfig(443)}, Clients: clients, Duration: 30 * time.Second}
}

// turnServers are ICE servers with the node's TURN credentials for user, as
// an app hands its own (or LiveKit's rtc.turn_servers adds): LiveKit's node
// itself hands out TURN/UDP and TURN/TLS on 443 only.
func turnServers(user string, urls ...string) []webrtc.ICEServer {
	name, pass := relay.RESTCredentials("devsecret", user, time.Now().Add(24*time.Hour))
	return []webrtc.ICEServer{{URLs: urls, Username: name, Credential: pass}}
}

func run(spec harness.Spec) harness.Result {
	res := harness.RunT(suiteT, spec, harness.WithCA(ca))
	Expect(res.Err).To(BeEmpty())
	Expect(res.Clock).To(Equal(harness.FakeClock))
	Expect(res.Interrupted).To(BeFalse())
	honest(res)
	return res
}

// honest checks what every result must hold, whatever the call: a stated
// failure has a detection time, a client that connected names what
// carried it (and only one that never connected says none), every packet
// counted as received was counted as sent by its sender, and each stream
// received at most what it was sent; no address of the harness's loopback
// bridge shows, and each candidate is listed once.
func honest(res harness.Result) {
	GinkgoHelper()
	for _, c := range res.Clients {
		if c.Failure != "" {
			Expect(c.FailedAt).To(BeNumerically(">", 0), "%s: a failure is stated (%s), so it was detected", c.Name, c.Failure)
		}
		if c.Connected {
			Expect(c.Transport).NotTo(Equal(harness.NoTransport), "%s connected, so something carried the call", c.Name)
		} else {
			Expect(c.Transport).To(Equal(harness.NoTransport), c.Name)
		}
		for _, m := range c.Media {
			Expect(m.Packets).To(BeNumerically("<=", m.Sent), "%s: %s %s received more than its sender sent", c.Name, m.Track, m.Direction)
			for _, s := range m.Streams {
				q := s.Quality
				Expect(q.Packets).To(BeNumerically("<=", q.Sent), "%s: %s stream %d received more than was sent", c.Name, m.Track, s.SSRC)
				Expect(q.Lost+q.InFlight).To(BeNumerically("<=", q.Sent-q.Packets), "%s: %s stream %d", c.Name, m.Track, s.SSRC)
				if q.NothingReceived {
					Expect(q.LossRate).To(BeZero())
				}
			}
		}
		var shown []string
		for _, cs := range [][]harness.Candidate{c.LocalCandidates, c.RemoteCandidates} {
			seen := map[harness.Candidate]bool{}
			for _, cand := range cs {
				shown = append(shown, cand.Address)
				cand.At = 0
				Expect(seen).NotTo(HaveKey(cand), "%s: candidate %s listed twice", c.Name, cand)
				seen[cand] = true
			}
		}
		for _, p := range []*harness.Pair{c.Selected, c.NodeSelected} {
			if p != nil {
				shown = append(shown, p.String())
			}
		}
		for _, ch := range c.Checks {
			shown = append(shown, ch.Local, ch.Remote)
		}
		Expect(c.GatherErrors).NotTo(ContainElement(ContainSubstring("no suitable address")),
			"%s: pion's IPv6 attempts on an IPv4-only network explain nothing", c.Name)
		shown = append(shown, c.Failure, c.SignallingError)
		shown = append(shown, c.GatherErrors...)
		for _, s := range shown {
			Expect(s).NotTo(MatchRegexp(`\b127\.`), "%s: a loopback bridge address shows", c.Name)
		}
	}
}

var _ = Describe("a call through the virtual network", func() {
	It("uses ICE/UDP on the open internet, with host and srflx candidates", func() {
		spec := call("open internet", harness.ClientSpec{Name: "alice", Publish: harness.Publish{Audio: true, Video: true, Data: true}}, harness.ClientSpec{Name: "bob", LAN: "home"})
		spec.LANs = []harness.LANSpec{{Name: "home", NAT: vnet.PortRestricted()}}
		res := run(spec)
		Expect(res).To(UseTransport(harness.ICEUDP))
		Expect(res).To(FlowMediaToTheEnd())
		Expect(res).To(SelectCandidates("host", "host").For("alice"))
		Expect(res.Client("bob").Selected.Local.Type).To(BeElementOf("host", "srflx"))
	})

	It("uses TURN/UDP when the client and the node are both behind symmetric NATs", func() {
		spec := call("symmetric both sides", harness.ClientSpec{Name: "alice", LAN: "home-a"}, harness.ClientSpec{Name: "bob", LAN: "home-b"})
		// The node sits behind a symmetric NAT that forwards only
		// signalling and TURN. Its embedded relay hands out relay
		// addresses on the node's own private address, which only the
		// node itself reaches: the relay-to-SFU leg never leaves the host.
		nodeNAT := vnet.Symmetric()
		nodeAddr := netip.MustParseAddr("10.9.0.2")
		nodeNAT.Forwards = append(nodeNAT.Forwards,
			vnet.Forward{Proto: vnet.TCP, ExternalPort: 443, Internal: netip.AddrPortFrom(nodeAddr, 443)},
			vnet.Forward{Proto: vnet.UDP, ExternalPort: 3478, Internal: netip.AddrPortFrom(nodeAddr, 3478)},
			vnet.Forward{Proto: vnet.TCP, ExternalPort: 3478, Internal: netip.AddrPortFrom(nodeAddr, 3478)},
		)
		spec.LANs = []harness.LANSpec{
			{Name: "home-a", NAT: vnet.Symmetric()},
			{Name: "home-b", NAT: vnet.Symmetric()},
			{Name: "dc", NAT: nodeNAT, LANPrefix: netip.MustParsePrefix("10.9.0.0/24")},
		}
		spec.Node.LAN, spec.Node.Addr = "dc", nodeAddr
		res := run(spec)
		Expect(res).To(UseTransport(harness.TURNUDP))
		Expect(res).To(FlowMediaToTheEnd())
		Expect(res.Relay.PacketsRelayed).NotTo(BeZero())
	})
})

// corporate is a call from a client behind a firewall that lets only
// TCP 80 and 443 out, to a node with TURN/TLS on tlsPort.
func corporate(tlsPort int) harness.Spec {
	spec := call("corporate firewall", harness.ClientSpec{Name: "alice", LAN: "corp"}, harness.ClientSpec{Name: "bob"})
	spec.LANs = []harness.LANSpec{{Name: "corp", NAT: vnet.PortRestricted(), Firewall: vnet.OnlyTCPOut(80, 443)}}
	spec.Node.Config = nodeConfig(tlsPort)
	return spec
}

var _ = Describe("a corporate firewall that lets only TCP 443 out", func() {
	It("connects over TURN/TLS when the node serves TURN/TLS on 443 beside HTTPS", func() {
		res := run(corporate(443))
		Expect(res).To(UseTransport(harness.TURNTLS).For("alice"))
		Expect(res).To(FlowMediaToTheEnd())
		Expect(res.Client("alice").Selected.Local.RelayProtocol).To(Equal("tls"))
	})

	It("fails when TURN/TLS is on 5349 with no load balancer on 443: LiveKit hands out port 443", func() {
		res := run(corporate(5349))
		Expect(res).NotTo(Connect().For("alice"))
		Expect(res.Client("alice").Signalling).To(BeTrue(), "signalling on 443 passes the firewall")
		Expect(res).To(FailWithReason("certificate is valid for rtc.icelab.test, not turn.example.com").For("alice"))
		Expect(res).To(FailWithReason("LiveKit hands out turns:turn.example.com:443 whatever turn.tls_port is (5349 here, and no load balancer)").For("alice"))
	})

	It("fails when an app's own TURN/TLS server is on 5349, naming the blocked port", func() {
		spec := corporate(443)
		spec.Clients[0].ICEServers = turnServers("alice", "turns:turn.example.com:5349?transport=tcp")
		res := run(spec)
		Expect(res).NotTo(Connect().For("alice"))
		Expect(res).To(FailWithReason("TCP to port 5349 dropped by firewall corp rule 4 (drop-all)").For("alice"))
	})
})

// whacked is a call whose client's UDP is blocked from the moment its ICE
// connects: "connects, then drops".
func whacked(fallback harness.FallbackPolicy) harness.Spec {
	spec := call("udp whack", harness.ClientSpec{Name: "alice", LAN: "office", Fallback: harness.Fallback{Policy: fallback}}, harness.ClientSpec{Name: "bob"})
	spec.LANs = []harness.LANSpec{{Name: "office", NAT: vnet.PortRestricted()}}
	spec.Faults = []harness.Fault{{Name: "udp whack", When: harness.Trigger{Event: "ice-connected", Client: "alice"}, Kind: harness.AddRules, Target: "office", Rules: vnet.BlockUDP()}}
	spec.Duration = 60 * time.Second
	return spec
}

var _ = Describe("UDP whack after ICE connected", func() {
	It("fails for good with pion's defaults", func() {
		res := run(whacked(harness.NoFallback))
		alice := res.Client("alice")
		// The whack lands as DTLS starts, as the seed's "allowed initial
		// UDP packets through but then blocked subsequent ones".
		Expect(alice.ICEStates).To(ContainElement(HaveField("State", "connected")))
		Expect(res).To(NotRecover().For("alice"))
		Expect(res).To(EndIn("failed").For("alice"))
		Expect(alice.FailedAt).To(BeNumerically(">", 0))
		Expect(res).To(FailWithReason("dropped by firewall office rule 1 (block-udp)").For("alice"))
		// bob stays connected, but hears nobody: alice was his only source.
		Expect(res).To(UseTransport(harness.ICEUDP).For("bob"))
		Expect(res).NotTo(FlowMediaBothWays().For("bob"))
	})

	It("recovers over TCP or TLS with transport fallback, and reports how long it took", func() {
		res := run(whacked(harness.TransportFallback))
		alice := res.Client("alice")
		Expect(res).To(RecoverWithin(30 * time.Second).For("alice"))
		Expect(alice.Transport).To(BeElementOf(harness.TURNTLS, harness.TURNTCP, harness.ICETCP))
		Expect(alice.RecoveryTime()).To(BeNumerically(">", 0))
		Expect(alice.Attempts).To(HaveLen(2))
		GinkgoWriter.Printf("alice: failure detected at %v, recovered at %v (%v) over %s\n", alice.FailedAt, alice.RecoveredAt, alice.RecoveryTime(), alice.Transport)
	})
})

// dtlsFiltered is a call whose client's network drops DTLS datagrams.
func dtlsFiltered(fallback harness.FallbackPolicy) harness.Spec {
	spec := call("dtls filtered", harness.ClientSpec{Name: "alice", LAN: "office", Fallback: harness.Fallback{Policy: fallback}}, harness.ClientSpec{Name: "bob"})
	spec.LANs = []harness.LANSpec{{Name: "office", NAT: vnet.PortRestricted(), Firewall: vnet.DTLSFiltered()}}
	spec.Duration = 45 * time.Second
	return spec
}

var _ = Describe("DTLS filtered", func() {
	It("hangs in connecting with pion's defaults: DTLS has no timeout", func() {
		spec := dtlsFiltered(harness.NoFallback)
		spec.Capture = harness.Capture{First: 10000}
		res := run(spec)
		Expect(res.Packets).To(ContainElement(SatisfyAll(
			HaveField("Verdict", vnet.Dropped), HaveField("Class", vnet.ClassDTLS),
			HaveField("Reason", "firewall office rule 1 (dtls-filtered)"))), "the capture shows the DTLS drops")
		Expect(res).To(EndIn("connecting").For("alice"))
		Expect(res.Client("alice").ICEStates).To(ContainElement(HaveField("State", "connected")), "ICE itself succeeds")
		Expect(res).To(FailWithReason("DTLS datagrams dropped by firewall office rule 1 (dtls-filtered)").For("alice"))
	})

	It("recovers with transport fallback once the DTLS deadline passes", func() {
		res := run(dtlsFiltered(harness.TransportFallback))
		alice := res.Client("alice")
		Expect(res).To(RecoverWithin(20 * time.Second).For("alice"))
		Expect(alice.Transport).To(BeElementOf(harness.TURNTLS, harness.TURNTCP, harness.ICETCP))
	})
})

var _ = Describe("ICE over TCP, on the real clock", func() {
	// pion's active ICE-TCP dials through the operating system, so these
	// runs use real loopback sockets bridged into the virtual network.
	tcpClient := func(rules []vnet.Rule) harness.Spec {
		spec := call("ice-tcp", harness.ClientSpec{Name: "alice", LAN: "office",
			NetworkTypes: []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4}})
		spec.LANs = []harness.LANSpec{{Name: "office", NAT: vnet.PortRestricted(), Firewall: rules}}
		spec.Duration = 6 * time.Second
		return spec
	}

	It("selects ICE/TCP to port 7881 when UDP is blocked, and shows the hosts' virtual addresses", func() {
		res := harness.RunT(suiteT, tcpClient(vnet.BlockUDP()), harness.WithCA(ca))
		Expect(res.Err).To(BeEmpty())
		Expect(res.Clock).To(Equal(harness.RealClock))
		honest(res)
		Expect(res).To(UseTransport(harness.ICETCP))
		Expect(res).To(FlowMediaToTheEnd())
		alice := res.Client("alice")
		Expect(alice.Selected.Local.Protocol).To(Equal("tcp"))
		Expect(alice.Selected.Remote.Address).To(HaveSuffix(":7881"))
		Expect(alice.NodeSelected.Local.Protocol).To(Equal("tcp"))
		// Both ends of the pair are where the hosts are in the virtual
		// network: alice's LAN address, the node's address.
		hostIP := func(cs []harness.Candidate) string {
			for _, c := range cs {
				if c.Type == "host" && c.Protocol == "udp" {
					return c.Address[:strings.LastIndexByte(c.Address, ':')]
				}
			}
			return "no UDP host candidate"
		}
		Expect(alice.Selected.Local.Address).To(HavePrefix(hostIP(alice.LocalCandidates) + ":"))
		Expect(alice.Selected.Remote.Address).To(Equal(hostIP(alice.RemoteCandidates) + ":7881"))
		Expect(alice.NodeSelected.Local.Address).To(Equal(alice.Selected.Remote.Address))
	})

	It("fails ICE/TCP on 7881 behind only-TCP-443-out, and falls to TURN/TLS on 443", func() {
		res := harness.RunT(suiteT, tcpClient(vnet.OnlyTCPOut(80, 443)), harness.WithCA(ca))
		Expect(res.Err).To(BeEmpty())
		honest(res)
		Expect(res).To(UseTransport(harness.TURNTLS))
		Expect(res.Drops).To(HaveKey(ContainSubstring("TCP to port 7881 dropped by firewall office rule 4 (drop-all)")))
	})
})

// cut is a call whose client's LAN loses its uplink for 40 s, two seconds
// into the call.
func cut(policy harness.FallbackPolicy) harness.Spec {
	spec := call("link cut", harness.ClientSpec{Name: "alice", LAN: "office", Fallback: harness.Fallback{Policy: policy}}, harness.ClientSpec{Name: "bob"})
	spec.LANs = []harness.LANSpec{{Name: "office", NAT: vnet.PortRestricted()}}
	spec.Faults = []harness.Fault{
		{Name: "cut", When: harness.Trigger{Event: "connected", Client: "alice", After: 2 * time.Second}, Kind: harness.CutLink, Target: "office"},
		{Name: "restore", When: harness.Trigger{Event: "connected", Client: "alice", After: 42 * time.Second}, Kind: harness.Restore, Target: "office"},
	}
	spec.Duration = 75 * time.Second
	return spec
}

var _ = Describe("a 40 s link cut", func() {
	It("is fatal with pion's defaults: after ICE fails pion never recovers by itself", func() {
		res := run(cut(harness.NoFallback))
		Expect(res).To(NotRecover().For("alice"))
		Expect(res).To(EndIn("failed").For("alice"))
		Expect(res).To(FailWithReason("dropped by link cut").For("alice"))
		// The call ran over ICE/UDP and died: the result says so, and
		// does not call it media both ways.
		alice, cutAt := res.Client("alice"), res.Faults[0].At
		Expect(alice.Transport).To(Equal(harness.ICEUDP))
		Expect(alice.LostAt).To(BeNumerically(">", cutAt))
		Expect(alice.TransportSummary()).To(Equal(fmt.Sprintf("ICE/UDP, lost at %.1f s", alice.LostAt.Seconds())))
		Expect(alice.MediaBothWays).To(BeTrue(), "media flowed both ways before the cut")
		Expect(alice.MediaFlowingAtEnd).To(BeFalse())
		Expect(alice.Outages).To(HaveLen(1))
		Expect(alice.Outages[0].Ongoing).To(BeTrue())
		Expect(alice.Outages[0].Start).To(BeNumerically("~", cutAt, 500*time.Millisecond), "media stopped when the link was cut")
		Expect(alice.Outages[0].End).To(Equal(res.Duration))
		Expect(alice.MediaRecoveryTime()).To(BeZero())
	})

	It("reads as the 8 s it lasted when ICE comes back by itself, beside the shorter ICE-state figure", func() {
		spec := cut(harness.NoFallback)
		spec.Faults[1].When.After = 10 * time.Second // restored 8 s after the cut
		spec.Duration = 30 * time.Second
		res := run(spec)
		alice := res.Client("alice")
		cutAt, restoredAt := res.Faults[0].At, res.Faults[1].At
		Expect(alice.Recovered).To(BeTrue())
		Expect(alice.MediaBothWays).To(BeTrue(), "media flowed again to the end")
		Expect(alice.Outages).To(HaveLen(1))
		Expect(alice.Outages[0].Ongoing).To(BeFalse())
		Expect(alice.MediaOutage()).To(Equal(&alice.Outages[0]))
		outage := restoredAt - cutAt
		Expect(alice.MediaRecoveryTime()).To(BeNumerically(">=", outage-100*time.Millisecond))
		Expect(alice.MediaRecoveryTime()).To(BeNumerically("<", outage+5*time.Second), "a generous bound on reconnecting once the link is back")
		Expect(alice.RecoveryTime()).To(BeNumerically("<", alice.MediaRecoveryTime()), "ICE noticed the cut only after its disconnected timeout")
		Expect(res).To(RecoverMediaWithin(outage + 5*time.Second).For("alice"))
		Expect(res).NotTo(RecoverMediaWithin(outage/2).For("alice"), "an 8 s cut does not read as a 4 s outage")
		Expect(alice.TransportSummary()).To(Equal("ICE/UDP"))
	})

	It("is survived with ICE restart once the link is back", func() {
		res := run(cut(harness.ICERestart))
		alice := res.Client("alice")
		Expect(res).To(RecoverWithin(time.Minute).For("alice"))
		Expect(alice.Transport).To(Equal(harness.ICEUDP))
		Expect(alice.Attempts).To(ContainElement(HaveField("Why", HavePrefix("ice failed: ICE restart"))))
		restored := res.Faults[1].At
		Expect(alice.RecoveredAt).To(BeNumerically(">", restored), "no recovery while the link is still cut")
	})
})

var _ = Describe("forcing TURN (relay-only) while UDP is blocked", func() {
	forced := func(tlsPort int) harness.Spec {
		spec := call("forced relay", harness.ClientSpec{Name: "alice", LAN: "office", Fallback: harness.Fallback{Policy: harness.ForceRelay}}, harness.ClientSpec{Name: "bob"})
		spec.LANs = []harness.LANSpec{{Name: "office", NAT: vnet.PortRestricted(), Firewall: vnet.BlockUDP()}}
		spec.Node.Config = nodeConfig(tlsPort)
		return spec
	}

	It("connects over TURN/TLS when the node offers it", func() {
		res := run(forced(443))
		Expect(res).To(UseTransport(harness.TURNTLS).For("alice"))
		Expect(res).To(FlowMediaToTheEnd().For("alice"))
	})

	It("fails when the embedded TURN offers only UDP, as the seed warns", func() {
		res := run(forced(0))
		Expect(res).NotTo(Connect().For("alice"))
		Expect(res).To(FailWithReason("datagrams dropped by firewall office rule 1 (block-udp)").For("alice"))
	})
})

var _ = Describe("transport fallback that reconnects to another media node", func() {
	It("does not work: the other node does not hold the session", func() {
		spec := whacked(harness.TransportFallback)
		spec.Node.SecondNode = true
		spec.Clients[0].Fallback.OtherNode = true
		res := run(spec)
		Expect(res).To(NotRecover().For("alice"))
		Expect(res).To(FailWithReason("reconnect landed on media-2, which does not hold alice's session").For("alice"))
	})
})

var _ = DescribeTable("a relay-only client on the virtual network, over each TURN transport",
	func(relay string, want harness.Transport) {
		spec := call("relay only", harness.ClientSpec{Name: "alice", Fallback: harness.Fallback{Policy: harness.ForceRelay},
			Relays: []string{relay}, Publish: harness.Publish{Audio: true, Video: true}})
		if relay == "tcp" {
			// LiveKit hands out no TURN/TCP; icelab's relay serves it on
			// udp_port, as an app's own TURN server list can name it.
			spec.Clients[0].ICEServers = turnServers("alice", "turn:turn.example.com:3478?transport=tcp")
		}
		spec.Duration = 20 * time.Second
		res := run(spec)
		Expect(res).To(UseTransport(want))
		Expect(res).To(FlowMediaToTheEnd())
		// What alice sent reached the relay: the relay's client-to-peer
		// bytes are her media, as the node received it, plus SRTP and RTCP
		// overhead.
		var sent uint64
		for _, m := range res.Client("alice").Media {
			if m.Direction == "at-node" {
				sent += m.Bytes
			}
		}
		Expect(sent).NotTo(BeZero())
		ratio := float64(res.Relay.ClientToPeerBytes) / float64(sent)
		GinkgoWriter.Printf("%s: relay client-to-peer %d bytes for %d bytes of media sent (%.3f)\n", want, res.Relay.ClientToPeerBytes, sent, ratio)
		Expect(ratio).To(BeNumerically("~", 1.0, 0.05))
	},
	Entry("TURN/UDP", "udp", harness.TURNUDP),
	Entry("TURN/TCP", "tcp", harness.TURNTCP),
	Entry("TURN/TLS", "tls", harness.TURNTLS),
)

var _ = Describe("TURN/TLS behind a layer-4 load balancer that terminates TLS", func() {
	behindLB := func(externalTLS bool) harness.Spec {
		spec := call("turn/tls behind a load balancer", harness.ClientSpec{Name: "alice",
			Fallback: harness.Fallback{Policy: harness.ForceRelay}, Relays: []string{"tls"}})
		spec.Node.Config = nodeConfig(5349)
		spec.Node.Config.TURN.ExternalTLS = externalTLS
		spec.Node.LoadBalancer = &harness.LoadBalancerSpec{Port: 443}
		return spec
	}

	It("works with external_tls: true", func() {
		res := run(behindLB(true))
		Expect(res).To(UseTransport(harness.TURNTLS))
		Expect(res).To(FlowMediaToTheEnd())
	})

	It("fails without external_tls, as in the field: the relay expects TLS the balancer already removed", func() {
		res := run(behindLB(false))
		Expect(res).NotTo(Connect())
		Expect(res.Relay.Allocations).To(BeZero())
	})
})

var _ = Describe("renomination when a direct path opens mid-call", func() {
	// The call starts relayed because direct UDP to the node's media
	// ports is dropped; the rule is lifted as the call connects.
	It("stays on TURN/UDP: pion renominates only among pairs that already succeeded, and never re-checks a failed one", func() {
		spec := call("renomination", harness.ClientSpec{Name: "alice", LAN: "office", Fallback: harness.Fallback{Policy: harness.Renominate}})
		spec.LANs = []harness.LANSpec{{Name: "office", NAT: vnet.PortRestricted(), Firewall: []vnet.Rule{
			{Name: "no-direct-media", Direction: vnet.Outbound, Proto: vnet.UDP, RemotePorts: vnet.PortRange{Min: 50000, Max: 60000}, Action: vnet.Drop}}}}
		spec.Faults = []harness.Fault{{Name: "open the direct path", When: harness.Trigger{Event: "connected", Client: "alice"}, Kind: harness.ClearRules, Target: "office"}}
		res := run(spec)
		alice := res.Client("alice")
		Expect(res).To(UseTransport(harness.TURNUDP))
		Expect(res).To(FlowMediaToTheEnd())
		Expect(alice.PairChanges).To(HaveLen(1), "the selected pair never moved")
	})
})

var _ = Describe("a run whose context ends before the call's duration", func() {
	It("says it was interrupted", func() {
		spec := call("interrupted", harness.ClientSpec{Name: "alice"})
		spec.Duration = 30 * time.Second
		var res harness.Result
		synctest.Test(suiteT, func(*testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			res = harness.Run(ctx, spec, harness.WithCA(ca), harness.WithClock(harness.FakeClock))
		})
		Expect(res.Err).To(BeEmpty())
		Expect(res.Interrupted).To(BeTrue())
		Expect(res.Clock).To(Equal(harness.FakeClock))
		Expect(res.Duration).To(BeNumerically("<", spec.Duration))
		Expect(res).To(Connect(), "what happened until then is recorded")
	})
})

var _ = Describe("a client that publishes nothing", func() {
	quiet := harness.ClientSpec{Name: "alice"}

	It("connects alone: it negotiates a data channel, as real SDKs do, and no media is expected of it", func() {
		spec := call("quiet client")
		spec.Clients = []harness.ClientSpec{quiet}
		spec.Duration = 10 * time.Second
		res := run(spec)
		alice := res.Client("alice")
		Expect(res).To(Connect())
		Expect(res).To(UseTransport(harness.ICEUDP))
		Expect(alice.Failure).To(BeEmpty())
		Expect(alice.NoMediaExpected).To(BeTrue())
		Expect(alice.MediaBothWays).To(BeFalse(), "no media flowed")
	})

	It("receives what others publish", func() {
		spec := call("receive-only client")
		spec.Clients = []harness.ClientSpec{quiet, {Name: "bob", Publish: harness.Publish{Audio: true}}}
		spec.Duration = 10 * time.Second
		res := run(spec)
		Expect(res).To(UseTransport(harness.ICEUDP))
		Expect(res).To(FlowMediaToTheEnd())
		Expect(res.Client("alice").Media).To(ContainElement(SatisfyAll(
			HaveField("Track", "bob/audio"), HaveField("Direction", "received"), HaveField("Packets", BeNumerically(">", 0)))))
	})
})

var _ = Describe("a media node with all UDP media on one port", func() {
	It("serves every client on that port", func() {
		spec := call("single port", harness.ClientSpec{Name: "alice"}, harness.ClientSpec{Name: "bob", LAN: "home"})
		spec.LANs = []harness.LANSpec{{Name: "home", NAT: vnet.PortRestricted()}}
		spec.Node.SinglePort = 7882
		res := run(spec)
		Expect(res).To(UseTransport(harness.ICEUDP))
		Expect(res).To(FlowMediaToTheEnd())
		for _, c := range res.Clients {
			Expect(c.Selected.Remote.Address).To(HaveSuffix(":7882"), c.Name)
		}
	})
})

var _ = Describe("a node whose stateful firewall admits only HTTPS", func() {
	// The node's firewall accepts inbound TCP 443 and replies to what the
	// node sent, and drops the rest: no STUN, TURN or media port is open.
	dc := harness.LANSpec{Name: "dc", Firewall: []vnet.Rule{
		{Name: "allow-https", Direction: vnet.Inbound, Proto: vnet.TCP, LocalPorts: vnet.Port(443), Action: vnet.Accept},
		{Name: "allow-replies", Direction: vnet.Inbound, State: vnet.StateEstablished, Action: vnet.Accept},
		{Name: "drop-the-rest", Direction: vnet.Inbound, Action: vnet.Drop},
	}}

	It("still connects a client with a public address over ICE/UDP: the node's own checks open the flow", func() {
		spec := call("stateful firewall, public client", harness.ClientSpec{Name: "alice"})
		spec.LANs = []harness.LANSpec{dc}
		spec.Node.LAN = "dc"
		res := run(spec)
		Expect(res).To(UseTransport(harness.ICEUDP))
		Expect(res).To(SelectCandidates("host", "host"))
		Expect(res).To(FlowMediaToTheEnd())
	})

	It("times out a client behind a home router: STUN is blocked, so the node has no address to open a flow to", func() {
		spec := call("stateful firewall, client behind NAT", harness.ClientSpec{Name: "alice", LAN: "home"})
		spec.LANs = []harness.LANSpec{dc, {Name: "home", NAT: vnet.PortRestricted()}}
		spec.Node.LAN = "dc"
		spec.Node.Config = nodeConfig(5349) // TURN/TLS on 443 would get through
		spec.Duration = 40 * time.Second
		res := run(spec)
		Expect(res).NotTo(Connect())
		Expect(res.Client("alice").Attempts).To(HaveLen(3), "LiveKit's SDK rejoins after 15 s without a connection:\n%s", res.Client("alice").Timeline())
		Expect(res).To(FailWithReason("STUN datagrams dropped by firewall dc rule 3 (drop-the-rest)"))
	})
})
