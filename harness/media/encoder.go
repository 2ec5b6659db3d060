package media

import (
	"sync"
	"time"
)

// Video encoder shapes under a congestion controller, after libwebrtc's
// defaults: a call starts at 300 kbit/s (call/bitrate_constraints.h,
// kDefaultStartBitrateBps) and the video encoder does not go below 30
// kbit/s (media/engine/webrtc_video_engine.cc, kMinVideoBitrateBps); the
// top is the harness's 720p video, VideoFrame at 30 fps (1.5 Mbit/s).
const (
	StartBitrate    = 300_000
	MinVideoBitrate = 30_000
	MaxVideoBitrate = VideoFrame * 8 * int(time.Second/VideoInterval)
	// AudioBitrate is what audio takes of a target: Opus at 32 kbit/s
	// plus RTP, SRTP and UDP overhead at 50 packets a second.
	AudioBitrate = (AudioFrame + 12 + 10 + 28) * 8 * int(time.Second/AudioInterval)
	// keyframeScale is how much larger a keyframe is than an inter frame
	// at the same target: libwebrtc's VP8 rate control caps a keyframe at
	// several inter frames (MaxKeyframeBitrate's 0.5 s of the target is
	// the ceiling); the frames after it are smaller until the encoder is
	// back on budget.
	keyframeScale = 4
	// budgetFrames is how many frames the encoder spreads a keyframe's
	// excess over.
	budgetFrames = 10
)

// frameRate is the camera's frames a second.
const frameRate = int(time.Second / VideoInterval)

// VP8 payload header's first byte (RFC 7741 section 4.3): bit 0 (P) is 0
// for a keyframe, 1 for an inter frame.
const (
	vp8Keyframe   = 0x00
	vp8InterFrame = 0x01
)

// Estimator is a congestion controller's view of the path: the bitrate,
// in bits per second, the sender may send at (pion/interceptor's
// cc.BandwidthEstimator has it).
type Estimator interface {
	GetTargetBitrate() int
}

// Encoder is a video encoder's rate control, without pixels: it makes a
// frame every VideoInterval whose size follows a target bitrate, as an
// encoder under send-side congestion control does (libwebrtc hands the
// encoder the bitrate the estimator allocates to the stream), a keyframe
// first and whenever a receiver asks for one (RTCP PLI), its excess paid
// back by the frames after it. Without an estimator it sends MaxVideoBitrate
// whatever the path, every frame the same size, keyframes included (a
// constant-bitrate encoder without congestion control: the harness's
// media before senders adapted, unchanged). Safe for concurrent use.
type Encoder struct {
	estimator Estimator // nil: a fixed bitrate
	share     int       // what other streams take of the estimator's target

	mu  sync.Mutex
	rc  rateControl
	buf []byte
}

// rateControl is one encoded stream's frame sizes: a keyframe when asked
// for, its excess paid back over the frames after it.
type rateControl struct {
	keyframe bool // the next frame is a keyframe
	debt     int  // bytes sent above the target, paid back over budgetFrames
	target   int  // the bitrate the last frame was made for
}

// frame returns the next frame, cut from buf, for target bits per second
// at fps frames a second,
// and whether it is a keyframe; adaptive says the target follows a
// congestion controller (a fixed-bitrate encoder makes its keyframes the
// size of any frame). Its first byte is the VP8 payload header's (RFC 7741
// section 4.3), so that a receiver can tell keyframes apart.
func (rc *rateControl) frame(target, fps int, adaptive bool, buf []byte) ([]byte, bool) {
	rc.target = target
	perFrame := target / 8 / fps
	size := perFrame
	key := rc.keyframe
	if key && adaptive {
		size = keyframeScale * perFrame
		rc.debt += size - perFrame
	} else if rc.debt > 0 {
		pay := min(rc.debt, perFrame/2, max(rc.debt/budgetFrames, 1))
		size -= pay
		rc.debt -= pay
	}
	rc.keyframe = false
	frame := buf[:min(max(size, 1), len(buf))]
	frame[0] = vp8InterFrame
	if key {
		frame[0] = vp8Keyframe
	}
	return frame, key
}

// NewEncoder returns an encoder that follows e's target bitrate, less
// share bits per second that the connection's other streams take (its
// audio); a nil e sends at MaxVideoBitrate.
func NewEncoder(e Estimator, share int) *Encoder {
	return &Encoder{estimator: e, share: share, rc: rateControl{keyframe: true}, buf: frameBuffer(MaxVideoBitrate, frameRate)}
}

// frameBuffer returns a buffer for the frames of a stream of at most max
// bits per second, keyframes included.
func frameBuffer(max, fps int) []byte {
	buf := make([]byte, keyframeScale*(max/8/fps+1))
	for i := range buf {
		buf[i] = byte(i)
	}
	return buf
}

// RequestKeyframe makes the next frame a keyframe, as a PLI asks.
func (e *Encoder) RequestKeyframe() {
	e.mu.Lock()
	e.rc.keyframe = true
	e.mu.Unlock()
}

// Target returns the bitrate the encoder last made a frame for, in bits
// per second.
func (e *Encoder) Target() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rc.target
}

// Frame returns the next frame's bytes, valid until the next call, and
// whether it is a keyframe. Its first byte is the VP8 payload header's
// (RFC 7741 section 4.3), so that a receiver can tell keyframes apart.
func (e *Encoder) Frame() ([]byte, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	target := MaxVideoBitrate
	if e.estimator != nil {
		target = min(max(e.estimator.GetTargetBitrate()-e.share, MinVideoBitrate), MaxVideoBitrate)
	}
	return e.rc.frame(target, frameRate, e.estimator != nil, e.buf)
}
