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
// media.Publish, whose frames need no keyframe request (each is a
// keyframe: its first byte, the VP8 payload header's P bit, is 0).
func (r *runState) publisher(owner, kind string) (publishFunc, func()) {
	if r.publishers != nil {
		return r.publishers(owner, kind)
	}
	return media.Publish, nil
}
