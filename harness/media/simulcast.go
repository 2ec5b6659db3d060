package media

import (
	"sync"
	"time"
)

// Layer is one encoding of a simulcast video publication (RFC 8853): its
// RTP stream ID, resolution and frame rate, and the bitrates its encoder
// runs at, in bits per second. A layer is sent only when the
// publication's target leaves it at least Min; lower layers get up to
// Target, the top one up to Max.
type Layer struct {
	RID              string
	Width, Height    int
	FPS              int
	Min, Target, Max int
}

// SimulcastLayers returns the three encodings of a simulcast camera
// publication, lowest first, as LiveKit's JS client publishes a 720p
// camera (client-sdk-js src/room/participant/publishUtils.ts: presets h180
// and h360 below the camera's own, RIDs q, h and f; src/room/track/options.ts
// VideoPresets: 160 kbit/s at 20 fps, 450 kbit/s at 20 fps, 1.7 Mbit/s at
// 30 fps), with the top capped at the harness's 720p bitrate
// (MaxVideoBitrate, 1.5 Mbit/s) so that a simulcast publication's top
// layer is the harness's video. Min and Target are libwebrtc's for each
// resolution (video/config/simulcast.cc, the VP8 table: 30/150/200,
// 150/500/700 and 600/2500/2500 kbit/s) clamped to the layer's maximum, as
// libwebrtc clamps them to an encoding's maxBitrate
// (video/config/encoder_stream_factory.cc).
func SimulcastLayers() []Layer {
	return []Layer{
		{RID: "q", Width: 320, Height: 180, FPS: 20, Min: 30_000, Target: 150_000, Max: 160_000},
		{RID: "h", Width: 640, Height: 360, FPS: 20, Min: 150_000, Target: 450_000, Max: 450_000},
		{RID: "f", Width: 1280, Height: 720, FPS: 30, Min: 600_000, Target: MaxVideoBitrate, Max: MaxVideoBitrate},
	}
}

// SimulcastMax is the most a simulcast publication's layers take together:
// the lower layers at their targets, the top at its maximum.
func SimulcastMax(layers []Layer) int {
	total := 0
	for _, l := range layers[:len(layers)-1] {
		total += l.Target
	}
	return total + layers[len(layers)-1].Max
}

// StartsKeyframe reports whether a VP8 RTP payload is the first packet of
// a keyframe (RFC 7741 §4.2 and §4.3): where a media node may switch a
// subscriber to another layer.
func StartsKeyframe(payload []byte) bool {
	start, key := vp8Start(payload)
	return start && key
}

// layerHysteresis is how much more than its minimum a layer that is not
// being sent needs before it starts (never more than its Target):
// libwebrtc's SimulcastRateAllocator
// (modules/video_coding/utility/simulcast_rate_allocator.cc) with the video
// hysteresis factor (rtc_base/experiments/stable_target_rate_experiment.cc,
// 1.2; screen share 1.35).
const layerHysteresis = 1.2

// keyframeRequestGap is the least time between two keyframes a request
// makes: libwebrtc's encoder feedback drops a request within 300 ms of the
// last it honoured (video/encoder_rtcp_feedback.cc, kMinKeyframeSendInterval).
const keyframeRequestGap = 300 * time.Millisecond

// allocate splits total bits per second over layers as libwebrtc's
// SimulcastRateAllocator does: lowest layer first, each given up to its
// Target while what is left covers its Min (its Min times layerHysteresis
// if it was not sent before), the layers above the first that cannot
// go unsent, and what is left after the lower layers' targets to the top
// layer sent, up to its Max. The lowest layer is always sent, at its Min
// if total is less (libwebrtc leaves suspending video to the bandwidth
// allocation above it). out[i] is layer i's bitrate, 0 when it
// is not sent; was says which layers were sent before.
func allocate(layers []Layer, total int, was []bool, out []int) {
	clear(out)
	left := total
	top := -1
	for i, l := range layers {
		need := l.Min
		if !was[i] {
			need = min(int(float64(l.Min)*layerHysteresis), l.Target)
		}
		if i > 0 && left < need {
			break
		}
		out[i] = min(left, l.Target)
		left -= out[i]
		top = i
	}
	if top >= 0 && left > 0 {
		extra := min(left, layers[top].Max-out[top])
		out[top] += extra
	}
	out[0] = max(out[0], layers[0].Min)
}

