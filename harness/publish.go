package harness

import (
	"context"

	"github.com/icelab/icelab/harness/media"
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
	share := 0
	if pub.Audio {
		share = media.AudioBitrate
	}
	return media.NewEncoder(est, share)
}
