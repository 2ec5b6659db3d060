package media

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
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
	// rid is the simulcast encoding the track is ("": none); mid returns
	// its transceiver's media ID once negotiated. A simulcast encoding's
	// packets carry both in header extensions (RFC 8852, RFC 8843 §15)
	// until the receiver acknowledges its SSRC (see Acknowledged).
	rid   string
	mid   func() string
	acked atomic.Bool
}

// binding is a track's negotiated sending: its SSRC stays after Unbind.
type binding struct {
	bound  bool
	ssrc   uint32
	pt     uint8
	writer webrtc.TrackLocalWriter
	id     string
	// The negotiated IDs of the MID and RID header extensions, and the
	// MID's value, for a simulcast encoding (zero otherwise).
	midExt, ridExt uint8
	mid, rid       []byte
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

// NewLayerTrack returns a track of one simulcast encoding rid of a video
// publication (RFC 8853): its packets name their encoding and their
// transceiver's media ID, which mid returns once negotiated, so that the
// receiver can tell the encodings apart before it knows their SSRCs.
// Every layer of a publication has the same id and streamID.
func NewLayerTrack(id, streamID, rid string, mid func() string) *Track {
	t := NewTrack(Video, id, streamID)
	t.rid, t.mid = rid, mid
	return t
}

// Acknowledged tells a simulcast encoding's track that its receiver knows
// its SSRC (a receiver report on it arrived): as libwebrtc's RTP sender
// (rtp_sender.cc, UpdateHeaderSizes and ssrc_has_acked_), it stops sending
// the MID and RID header extensions.
func (t *Track) Acknowledged() { t.acked.Store(true) }

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
			b := &binding{bound: true, ssrc: uint32(ctx.SSRC()), pt: uint8(c.PayloadType), writer: ctx.WriteStream(), id: ctx.ID()}
			if t.rid != "" {
				t.bindLayer(b, ctx.HeaderExtensions())
			}
			t.b.Store(b)
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, errUnsupportedCodec
}

// bindLayer finds the negotiated MID and RID header extensions a
// simulcast encoding's packets carry; without both, pion's receiver cannot
// tell its encodings apart (peerconnection.go handleIncomingSSRC), and the
// packets go without them.
func (t *Track) bindLayer(b *binding, exts []webrtc.RTPHeaderExtensionParameter) {
	var mid string
	if t.mid != nil {
		mid = t.mid()
	}
	for _, e := range exts {
		switch e.URI {
		case sdp.SDESMidURI:
			b.midExt = uint8(e.ID) //nolint:gosec // extension IDs are 1 to 255
		case sdp.SDESRTPStreamIDURI:
			b.ridExt = uint8(e.ID) //nolint:gosec // extension IDs are 1 to 255
		}
	}
	if b.midExt == 0 || b.ridExt == 0 || mid == "" {
		b.midExt, b.ridExt = 0, 0
		return
	}
	b.mid, b.rid = []byte(mid), []byte(t.rid)
}

// Unbind implements webrtc.TrackLocal.
func (t *Track) Unbind(ctx webrtc.TrackLocalContext) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if b := t.binding(); b.id == ctx.ID() {
		t.b.Store(&binding{ssrc: b.ssrc, pt: b.pt, id: b.id, midExt: b.midExt, ridExt: b.ridExt, mid: b.mid, rid: b.rid})
	}
	return nil
}

// ID implements webrtc.TrackLocal.
func (t *Track) ID() string { return t.id }

// RID implements webrtc.TrackLocal: the simulcast encoding, "" for none.
func (t *Track) RID() string { return t.rid }

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
	if b.ridExt != 0 && !t.acked.Load() {
		if err := h.SetExtension(b.midExt, b.mid); err != nil {
			return false, err
		}
		if err := h.SetExtension(b.ridExt, b.rid); err != nil {
			return false, err
		}
	}
	n, err := b.writer.WriteRTP(h, payload)
	return n > 0 && err == nil, err
}
