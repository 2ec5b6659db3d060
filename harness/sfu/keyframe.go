package sfu

import (
	"time"

	"github.com/icelab/icelab/harness/media"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// pliThrottle is the least time between two keyframe requests the node
// sends for one upstream stream: LiveKit's PLI throttle for a track's
// lowest layer, which is the only layer of a track without simulcast
// (livekit/livekit pkg/sfu/receiver_base.go, DefaultPLIThrottleConfig
// LowQuality, chosen by layer in setupBuffer; rtp_stats' CheckAndUpdatePli).
// The harness publishes one layer.
const pliThrottle = 500 * time.Millisecond

// upstream is the stream a publication forwards now, as a keyframe request
// reaches its sender: its SSRC, the publisher's peer connection it arrives
// on, and its stream at the node, where requests are counted.
type upstream struct {
	ssrc   uint32
	pc     *webrtc.PeerConnection
	stream *media.Stream
}

// setUpstream makes up the stream keyframe requests go to; a new SSRC
// starts a new throttle, as LiveKit's throttle is its upstream buffer's.
func (p *publication) setUpstream(up upstream) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if up.ssrc != p.up.ssrc {
		p.lastPLI = time.Time{}
	}
	p.up = up
}

// requestKeyframe forwards a subscriber's keyframe request, made at now,
// to the publisher: an RTCP PLI for the upstream stream, written on the
// publisher's peer connection, unless the node sent one for that stream
// less than pliThrottle ago. It is LiveKit's path (pkg/sfu/downtrack.go
// handleRTCP: a PLI for the down track's SSRC calls Receiver().SendPLI(layer,
// false); pkg/sfu/buffer/buffer_base.go SendPLI drops it unless
// CheckAndUpdatePli lets it through, and buffer.go sendPLI writes a PLI
// whose sender and media SSRC are the upstream's). Subscribers asking at
// once share one request.
func (p *publication) requestKeyframe(now time.Time) {
	p.mu.Lock()
	up := p.up
	if up.pc == nil || (!p.lastPLI.IsZero() && now.Sub(p.lastPLI) < pliThrottle) {
		p.mu.Unlock()
		return
	}
	p.lastPLI = now
	p.mu.Unlock()
	pli := []rtcp.Packet{&rtcp.PictureLossIndication{SenderSSRC: up.ssrc, MediaSSRC: up.ssrc}}
	if up.pc.WriteRTCP(pli) == nil {
		up.stream.RequestedKeyframe()
	}
}
