package harness

import (
	"context"

	"github.com/icelab/icelab/harness/media"
)

// WithPublishers makes a run send each track a client or peer publishes
// with the publish that p returns for it, and call its onKeyframeRequest
// (nil: nothing) when the track's receiver asks for a keyframe: a test's
// own encoder, in place of media.Publish.
func WithPublishers(p func(owner, kind string) (publish func(ctx context.Context, track *media.Track, kind string, flow *media.Flow, active func() bool), onKeyframeRequest func())) Option {
	return func(o *options) {
		o.publishers = func(owner, kind string) (publishFunc, func()) {
			publish, onKeyframeRequest := p(owner, kind)
			return publish, onKeyframeRequest
		}
	}
}
