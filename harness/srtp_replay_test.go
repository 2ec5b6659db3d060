package harness_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/icelab/icelab/vnet"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// A media node forwards a publisher's retransmission that reached it late
// after the packets that followed it. Whether the subscriber takes it is
// its SRTP replay window's call: pion's default refuses a packet more than
// 64 behind the newest (srtp/v3 session.go), the browser profile's 1024
// (libwebrtc's, pc/srtp_session.cc) takes one 150 behind, and a receiver
// without replay protection (LiveKit's node, pkg/rtc/transport.go:408)
// takes it however late. media.Second.LostLate counts what is refused.
var _ = Describe("pion's SRTP replay window", func() {
	late := func(configure func(*webrtc.SettingEngine)) (arrived bool) {
		synctest.Test(suiteT, func(t *testing.T) {
			g := NewWithT(t)
			n, err := vnet.New(vnet.Config{Seed: 1})
			g.Expect(err).NotTo(HaveOccurred())
			defer n.Close()
			peer := func(name string, configure func(*webrtc.SettingEngine)) *webrtc.PeerConnection {
				h, err := n.Internet().AddHost(vnet.HostConfig{Name: name})
				g.Expect(err).NotTo(HaveOccurred())
				var se webrtc.SettingEngine
				se.SetNet(h)
				se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
				se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
				if configure != nil {
					configure(&se)
				}
				var m webrtc.MediaEngine
				g.Expect(m.RegisterDefaultCodecs()).To(Succeed())
				pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(&m)).NewPeerConnection(webrtc.Configuration{})
				g.Expect(err).NotTo(HaveOccurred())
				return pc
			}
			sender, receiver := peer("sender", nil), peer("receiver", configure)
			defer sender.Close()
			defer receiver.Close()
			track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "alice")
			g.Expect(err).NotTo(HaveOccurred())
			_, err = sender.AddTrack(track)
			g.Expect(err).NotTo(HaveOccurred())

			const first, skipped, last = 1000, 1050, 1200
			got := make(chan uint16, 512)
			receiver.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
				for {
					p, _, err := tr.ReadRTP()
					if err != nil {
						return
					}
					got <- p.SequenceNumber
				}
			})
			offer, err := sender.CreateOffer(nil)
			g.Expect(err).NotTo(HaveOccurred())
			gathered := webrtc.GatheringCompletePromise(sender)
			g.Expect(sender.SetLocalDescription(offer)).To(Succeed())
			<-gathered
			g.Expect(receiver.SetRemoteDescription(*sender.LocalDescription())).To(Succeed())
			answer, err := receiver.CreateAnswer(nil)
			g.Expect(err).NotTo(HaveOccurred())
			gathered = webrtc.GatheringCompletePromise(receiver)
			g.Expect(receiver.SetLocalDescription(answer)).To(Succeed())
			<-gathered
			g.Expect(sender.SetRemoteDescription(*receiver.LocalDescription())).To(Succeed())

			// Until the connection carries media, packets before the
			// ones that count: each is written until one arrives.
			write := func(seq uint16) {
				g.Expect(track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 3000}, Payload: []byte{0x10, 0, 0, 0}})).To(Succeed())
			}
			warm := uint16(first - 100)
		wait:
			for {
				write(warm)
				select {
				case <-got:
					break wait
				case <-time.After(20 * time.Millisecond):
				}
				warm++
				g.Expect(warm).To(BeNumerically("<", first), "no packet arrived")
			}
			for seq := uint16(first); seq < last; seq++ {
				if seq != skipped {
					write(seq)
				}
			}
			write(skipped) // 149 behind the newest
			write(last)
			for {
				select {
				case seq := <-got:
					if seq == skipped {
						arrived = true
					}
					if seq == last {
						return
					}
				case <-time.After(time.Minute):
					t.Fatal("the last packet did not arrive within a minute")
				}
			}
		})
		return arrived
	}

	It("refuses a packet 149 behind the newest on pion's default window of 64", func() {
		Expect(late(nil)).To(BeFalse())
	})
	It("takes it with libwebrtc's window of 1024, the browser profile's", func() {
		Expect(late(func(se *webrtc.SettingEngine) { se.SetSRTPReplayProtectionWindow(1024) })).To(BeTrue())
	})
	It("takes it without replay protection, as LiveKit's node runs", func() {
		Expect(late(func(se *webrtc.SettingEngine) { se.DisableSRTPReplayProtection(true) })).To(BeTrue())
	})
})