// SimulcastEncoder is the rate control of a simulcast video publication's
// encoders, without pixels: every VideoInterval, each layer its share of
// the target covers makes a frame if its frame rate has one due, each of
// the size its layer's bitrate gives (see rateControl), as libwebrtc's
// simulcast VP8 encoder does under send-side congestion control. Keyframes
// are made on every layer at once, as libvpx's simulcast encoder makes
// them (modules/video_coding/codecs/vp8/libvpx_vp8_encoder.cc: a keyframe
// request forces one on every stream; a stream that starts being sent
// needs one): first, when a layer starts, and when a receiver asks
// (libwebrtc honours a request on any layer's SSRC for all of them, at most
// every keyframeRequestGap). Without an estimator every layer runs at its
// Max. Safe for concurrent use.
type SimulcastEncoder struct {
	estimator Estimator
	share     int
	layers    []Layer

	mu       sync.Mutex
	rc       []rateControl
	sending  []bool
	rates    []int
	due      []int // per layer, its frame rate's count toward the next frame (see Frames)
	bufs     [][]byte
	out      []LayerFrame
	keyframe bool      // the next frames are keyframes
	lastKey  time.Time // when a request last made keyframes
}

// NewSimulcastEncoder returns the encoders of layers following e's target
// bitrate, less share that the connection's other streams take; a nil e
// sends every layer at its Max.
func NewSimulcastEncoder(e Estimator, share int, layers []Layer) *SimulcastEncoder {
	s := &SimulcastEncoder{estimator: e, share: share, layers: layers, keyframe: true,
		rc: make([]rateControl, len(layers)), sending: make([]bool, len(layers)),
		rates: make([]int, len(layers)), due: make([]int, len(layers))}
	for i, l := range layers {
		s.bufs = append(s.bufs, frameBuffer(l.Max, l.FPS))
		s.due[i] = frameRate - 1 // the first tick makes a frame
	}
	return s
}

// Layers returns the encoder's layers, lowest first.
func (s *SimulcastEncoder) Layers() []Layer { return s.layers }

// RequestKeyframe asks for keyframes, as a PLI for any layer's stream
// does: the next frames of every layer are keyframes, unless a request
// made keyframes less than keyframeRequestGap ago.
func (s *SimulcastEncoder) RequestKeyframe() {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.lastKey.IsZero() && now.Sub(s.lastKey) < keyframeRequestGap {
		return
	}
	s.lastKey, s.keyframe = now, true
}

// Target returns the bitrate the layers' last frames were made for
// together, in bits per second.
func (s *SimulcastEncoder) Target() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	total := 0
	for _, r := range s.rates {
		total += r
	}
	return total
}

// LayerFrame is one layer's frame of a simulcast publication.
type LayerFrame struct {
	Layer   int
	Payload []byte
	Key     bool
}

// Frames returns each layer's frame of this VideoInterval, lowest layer
// first, for the layers sent now whose frame rate has a frame due; the
// frames and their bytes are valid until the next call.
func (s *SimulcastEncoder) Frames() []LayerFrame {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.estimator == nil {
		for i, l := range s.layers {
			s.rates[i] = l.Max
		}
	} else {
		allocate(s.layers, max(s.estimator.GetTargetBitrate()-s.share, MinVideoBitrate), s.sending, s.rates)
	}
	for i, rate := range s.rates {
		if rate > 0 && !s.sending[i] {
			s.keyframe = true // a layer starts: keyframes on all
		}
		s.sending[i] = rate > 0
	}
	if s.keyframe {
		// Each layer's next frame, this tick's or a later one's.
		for i := range s.rc {
			s.rc[i].keyframe = true
		}
		s.keyframe = false
	}
	s.out = s.out[:0]
	for i, rate := range s.rates {
		// A layer at FPS frames a second makes a frame on FPS of every
		// frameRate ticks, evenly spread.
		s.due[i] += s.layers[i].FPS
		if s.due[i] < frameRate {
			continue
		}
		s.due[i] -= frameRate
		if rate == 0 {
			continue
		}
		payload, k := s.rc[i].frame(rate, s.layers[i].FPS, s.estimator != nil, s.bufs[i])
		s.out = append(s.out, LayerFrame{Layer: i, Payload: payload, Key: k})
	}
	return s.out
}
