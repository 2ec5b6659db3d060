package harness_test

import (
	"net/netip"
	"strings"
	"time"

	"github.com/icelab/icelab/harness"
	. "github.com/icelab/icelab/harness/matchers"
	"github.com/icelab/icelab/vnet"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/pion/webrtc/v4"
)

var bothFamilies = []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}

// ipv6Call is a call without TURN/TLS, so that TURN over UDP (and STUN)
// are the only servers: what a phone reaches of them decides.
func ipv6Call(name string, client harness.ClientSpec, lan harness.LANSpec) harness.Spec {
	client.Publish = harness.Publish{Audio: true, Data: true}
	return harness.Spec{Name: name, Node: harness.NodeSpec{Config: nodeConfig(0)}, Clients: []harness.ClientSpec{client},
		LANs: []harness.LANSpec{lan}, Duration: 30 * time.Second}
}

var _ = Describe("IPv6", func() {
	// pion gives every UDP host candidate the same local preference
	// (65535), whatever its family: it has no RFC 8421 family preference
	// (the vnet spec TestPionHostCandidatesTieAcrossFamilies pins it). The
	// IPv4 and IPv6 host pairs tie on priority, and which one pion
	// nominates is a race: mostly IPv4, whose candidate it gathers first,
	// sometimes IPv6 (10 and 2 of 12 runs, measured). Browsers (libwebrtc)
	// prefer IPv6.
	It("pairs per family on a dual-stack client and node, checks a host pair of each, and selects a host pair", func() {
		spec := ipv6Call("dual stack", harness.ClientSpec{Name: "alice", LAN: "home", NetworkTypes: bothFamilies},
			harness.LANSpec{Name: "home", NAT: vnet.PortRestricted(), IPv6: true})
		spec.Node.IPv6 = true
		res := run(spec)
		Expect(res).To(UseTransport(harness.ICEUDP))
		Expect(res).To(FlowMediaToTheEnd())
		alice := res.Client("alice")
		Expect(alice.Selected.Local.Type).To(Equal("host"))
		Expect(alice.Selected.Remote.Type).To(Equal("host"))
		hostPairs := map[bool]int{}
		for _, ch := range alice.Checks {
			local, remote := checkAddr(ch.Local), checkAddr(ch.Remote)
			Expect(is6(local)).To(Equal(is6(remote)), "pair %s -> %s mixes families", ch.Local, ch.Remote)
			if strings.HasPrefix(ch.Local, "host/") && strings.HasPrefix(ch.Remote, "host/") {
				hostPairs[is6(local)]++
			}
		}
		Expect(hostPairs[false]).To(BeNumerically(">", 0), "an IPv4 host pair among %v", alice.Checks)
		Expect(hostPairs[true]).To(BeNumerically(">", 0), "an IPv6 host pair among %v", alice.Checks)
		var families []bool
		for _, c := range alice.LocalCandidates {
			families = append(families, is6(c.Address))
		}
		Expect(families).To(ContainElements(true, false), "candidates of both families")
	})

	It("connects an IPv6-only phone behind NAT64 to the IPv4-only node when TURN is named: ICE over the synthesized address", func() {
		spec := ipv6Call("nat64 by name", harness.ClientSpec{Name: "phone", LAN: "carrier", NetworkTypes: bothFamilies},
			harness.LANSpec{Name: "carrier", IPv6Only: true, NAT64: true})
		spec.Node.TURNByName = true
		res := run(spec)
		Expect(res).To(UseTransport(harness.ICEUDP))
		Expect(res).To(FlowMediaToTheEnd())
		phone := res.Client("phone")
		Expect(phone.Selected.Local.Type).To(Equal("host"))
		Expect(phone.Selected.Remote.Address).To(HavePrefix("[64:ff9b::"))
	})

	It("fails for an IPv6-only phone behind a port-dependent NAT64: pion asks the IPv4-only relay for an IPv6 address", func() {
		lan := harness.LANSpec{Name: "carrier", IPv6Only: true, NAT64: true, NAT: vnet.PortRestricted()}
		spec := ipv6Call("nat64 port-dependent", harness.ClientSpec{Name: "phone", LAN: "carrier", NetworkTypes: bothFamilies}, lan)
		spec.Node.TURNByName = true
		spec.Duration = 40 * time.Second
		res := run(spec)
		phone := res.Client("phone")
		Expect(phone.Connected).To(BeFalse())
		Expect(phone.Failure).To(ContainSubstring("440: Address Family not Supported"))
		Expect(phone.Failure).To(ContainSubstring("asked for an IPv6 relayed address"))
		Expect(phone.Failure).To(ContainSubstring("filtered (address-and-port-dependent)"))
		Expect(phone.Failure).NotTo(ContainSubstring("IPv4 literals"))
	})

	It("fails for an IPv6-only phone behind NAT64 when TURN is an IPv4 literal, saying so", func() {
		spec := ipv6Call("nat64 literal", harness.ClientSpec{Name: "phone", LAN: "carrier", NetworkTypes: bothFamilies},
			harness.LANSpec{Name: "carrier", IPv6Only: true, NAT64: true})
		res := run(spec)
		phone := res.Client("phone")
		Expect(phone.Connected).To(BeFalse())
		Expect(phone.Failure).To(ContainSubstring("unreachable from an IPv6-only network"), phone.Failure)
	})
})

// is6 reports whether a candidate address ("[2001:db8::2]:5000") is IPv6.
func is6(addr string) bool {
	ap, err := netip.ParseAddrPort(addr)
	Expect(err).NotTo(HaveOccurred(), addr)
	return ap.Addr().Is6()
}

// checkAddr returns the address of a check's candidate ("host/udp
// [2001:db8::2]:5000").
func checkAddr(c string) string {
	_, addr, _ := strings.Cut(c, " ")
	return addr
}
