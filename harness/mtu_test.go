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

// vpnCall is a call whose client alice sits behind a tunnel of the given
// MTU and presents a 4096-bit RSA certificate in DTLS, whose certificate
// message pion splits into a 1225-byte and a smaller record. alice has
// pion's defaults: the specs pin how pion's handshake meets the MTU, not
// what an SDK does after.
func vpnCall(mtu vnet.MTU, rules []vnet.Rule) harness.Spec {
	spec := call("vpn mtu", harness.ClientSpec{Name: "alice", LAN: "vpn", MTU: vnet.MTU{Size: 1500}, DTLSCertificate: harness.DTLSCertRSA4096,
		Fallback: harness.Fallback{Policy: harness.NoFallback}})
	spec.LANs = []harness.LANSpec{{Name: "vpn", NAT: vnet.PortRestricted(), MTU: mtu, Firewall: rules}}
	spec.Duration = 20 * time.Second
	spec.Capture = harness.Capture{First: 5000}
	return spec
}

var _ = Describe("path MTU", func() {
	It("a 1280-byte VPN passes pion's DTLS handshake: its datagrams stop at 1253 bytes", func() {
		res := run(vpnCall(vnet.MTU{Size: 1280}, nil))
		Expect(res).To(SatisfyAll(Connect().For("alice"), UseTransport(harness.ICEUDP).For("alice"), FlowMediaToTheEnd().For("alice")))
		largest := 0
		for _, e := range res.Packets {
			if e.Class == vnet.ClassDTLS {
				largest = max(largest, e.Size)
			}
		}
		Expect(largest).To(Equal(1253), "pion's DTLS MTU of 1200 bytes of handshake fragment, plus 25 bytes of DTLS headers and 28 of UDP/IPv4")
		Expect(res.Packets).NotTo(ContainElement(SatisfyAll(HaveField("Proto", vnet.UDP), HaveField("Reason", ContainSubstring("MTU")))), "no datagram met the MTU")
		// The HTTPS signalling's first full-sized segments did, and TCP
		// lowered its MSS on the ICMP message.
		Expect(res.Packets).To(ContainElement(HaveField("Reason", "link vpn-wan MTU 1280: 1500-byte packet too big (DF set), ICMP fragmentation needed sent")))
	})

	It("a 1280-byte VPN passes pion's DTLS relayed over TURN/UDP: ChannelData adds only 4 bytes", func() {
		spec := vpnCall(vnet.MTU{Size: 1280}, nil)
		spec.Clients[0].Policy = webrtc.ICETransportPolicyRelay
		res := run(spec)
		Expect(res).To(SatisfyAll(Connect().For("alice"), UseTransport(harness.TURNUDP).For("alice")))
		largest := 0
		for _, e := range res.Packets {
			if e.Class == vnet.ClassChannelData {
				largest = max(largest, e.Size)
			}
		}
		// The largest is a data channel packet: SCTP's 1191 bytes in a
		// 1228-byte DTLS record, 4 of ChannelData, 28 of UDP/IPv4. The
		// channel is bound before DTLS starts, so no handshake datagram
		// travels in a Send indication (36 bytes of framing, 1292 bytes on
		// the wire): nothing meets the MTU.
		Expect(largest).To(Equal(1260))
		Expect(res.Packets).NotTo(ContainElement(SatisfyAll(HaveField("Proto", vnet.UDP), HaveField("Reason", ContainSubstring("MTU")))))
	})

	It("PPPoE's 1492 bytes pass pion's video whole: its packets stop at 1244 bytes", func() {
		spec := vpnCall(vnet.MTU{Size: 1492, ClampMSS: true}, nil)
		spec.Clients[0].DTLSCertificate = harness.DTLSCertECDSA
		spec.Clients[0].Publish = harness.Publish{Audio: true, Video: true}
		spec.Duration = 8 * time.Second // video's SRTP dominates a run's CPU
		res := run(spec)
		Expect(res).To(SatisfyAll(Connect().For("alice"), FlowMediaToTheEnd().For("alice")))
		largest := 0
		for _, e := range res.Packets {
			if e.Class == vnet.ClassRTP {
				largest = max(largest, e.Size)
			}
		}
		Expect(largest).To(Equal(1244), "1200 bytes of RTP (pion's packetizer MTU), a 16-byte SRTP GCM tag, 28 of UDP/IPv4")
		Expect(res.Packets).NotTo(ContainElement(HaveField("Reason", ContainSubstring("MTU"))), "MSS clamping spares even TCP the ICMP")
	})

	It("a 1200-byte tunnel that drops fragments stalls the DTLS handshake", func() {
		res := run(vpnCall(vnet.MTU{Size: 1200}, vnet.DropFragments()))
		Expect(res).To(EndIn("connecting").For("alice"))
		Expect(res.Client("alice").ICEStates).To(ContainElement(HaveField("State", "connected")), "ICE itself succeeds")
		Expect(res).To(FailWithReason("the DTLS handshake stalled: packets exceeded the path MTU, and once the sender fragmented them the fragments were dropped").For("alice"))
		Expect(res).To(FailWithReason("DTLS datagrams dropped by firewall vpn rule 1 (drop-fragments)").For("alice"))
		// The signalling's ICMP taught alice's host the path MTU to the
		// node's address, so it fragments the 1253-byte DTLS datagram at
		// 1200 from the first, as Linux's route cache does.
		Expect(res.Packets).To(ContainElement(SatisfyAll(HaveField("Class", vnet.ClassDTLS), HaveField("Size", 1196),
			HaveField("Reason", "firewall vpn rule 1 (drop-fragments)"))))
	})

	It("a 1200-byte tunnel that drops fragments loses most of the video of pion's own small certificate", func() {
		spec := vpnCall(vnet.MTU{Size: 1200}, vnet.DropFragments())
		spec.Clients[0].DTLSCertificate = harness.DTLSCertECDSA
		spec.Clients[0].Publish = harness.Publish{Audio: true, Video: true}
		spec.Capture = harness.Capture{}
		spec.Duration = 8 * time.Second
		res := run(spec)
		Expect(res).To(SatisfyAll(Connect().For("alice"), UseTransport(harness.ICEUDP).For("alice")))
		loss := map[string]float64{}
		for _, m := range res.Client("alice").Media {
			if m.Direction == "at-node" && m.Quality != nil {
				loss[m.Kind] = m.Quality.LossRate
			}
		}
		// Every full video packet (1244 bytes on the wire) is fragmented
		// and lost; only each frame's short last packet arrives.
		Expect(loss).To(HaveKeyWithValue("video", BeNumerically(">", 0.75)))
		Expect(loss).To(HaveKeyWithValue("audio", BeNumerically("<", 0.01)))
	})

	It("a 1200-byte tunnel that passes fragments lets the sender fragment after the ICMP", func() {
		res := run(vpnCall(vnet.MTU{Size: 1200}, nil))
		Expect(res).To(SatisfyAll(Connect().For("alice"), UseTransport(harness.ICEUDP).For("alice"), FlowMediaToTheEnd().For("alice")))
	})

	It("a 1200-byte path MTU black hole that clamps TCP's MSS passes signalling and stalls the DTLS handshake", func() {
		res := run(vpnCall(vnet.MTU{Size: 1200, NoICMP: true, ClampMSS: true}, nil))
		Expect(res).To(EndIn("connecting").For("alice"))
		Expect(res).To(FailWithReason("the DTLS handshake stalled: packets larger than the path MTU vanished without an ICMP message").For("alice"))
	})

	It("a path MTU black hole passes the handshake of a client whose OS sends UDP without DF: the tunnel fragments it", func() {
		spec := vpnCall(vnet.MTU{Size: 1200, NoICMP: true, ClampMSS: true}, nil)
		spec.Clients[0].PMTUDiscovery = vnet.PMTUDiscoveryDont
		res := run(spec)
		Expect(res).To(SatisfyAll(Connect().For("alice"), UseTransport(harness.ICEUDP).For("alice"), FlowMediaToTheEnd().For("alice")))
		Expect(res.Packets).To(ContainElement(SatisfyAll(HaveField("Where", "vpn-wan"), HaveField("Class", vnet.ClassDTLS),
			HaveField("Fragment", Not(BeNil())))), "the tunnel fragmented the DTLS datagrams")
	})

	It("a path MTU black hole without MSS clamping stalls the HTTPS signalling itself", func() {
		res := run(vpnCall(vnet.MTU{Size: 1200, NoICMP: true}, nil))
		Expect(res.Client("alice").Signalling).To(BeFalse())
		Expect(res).To(FailWithReason("TCP to port 443 dropped by link vpn-wan MTU 1200: 1500-byte packet too big (DF set), no ICMP sent: a path MTU black hole").For("alice"))
	})
})

