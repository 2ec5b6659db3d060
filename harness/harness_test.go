package harness_test

import (
	"net/netip"
	"time"

	"github.com/icelab/icelab/harness"
	. "github.com/icelab/icelab/harness/matchers"
	"github.com/icelab/icelab/relay"
	"github.com/icelab/icelab/vnet"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
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

// call is the usual call: alice publishing audio, video and data, bob
// publishing audio.
func call(name string, clients ...harness.ClientSpec) harness.Spec {
	if len(clients) == 0 {
		clients = []harness.ClientSpec{{Name: "alice"}, {Name: "bob"}}
	}
	pubs := []harness.Publish{{Audio: true, Video: true, Data: true}, {Audio: true, Data: true}}
	for i := range clients {
		if clients[i].Publish == (harness.Publish{}) {
			clients[i].Publish = pubs[i%2]
		}
	}
	return harness.Spec{Name: name, Node: harness.NodeSpec{Config: nodeConfig(443)}, Clients: clients, Duration: 30 * time.Second}
}

func run(spec harness.Spec) harness.Result {
	res := harness.RunT(suiteT, spec, harness.WithCA(ca))
	Expect(res.Err).To(BeEmpty())
	Expect(res.Clock).To(Equal(harness.FakeClock))
	return res
}

var _ = Describe("a call through the virtual network", func() {
	It("uses ICE/UDP on the open internet, with host and srflx candidates", func() {
		spec := call("open internet", harness.ClientSpec{Name: "alice"}, harness.ClientSpec{Name: "bob", LAN: "home"})
		spec.LANs = []harness.LANSpec{{Name: "home", NAT: vnet.PortRestricted()}}
		res := run(spec)
		Expect(res).To(UseTransport(harness.ICEUDP))
		Expect(res).To(FlowMediaBothWays())
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
		Expect(res).To(FlowMediaBothWays())
		Expect(res.Relay.PacketsRelayed).NotTo(BeZero())
	})
})
