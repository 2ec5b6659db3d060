package media

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Track is a local track sent on one peer connection, as an SFU's down
// track or a client's published track is: bound once, with the SSRC and
// payload type its sender negotiated. Unlike pion's TrackLocalStaticRTP,
// its WriteRTP says whether a packet went out: pion accepts and drops
// writes while the peer connection's SRTP is not ready yet, and a packet
// that never left must not count as sent.
type Track struct {
	// b is what Bind and Unbind left, read without a lock by every
	// packet; first, so that a holder that embeds a track last (a media
	// node's down track) finds it next to its own fields.
	b  atomic.Pointer[binding]
	mu sync.Mutex // orders Bind and Unbind

	id, streamID string
	kind         string
	codec        webrtc.RTPCodecCapability
}

// binding is a track's negotiated sending: its SSRC stays after Unbind.
type binding struct {
	bound  bool
	ssrc   uint32
	pt     uint8
	writer webrtc.TrackLocalWriter
	id     string
}

// binding returns the track's binding, zero before the first Bind.
func (t *Track) binding() binding {
	if b := t.b.Load(); b != nil {
		return *b
	}
	return binding{}
}

// NewTrack returns a track of the kind (Audio or Video) with its codec,
// named id in stream streamID (the publisher, as LiveKit names tracks).
func NewTrack(kind, id, streamID string) *Track {
	t := new(Track)
	t.Init(kind, id, streamID)
	return t
}

// Init makes a zero track what NewTrack returns, for a holder that embeds
// its track rather than point to one.
func (t *Track) Init(kind, id, streamID string) {
	t.id, t.streamID, t.kind, t.codec = id, streamID, kind, Codec(kind)
}

// errUnsupportedCodec is returned to pion when the peer connection did not
// negotiate the track's codec.
var errUnsupportedCodec = errors.New("media: codec not negotiated")

// Bind implements webrtc.TrackLocal: it takes the negotiated codec that
// matches the track's.
func (t *Track) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range ctx.CodecParameters() {
		if strings.EqualFold(c.MimeType, t.codec.MimeType) && c.ClockRate == t.codec.ClockRate {
			t.b.Store(&binding{bound: true, ssrc: uint32(ctx.SSRC()), pt: uint8(c.PayloadType), writer: ctx.WriteStream(), id: ctx.ID()})
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, errUnsupportedCodec
}

// Unbind implements webrtc.TrackLocal.
func (t *Track) Unbind(ctx webrtc.TrackLocalContext) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if b := t.binding(); b.id == ctx.ID() {
		t.b.Store(&binding{ssrc: b.ssrc, pt: b.pt, id: b.id})
	}
	return nil
}

// ID implements webrtc.TrackLocal.
func (t *Track) ID() string { return t.id }

// RID implements webrtc.TrackLocal: no simulcast layer.
func (t *Track) RID() string { return "" }

// StreamID implements webrtc.TrackLocal.
func (t *Track) StreamID() string { return t.streamID }

// Kind implements webrtc.TrackLocal.
func (t *Track) Kind() webrtc.RTPCodecType { return CodecType(t.kind) }

// SSRC returns the SSRC the track is sent with; zero until it is bound.
func (t *Track) SSRC() uint32 {
	if b := t.b.Load(); b != nil {
		return b.ssrc
	}
	return 0
}

// WriteRTP sends a packet with the track's SSRC and payload type and
// reports whether it went out: false, with no error, while the track is
// unbound or its peer connection's SRTP is not ready.
func (t *Track) WriteRTP(h *rtp.Header, payload []byte) (bool, error) {
	b := t.b.Load()
	if b == nil || !b.bound {
		return false, nil
	}
	h.SSRC, h.PayloadType = b.ssrc, b.pt
	n, err := b.writer.WriteRTP(h, payload)
	return n > 0 && err == nil, err
}
