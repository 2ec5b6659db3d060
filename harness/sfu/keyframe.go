package sfu

import (
	"time"

	"github.com/icelab/icelab/harness/media"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// pliThrottle is the least time between two keyframe requests the node
// sends for one upstream stream of a layer: LiveKit's PLI throttle
// (livekit/livekit pkg/sfu/receiver_base.go, DefaultPLIThrottleConfig: 500
// ms for the lowest layer, which is a track's only layer without simulcast,
// and 1 s for the layers above it, chosen by layer in setupBuffer;
// rtp_stats' CheckAndUpdatePli).
func pliThrottle(layer int) time.Duration {
	if layer == 0 {
		return 500 * time.Millisecond
	}
	return time.Second
}

// upstream is the stream a publication forwards now, as a keyframe request
// reaches its sender: its SSRC, the publisher's peer connection it arrives
// on, and its stream at the node, where requests are counted.
type upstream struct {
	ssrc   uint32
	pc     *webrtc.PeerConnection
	stream *media.Stream
}

// setUpstream makes up the stream of the layer keyframe requests go to; a
// new SSRC starts a new throttle, as LiveKit's throttle is its upstream
// buffer's.
func (p *publication) setUpstream(layer int, up upstream) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if up.ssrc != p.up[layer].ssrc {
		p.lastPLI[layer] = time.Time{}
	}
	p.up[layer] = up
}

// requestKeyframe forwards a keyframe request for the layer, made at now,
// to the publisher: an RTCP PLI for the layer's upstream stream, written on
// the publisher's peer connection, unless the node sent one for that
// stream less than pliThrottle ago. It is LiveKit's path (pkg/sfu/downtrack.go
// handleRTCP: a PLI for the down track's SSRC calls Receiver().SendPLI(layer,
// false) for the layer the down track forwards or moves to;
// pkg/sfu/buffer/buffer_base.go SendPLI drops it unless CheckAndUpdatePli
// lets it through, and buffer.go sendPLI writes a PLI whose sender and
// media SSRC are the upstream's). Subscribers asking at once share one
// request.
func (p *publication) requestKeyframe(layer int, now time.Time) {
	if layer < 0 {
		return
	}
	p.mu.Lock()
	up := p.up[layer]
	if up.pc == nil || (!p.lastPLI[layer].IsZero() && now.Sub(p.lastPLI[layer]) < pliThrottle(layer)) {
		p.mu.Unlock()
		return
	}
	p.lastPLI[layer] = now
	p.mu.Unlock()
	pli := []rtcp.Packet{&rtcp.PictureLossIndication{SenderSSRC: up.ssrc, MediaSSRC: up.ssrc}}
	if up.pc.WriteRTCP(pli) == nil {
		up.stream.RequestedKeyframe()
	}
}
