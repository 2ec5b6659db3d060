package harness_test

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/harness/media"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// vp8Encoder stands in for a video encoder: it sends VP8 frames of
// media.Publish's size and rate whose first byte (the VP8 payload header,
// RFC 7741 §4.3) says inter frame (0x01), but for the first frame and the
// frame after each keyframe request (0x00, a keyframe), so that a frame
// lost is a decoder stuck until a keyframe.
type vp8Encoder struct {
	keyframe atomic.Bool
	requests atomic.Int64
}

// requestKeyframe asks for a keyframe next: the sender's PLI callback.
func (e *vp8Encoder) requestKeyframe() {
	e.keyframe.Store(true)
	e.requests.Add(1)
}

// publish is media.Publish's loop with the encoder's frames.
func (e *vp8Encoder) publish(ctx context.Context, track *media.Track, _ string, flow *media.Flow, active func() bool) {
	packetizer := rtp.NewPacketizer(media.RTPMTU, 0, 0, &codecs.VP8Payloader{}, rtp.NewRandomSequencer(), media.VideoClockRate)
	samples := uint32(media.VideoInterval.Seconds() * media.VideoClockRate)
	ticker := time.NewTicker(media.VideoInterval)
	defer ticker.Stop()
	frame := make([]byte, media.VideoFrame)
	e.keyframe.Store(true)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		ssrc := track.SSRC()
		if !active() || ssrc == 0 {
			continue
		}
		frame[0] = 0x01
		if e.keyframe.Swap(false) {
			frame[0] = 0x00
		}
		stream := flow.Stream(ssrc)
		for _, pkt := range packetizer.Packetize(frame, samples) {
			media.Send(track, stream, pkt)
		}
	}
}

// withEncoder sends every video track with a vp8Encoder of its own, the
// ones of owner reachable through encoders, its keyframe requests wired
// to the encoder unless pli is false.
func withEncoder(encoders map[string]*vp8Encoder, pli bool) harness.Option {
	return harness.WithPublishers(func(owner, kind string) (func(context.Context, *media.Track, string, *media.Flow, func() bool), func()) {
		if kind != media.Video {
			return func(ctx context.Context, track *media.Track, kind string, flow *media.Flow, active func() bool) {
				media.Publish(ctx, track, kind, flow, active, nil)
			}, nil
		}
		e := &vp8Encoder{}
		encoders[owner] = e
		if !pli {
			return e.publish, nil
		}
		return e.publish, e.requestKeyframe
	})
}

// seconds sums a series' entries from one second on.
func perSecond(q *harness.Quality, from time.Duration, of func(harness.Second) uint64) uint64 {
	var n uint64
	for _, s := range q.Seconds {
		if s.At >= from {
			n += of(s)
		}
	}
	return n
}