// The node's link has an MTU too (NodeSpec.MTU): a 1460-byte cloud network
// (Google Cloud's default VPC MTU) carries every packet of a call, and a
// 1200-byte path MTU black hole in front of the node swallows the 1253-byte
// datagrams of a client's RSA-4096 certificate flight on their way in, as
// it does on the client's side.
var _ = Describe("the media node's MTU", func() {
	nodeMTU := func(mtu vnet.MTU) harness.Spec {
		spec := call("node mtu", harness.ClientSpec{Name: "alice", DTLSCertificate: harness.DTLSCertRSA4096,
			Publish: harness.Publish{Audio: true, Video: true}, Fallback: harness.Fallback{Policy: harness.NoFallback}})
		spec.Node.MTU = mtu
		spec.Duration = 15 * time.Second
		return spec
	}
	It("carries a call with video at Google Cloud's 1460 bytes", func() {
		Expect(run(nodeMTU(vnet.MTU{Size: 1460}))).To(SatisfyAll(Connect().For("alice"), UseTransport(harness.ICEUDP).For("alice"), FlowMediaToTheEnd().For("alice")))
	})
	It("stalls the DTLS handshake behind a 1200-byte black hole, and says why", func() {
		res := run(nodeMTU(vnet.MTU{Size: 1200, NoICMP: true, ClampMSS: true}))
		Expect(res).To(EndIn("connecting").For("alice"))
		Expect(res).To(FailWithReason("the DTLS handshake stalled: packets larger than the path MTU vanished without an ICMP message").For("alice"))
	})
})
