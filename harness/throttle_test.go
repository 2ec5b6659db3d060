package harness_test

import (
	"time"

	"github.com/icelab/icelab/harness"
	. "github.com/icelab/icelab/harness/matchers"
	"github.com/icelab/icelab/vnet"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// guest is a call from a visitor publishing video on a guest network whose
// firewall polices UDP at rate (0: no policer), with bob publishing audio.
func guest(rate int64) harness.Spec {
	spec := call("guest network", harness.ClientSpec{Name: "visitor", LAN: "guest", Publish: harness.Publish{Video: true}},
		harness.ClientSpec{Name: "bob", Publish: harness.Publish{Audio: true}})
	spec.LANs = []harness.LANSpec{{Name: "guest", NAT: vnet.PortRestricted()}}
	if rate > 0 {
		spec.LANs[0].Firewall = vnet.ThrottleUDP(rate)
	}
	spec.Duration = 30 * time.Second
	return spec
}

// videoAtNode is the visitor's video as the node received it.
func videoAtNode(res harness.Result) *harness.Quality {
	GinkgoHelper()
	for _, m := range res.Client("visitor").Media {
		if m.Track == "visitor/video" && m.Quality != nil {
			return m.Quality
		}
	}
	Fail("no quality measured for visitor/video at the node")
	return nil
}

var _ = Describe("a guest network that rate-limits UDP", func() {
	It("connects over ICE/UDP, and delivers the video under the policed rate with heavy loss, where the same call unpoliced delivers it whole", func() {
		open := run(guest(0))
		Expect(open).To(UseTransport(harness.ICEUDP).For("visitor"))
		whole := videoAtNode(open)
		Expect(whole.Bitrate).To(BeNumerically(">", 1.3e6), "1.5 Mbit/s of video without a policer")
		Expect(whole.LossRate).To(BeNumerically("<", 0.01))
		Expect(whole.Freezes).To(BeEmpty())

		res := run(guest(1_000_000))
		Expect(res).To(UseTransport(harness.ICEUDP).For("visitor"))
		Expect(res).To(FlowMediaToTheEnd())
		video := videoAtNode(res)
		Expect(video.Bitrate).To(BeNumerically("<", 1e6), "the policer's 1 Mbit/s, shared with the audio coming down, caps the video")
		Expect(video.Bitrate).To(BeNumerically(">", 0.5e6), "most of the rate is still used")
		Expect(video.LossRate).To(BeNumerically(">", 0.2), "a constant-rate sender loses what exceeds the rate")
		// Packets keep arriving, but a frame shows only if all of its
		// packets do: the policer drops the tail of nearly every frame's
		// burst, and the video is frozen though packets flow.
		Expect(video.FramesDecoded).To(BeNumerically("<", whole.FramesDecoded/10), "frames shown: %d of %d", video.FramesDecoded, whole.FramesDecoded)
		Expect(video.LongestFreeze).To(BeNumerically(">", 20*time.Second))
		Expect(res.Drops).To(HaveKey(ContainSubstring("throttle-udp): over 1 Mbit/s")))
	})
})
