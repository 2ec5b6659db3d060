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
		spec.Duration = 45 * time.Second
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
		Expect(layersFrom(b, 30)).To(HaveEach("f"), "bob's link carries the top layer: %v", layersFrom(b, 0))
		Expect(b.LongestFreeze).To(BeNumerically("<", time.Second), "bob's video: %v", b.Freezes)
		Expect(b.PaddingBytes).To(BeZero(), "a publisher's padding is not forwarded")

		c := flowQuality(res, "carol", "alice/video", media.Received)
		Expect(layersFrom(c, 20)).To(HaveEach("q"), "carol's 500 kbit/s holds q: %v", layersFrom(c, 0))
		Expect(c.FramesDecoded).To(BeNumerically(">", 20*25), "q's 20 frames a second are decoded on carol's link")
		// What carol receives is q's bitrate, and bob's the top layer's.
		var cbits, bbits uint64
		for i := 30; i < 45; i++ {
			cbits += c.Seconds[i].Bytes * 8
			bbits += b.Seconds[i].Bytes * 8
		}
		Expect(cbits / 15).To(BeNumerically("<", 200_000))
		Expect(bbits / 15).To(BeNumerically(">", 1_300_000))
	})
})
