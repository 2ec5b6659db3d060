package harness_test

import (
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/harness/media"
	"github.com/icelab/icelab/vnet"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/pion/webrtc/v4"
)

// squeezed is a call in which alice's uplink falls from 2 Mbit/s to 400
// kbit/s at 10 s, her video sent with congestion control cc.
func squeezed(cc harness.CongestionControl) harness.Spec {
	link := vnet.Impairment{Latency: 20 * time.Millisecond, Bandwidth: 2_000_000, QueueDelay: 200 * time.Millisecond}
	squeeze := link
	squeeze.Bandwidth = 400_000
	link.Schedule = &vnet.Schedule{Steps: []vnet.Step{{At: 10 * time.Second, Impairment: squeeze}}}
	alice := harness.ClientSpec{Name: "alice", CongestionControl: cc, Publish: harness.Publish{Video: true}, Link: link}
	spec := call("squeezed "+string(cc), alice, harness.ClientSpec{Name: "bob", Publish: harness.Publish{Audio: true}})
	spec.Duration = 20 * time.Second
	return spec
}

// encodedKbps is what the flow's sender encoded in seconds [from, to), in
// kbit/s, one figure a second.
func encodedKbps(q *harness.Quality, from, to int) []uint64 {
	var out []uint64
	for _, s := range q.Seconds[from:to] {
		out = append(out, s.Encoded*8/1000)
	}
	return out
}

var _ = Describe("senders that adapt", func() {
	It("follows a squeezed uplink down with GCC, and does not without it", func() {
		// The squeeze is at 10 s; by 13 s the estimate has followed.
		gcc := run(squeezed(harness.GCC))
		q := flowQuality(gcc, "alice", "alice/video", media.AtNode)
		Expect(q.Adaptive).To(BeTrue())
		Expect(q.Seconds[5].Target).To(BeNumerically(">", 300_000), "ramping up from the 300 kbit/s start")
		// GCC hovers around what the link carries: under it on average,
		// no second far over it.
		during, sum := encodedKbps(q, 13, 20), uint64(0)
		for i, kbps := range during {
			sum += kbps
			Expect(kbps).To(BeNumerically("<", 480), "second %d of %v: near the squeezed capacity", 13+i, encodedKbps(q, 0, 20))
		}
		Expect(sum/uint64(len(during))).To(BeNumerically("<", 400), "under the squeezed capacity on average: %v", during)

		fixed := run(squeezed(harness.NoCongestionControl))
		q = flowQuality(fixed, "alice", "alice/video", media.AtNode)
		Expect(q.Adaptive).To(BeFalse())
		for _, kbps := range encodedKbps(q, 2, 20) {
			Expect(kbps).To(BeNumerically("==", media.MaxVideoBitrate/1000))
		}
		Expect(q.LongestFreeze).To(BeNumerically(">", 5*time.Second), "1.5 Mbit/s into 400 kbit/s: frames cannot be completed")
	})

	It("runs cross traffic beside the call and says what it carried", func() {
		spec := call("download", harness.ClientSpec{Name: "alice", Link: vnet.Impairment{Bandwidth: 4_000_000}},
			harness.ClientSpec{Name: "bob"})
		spec.Duration = 12 * time.Second
		spec.Traffic = []harness.CrossTraffic{{Name: "update", Kind: harness.Download, Host: "alice", At: 2 * time.Second, Until: 10 * time.Second}}
		res := run(spec)
		Expect(res.Traffic).To(HaveLen(1))
		t := res.Traffic[0]
		Expect(t.Err).To(BeEmpty())
		Expect(t.Bitrate).To(BeNumerically("~", 3_500_000, 700_000), "the download takes what the call leaves of 4 Mbit/s")
		Expect(res.Faults).To(ContainElements(
			HaveField("What", "download starts"), HaveField("What", "download stops")))

		spec.Traffic[0].Host = "carol"
		bad := harness.RunT(suiteT, spec, harness.WithCA(ca))
		Expect(bad.Err).To(ContainSubstring(`traffic update: "carol" is not a client or peer`))
	})
})

// flowQuality is the quality of a client's flow of track, measured where
// direction says.
func flowQuality(res harness.Result, client, track, direction string) *harness.Quality {
	GinkgoHelper()
	for _, m := range res.Client(client).Media {
		if m.Track == track && m.Direction == direction {
			Expect(m.Quality).NotTo(BeNil())
			return m.Quality
		}
	}
	Fail(client + " has no flow " + track + " " + direction)
	return nil
}

// The seed's bandwidth table ("For a 5-person meeting with one relayed
// participant: server handles ~1.5 Mbps extra for that participant's video
// relay"), measured: the relay carries the relayed participant's
// publication up and every track it subscribes to down, so its bandwidth
// is the up stream plus one stream per subscription, not one stream.
var _ = Describe("the seed's bandwidth table, measured", func() {
	It("relays a relayed participant's publication and all four subscriptions", func() {
		av := harness.Publish{Audio: true, Video: true}
		clients := []harness.ClientSpec{{Name: "alice", Policy: webrtc.ICETransportPolicyRelay, Publish: av}}
		for _, n := range []string{"bob", "carol", "dave", "erin"} {
			clients = append(clients, harness.ClientSpec{Name: n, Publish: av})
		}
		spec := call("five with one relayed", clients...)
		spec.Duration = 20 * time.Second
		res := run(spec)
		Expect(res.Client("alice").Transport).To(Equal(harness.TURNUDP))
		stream := float64(media.MaxVideoBitrate + media.AudioFrame*8*50) // payload bits a second: video and audio
		up := float64(res.Relay.ClientToPeerBytes*8) / spec.Duration.Seconds()
		down := float64(res.Relay.PeerToClientBytes*8) / spec.Duration.Seconds()
		// One publication up (with RTP/SRTP headers: a few per cent over
		// the payload), four subscriptions down; a call's first second or
		// so is setup.
		Expect(up).To(BeNumerically("~", stream, 0.15*stream), "up: alice's audio and video")
		Expect(down).To(BeNumerically("~", 4*stream, 0.15*4*stream), "down: four subscriptions")
		Expect(res.Relay.Bitrate).To(BeNumerically(">", 4*1.5e6), "five streams' worth, where the seed says ~1.5 Mbit/s extra")
		GinkgoWriter.Printf("relay: up %.2f Mbit/s, down %.2f Mbit/s, in all %.2f Mbit/s\n", up/1e6, down/1e6, res.Relay.Bitrate/1e6)
	})
})
