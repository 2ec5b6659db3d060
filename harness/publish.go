package harness

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/icelab/icelab/harness/media"
	"github.com/pion/webrtc/v4"
)

// publishFunc sends a published track while active says so, counting what
// it sends on flow: media.Publish is one.
type publishFunc func(ctx context.Context, track *media.Track, kind string, flow *media.Flow, active func() bool)

// publishers makes the sender of each track a client or peer (owner)
// publishes: what sends it, and what a keyframe request (RTCP PLI or FIR)
// from its receiver calls (nil: nothing).
type publishers func(owner, kind string) (publish publishFunc, onKeyframeRequest func())

// publisher returns the sender of owner's track of the kind: a test's, or
// media.Publish with the video encoder of the publication (newEncoder:
// following est, the connection's congestion controller, if any), whose
// RequestKeyframe a keyframe request calls.
func (r *runState) publisher(owner, kind string, est media.Estimator, pub Publish) (publishFunc, func()) {
	if r.publishers != nil {
		return r.publishers(owner, kind)
	}
	enc := newEncoder(kind, est, pub)
	publish := func(ctx context.Context, track *media.Track, kind string, flow *media.Flow, active func() bool) {
		media.Publish(ctx, track, kind, flow, active, enc)
	}
	if enc == nil {
		return publish, nil
	}
	return publish, enc.RequestKeyframe
}

// newEncoder returns the video encoder of a publication of kind that
// follows est, the connection's congestion controller (nil: a fixed
// bitrate), leaving what the publication's audio takes; nil for audio.
func newEncoder(kind string, est media.Estimator, pub Publish) *media.Encoder {
	if kind != media.Video {
		return nil
	}
	return media.NewEncoder(est, audioShare(pub))
}

// audioShare is what a publication's audio takes of its connection's
// target, which its video encoder leaves.
func audioShare(pub Publish) int {
	if pub.Audio {
		return media.AudioBitrate
	}
	return 0
}

// addSimulcast adds the client's video as a simulcast publication: one
// send-only transceiver with an encoding per layer (media.SimulcastLayers,
// RTPSender.AddEncoding, each its own SSRC and RID), frames from a
// simulcast encoder following est (nil: every layer at its top bitrate),
// sent while active says so. A keyframe request on any layer's SSRC asks
// for keyframes on all (media.SimulcastEncoder). A test's publishers are
// not used: they send one stream.
func (c *client) addSimulcast(ctx context.Context, pc *webrtc.PeerConnection, est media.Estimator, active func() bool) error {
	layers := media.SimulcastLayers()
	// The transceiver's media ID, which each layer's packets carry, is
	// known once the offer is made; the layers read it when bound.
	var tr atomic.Pointer[webrtc.RTPTransceiver]
	mid := func() string {
		if t := tr.Load(); t != nil {
			return t.Mid()
		}
		return ""
	}
	tracks := make([]*media.Track, len(layers))
	for i, l := range layers {
		tracks[i] = media.NewLayerTrack(media.Video, c.spec.Name, l.RID, mid)
	}
	t, err := pc.AddTransceiverFromTrack(tracks[0], webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return fmt.Errorf("simulcast: %w", err)
	}
	tr.Store(t)
	for _, track := range tracks[1:] {
		if err := t.Sender().AddEncoding(track); err != nil {
			return fmt.Errorf("simulcast layer %s: %w", track.RID(), err)
		}
	}
	enc := media.NewSimulcastEncoder(est, audioShare(c.spec.Publish), layers)
	flow := c.run.meter.Flow(media.FlowKey{Owner: c.spec.Name, Track: c.spec.Name + "/" + media.Video, Kind: media.Video, Direction: media.AtNode})
	c.spawn(func() { media.PublishSimulcast(ctx, tracks, flow, active, enc) })
	for _, track := range tracks {
		c.spawn(func() { media.DrainLayerRTCP(t.Sender(), track, flow, enc.RequestKeyframe) })
	}
	return nil
}
