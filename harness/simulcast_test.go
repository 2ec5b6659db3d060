package harness_test

import (
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/harness/media"
	"github.com/icelab/icelab/vnet"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// layersFrom lists the layer forwarded in each second of q from second
// from on.
func layersFrom(q *harness.Quality, from int) []string {
	var out []string
	for _, s := range q.Seconds[from:] {
		out = append(out, s.Layer)
	}
	return out
}

var _ = Describe("simulcast", func() {
	It("forwards each subscriber the layer its downlink carries, the others keeping the top", func() {
		good := vnet.Impairment{Latency: 20 * time.Millisecond, Bandwidth: 10_000_000, QueueDelay: 200 * time.Millisecond}
		poor := vnet.Impairment{Latency: 20 * time.Millisecond, Down: &vnet.Impairment{Bandwidth: 500_000, QueueDelay: 200 * time.Millisecond}}
		alice := harness.ClientSpec{Name: "alice", CongestionControl: harness.GCC, Link: good,
			Publish: harness.Publish{Audio: true, Video: true, Simulcast: true}}
		bob := harness.ClientSpec{Name: "bob", CongestionControl: harness.GCC, Link: good}
		carol := harness.ClientSpec{Name: "carol", CongestionControl: harness.GCC, Link: poor}
		spec := call("simulcast", alice, bob, carol)
		spec.Duration = 20 * time.Second
		res := run(spec)

		// alice sends three streams, one a layer, each with its own SSRC;
		// her sender pads its lowest up towards the top layer's start.
		up := res.Client("alice").Media
		var streams []harness.StreamStats
		for _, m := range up {
			if m.Track == "alice/video" && m.Direction == media.AtNode {
				streams = m.Streams
			}
		}
		Expect(streams).To(HaveLen(3), "a stream per layer")

		b := flowQuality(res, "bob", "alice/video", media.Received)
		Expect(b.Simulcast).To(BeTrue())
		Expect(layersFrom(b, 5)).To(HaveEach("f"), "bob's link carries the top layer: %v", layersFrom(b, 0))
		Expect(b.LongestFreeze).To(BeNumerically("<", time.Second), "bob's video: %v", b.Freezes)
		Expect(b.PaddingBytes).To(BeZero(), "a publisher's padding is not forwarded")

		c := flowQuality(res, "carol", "alice/video", media.Received)
		Expect(layersFrom(c, 5)).To(HaveEach("q"), "carol's 500 kbit/s holds q: %v", layersFrom(c, 0))
		// Her video flows: a freeze of a few seconds while the node
		// probes her link for h is her link's, not a stuck receiver
		// (which decoded 192 frames in a minute before the node closed
		// the gaps a publisher's padding leaves).
		Expect(c.LongestFreeze).To(BeNumerically("<", 5*time.Second), "carol's video: %v", c.Freezes)
		Expect(c.FramesDecoded).To(BeNumerically(">", 20*20/2), "over half of q's 20 frames a second in 20 s are decoded on carol's link")
		// What carol receives is q's bitrate, and bob's the top layer's.
		var cbits, bbits uint64
		for i := 10; i < 20; i++ {
			cbits += c.Seconds[i].Bytes * 8
			bbits += b.Seconds[i].Bytes * 8
		}
		Expect(cbits / 10).To(BeNumerically("<", 200_000))
		Expect(bbits / 10).To(BeNumerically(">", 1_300_000))
	})
})