var _ = Describe("video frames and keyframe requests", func() {
	// Bob's link goes dead for 2 s. The node keeps the last 256 packets
	// of bob's copy of alice's video for retransmission (1.4 s of it): the
	// first part of the cut is never recovered, so every frame after it,
	// complete or not, references a frame bob never gets. Packets arrive
	// again and nothing shows, until bob's receiver, 3 s after its last
	// decoded frame, asks for a keyframe (libwebrtc's timeout); the node
	// forwards the PLI to alice's upstream, her encoder makes a keyframe,
	// and the video runs again. Without the keyframe, it stays frozen.
	spec := func() harness.Spec {
		spec := call("stuck decoder", harness.ClientSpec{Name: "alice", Publish: harness.Publish{Video: true}},
			harness.ClientSpec{Name: "bob", Publish: harness.Publish{Audio: true}})
		spec.Faults = []harness.Fault{
			{Name: "cut", When: harness.Trigger{Event: "connected", Client: "bob", After: 4 * time.Second}, Kind: harness.CutLink, Target: "bob"},
			{Name: "restore", When: harness.Trigger{Event: "connected", Client: "bob", After: 6 * time.Second}, Kind: harness.Restore, Target: "bob"},
		}
		spec.Duration = 14 * time.Second
		return spec
	}
	videoAt := func(res harness.Result, owner, direction string) *harness.Quality {
		GinkgoHelper()
		m := flow(res.Client(owner), "alice/video", direction)
		Expect(m).NotTo(BeNil(), "alice/video %s at %s", direction, owner)
		Expect(m.Quality).NotTo(BeNil())
		return m.Quality
	}
	cutAt := func(res harness.Result) time.Duration {
		GinkgoHelper()
		for _, f := range res.Faults {
			if f.Name == "cut" {
				return f.At
			}
		}
		Fail("the cut was not applied")
		return 0
	}

	It("freezes a receiver whose frames reference a lost one until its PLI, forwarded by the node, brings a keyframe", func() {
		encoders := map[string]*vp8Encoder{}
		res := harness.RunT(suiteT, spec(), harness.WithCA(ca), withEncoder(encoders, true))
		Expect(res.Err).To(BeEmpty())
		honest(res)
		cut := cutAt(res)
		down := videoAt(res, "bob", "received")
		GinkgoWriter.Printf("bob: %d frames complete, %d decoded, %d dropped, %d keyframes, %d PLIs sent; freezes %v\n",
			down.FramesReceived, down.FramesDecoded, down.FramesDropped, down.KeyFramesDecoded, down.PLIs, down.Freezes)

		// One freeze, from the last frame before the cut to the keyframe:
		// the 2 s cut and the second more until the receiver's 3 s wait
		// for a decodable frame ran out, plus the keyframe's round trip.
		Expect(down.Freezes).To(HaveLen(1))
		freeze := down.Freezes[0]
		Expect(freeze.Ongoing).To(BeFalse(), "the keyframe ended the freeze")
		Expect(freeze.Start).To(BeNumerically("~", cut, 100*time.Millisecond))
		Expect(freeze.Duration()).To(BeNumerically(">", 3*time.Second))
		Expect(freeze.Duration()).To(BeNumerically("<", 3500*time.Millisecond))
		Expect(down.FramesDropped).To(BeNumerically(">", 10), "frames after the loss arrived whole and were never shown")
		Expect(down.KeyFramesDecoded).To(BeNumerically(">=", 2))

		// Bob asked after the cut; the node forwarded it to alice's
		// upstream stream, throttled; alice's encoder heard it.
		sent := perSecond(down, cut, func(s harness.Second) uint64 { return s.PLIs })
		Expect(sent).To(BeNumerically(">=", 1), "bob's PLIs after the cut")
		up := videoAt(res, "alice", "at-node")
		forwarded := perSecond(up, cut, func(s harness.Second) uint64 { return s.PLIs })
		Expect(forwarded).To(BeNumerically(">=", 1), "the node's PLIs to alice after the cut")
		Expect(up.PLIs).To(BeNumerically("<=", down.PLIs), "the node forwards no more than it was asked")
		Expect(encoders["alice"].requests.Load()).To(BeNumerically("==", up.PLIs), "alice's encoder heard every PLI the node sent")
		Expect(up.Freezes).To(BeEmpty(), "alice's uplink lost nothing")

		// The video runs again to the end.
		last := down.Seconds[len(down.Seconds)-2]
		Expect(last.Frames).To(BeNumerically("~", 30, 2), "frames shown in the last whole second")
	})

	It("stays frozen when nobody answers the keyframe requests", func() {
		encoders := map[string]*vp8Encoder{}
		res := harness.RunT(suiteT, spec(), harness.WithCA(ca), withEncoder(encoders, false))
		Expect(res.Err).To(BeEmpty())
		down := videoAt(res, "bob", "received")
		Expect(down.PLIs).To(BeNumerically(">=", 2), "bob asks again every 3 s")
		Expect(down.Freezes).NotTo(BeEmpty())
		Expect(down.Freezes[len(down.Freezes)-1].Ongoing).To(BeTrue(), "frozen to the end: %v", down.Freezes)
		Expect(encoders["alice"].requests.Load()).To(BeZero())
	})
})
