package media

import (
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Receive reads the RTP arriving on a remote track until it closes and
// counts it on flow's stream of the track's SSRC, each packet's payload
// without its padding, so that the stream tells a padding-only packet from
// media (see Stream.Received); a packet whose padding is malformed is
// dropped, as pion's rtp.Packet.Unmarshal and libwebrtc's
// RtpPacket::ParseBuffer drop it. A video track's frames are assembled as
// a receiver's decoder would take them (see frames). With
// requestKeyframe, the receiver asks for keyframes as libwebrtc's does (see
// keyframeRequests): requestKeyframe is called with the track's SSRC, from
// the reading goroutine or a timer's, to send the request (PLISender), and
// each request is counted on the stream.
func Receive(tr *webrtc.TrackRemote, flow *Flow, requestKeyframe func(ssrc uint32)) {
	ssrc := uint32(tr.SSRC())
	stream := flow.Stream(ssrc)
	video := flow.video && tr.Kind() == webrtc.RTPCodecTypeVideo
	requests := video && requestKeyframe != nil
	request := func() {
		requestKeyframe(ssrc)
		stream.RequestedKeyframe()
	}
	if requests {
		stream.StartKeyframeRequests()
		defer keyframeTimer(stream, request)()
	}
	var h rtp.Header
	buf := make([]byte, 1500)
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return
		}
		hn, err := h.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		payload, ok := unpadded(&h, buf[hn:n])
		if !ok {
			continue
		}
		if stream.Received(&h, payload, n) && requests {
			request()
		}
	}
}

// unpadded is an RTP packet's payload without its padding (RFC 3550
// §5.1), empty for a padding-only packet; not ok when the padding is
// malformed: the P bit set and no octet to hold the padding's length, or a
// length of zero or longer than the payload (pion's rtp.Packet.Unmarshal
// rejects these; libwebrtc's RtpPacket::ParseBuffer rejects the last two
// and takes a packet of no payload octet as an empty one).
func unpadded(h *rtp.Header, payload []byte) (_ []byte, ok bool) {
	if !h.Padding {
		return payload, true
	}
	if len(payload) == 0 {
		return nil, false
	}
	pad := int(payload[len(payload)-1])
	if pad == 0 || pad > len(payload) {
		return nil, false
	}
	return payload[:len(payload)-pad], true
}

// keyframeTimer starts a video receiver's frame-buffer timer: it fires
// when the stream's wait for a decodable frame may have run out, and
// requests a keyframe when the stream says so, until the function it
// returns stops it. A timer, not a goroutine: a room of 64 clients has
// some 4,000 video streams, each waiting seconds between firings.
func keyframeTimer(stream *Stream, request func()) (stop func()) {
	var mu sync.Mutex // no wait under it: a bubble's clock stops for a goroutine waiting on a mutex
	stopped := false
	var t *time.Timer
	fire := func() {
		req, next := stream.KeyframeTimeout()
		mu.Lock()
		done := stopped
		mu.Unlock()
		if done {
			return
		}
		if req {
			request()
		}
		mu.Lock()
		if !stopped {
			t.Reset(next)
		}
		mu.Unlock()
	}
	mu.Lock()
	t = time.AfterFunc(maxWaitForKeyframe, fire)
	mu.Unlock()
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		t.Stop()
	}
}

// PLISender returns a requestKeyframe for Receive that writes an RTCP
// Picture Loss Indication (RFC 4585 §6.3.1) for the SSRC on pc, as
// libwebrtc's receiver asks for a keyframe by default. A write that fails
// (a closing connection) is dropped: the next timeout asks again.
func PLISender(pc *webrtc.PeerConnection) func(ssrc uint32) {
	return func(ssrc uint32) {
		_ = pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
	}
}

// DrainRTCPWithPLI reads a sender's RTCP until it closes, so its
// interceptors keep working, and hands the round-trip times its receiver
// reports tell to the streams of flow they report on (nil flow: none).
// When the sender's receiver asks for a keyframe — an RTCP Picture Loss
// Indication (RFC 4585 §6.3.1) or Full Intra Request (RFC 5104 §4.3.1) in
// an RTCP compound packet — it calls onPLI (nil: nobody to tell) once for
// that packet, on the reading goroutine: onPLI must not block. A sender
// with an encoder wires onPLI to the encoder's keyframe request.
func DrainRTCPWithPLI(sender *webrtc.RTPSender, flow *Flow, onPLI func()) {
	drainRTCP(sender.Read, flow, onPLI, nil)
}

// DrainLayerRTCP is DrainRTCPWithPLI for the simulcast encoding of track
// on sender, whose RTCP pion reads apart from the other encodings'; the
// first receiver report on the encoding's SSRC tells the track its
// receiver knows it (Track.Acknowledged).
func DrainLayerRTCP(sender *webrtc.RTPSender, track *Track, flow *Flow, onPLI func()) {
	read := func(b []byte) (int, interceptor.Attributes, error) { return sender.ReadSimulcast(b, track.RID()) }
	drainRTCP(read, flow, onPLI, track)
}

// drainRTCP reads RTCP with read until it fails: see DrainRTCPWithPLI;
// with layer, a receiver report on the layer's SSRC acknowledges it.
func drainRTCP(read func([]byte) (int, interceptor.Attributes, error), flow *Flow, onPLI func(), layer *Track) {
	buf := make([]byte, 1500)
	for {
		n, _, err := read(buf)
		if err != nil {
			return
		}
		acking := layer != nil && !layer.acked.Load()
		if flow == nil && onPLI == nil && !acking {
			continue
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		if acking && reportsOn(pkts, layer.SSRC()) {
			layer.Acknowledged()
		}
		if flow != nil {
			ReportRTT(pkts, time.Now(), func(ssrc uint32, d time.Duration) { flow.Stream(ssrc).RTT(d) })
		}
		if onPLI != nil && AsksForKeyframe(pkts) {
			onPLI()
		}
	}
}

// reportsOn reports whether an RTCP compound packet holds a reception
// report on ssrc.
func reportsOn(pkts []rtcp.Packet, ssrc uint32) bool {
	for _, p := range pkts {
		for _, r := range receptionReports(p) {
			if r.SSRC == ssrc {
				return true
			}
		}
	}
	return false
}

// AsksForKeyframe reports whether an RTCP compound packet asks its
// receiver for a keyframe: it holds a Picture Loss Indication or a Full
// Intra Request.
func AsksForKeyframe(pkts []rtcp.Packet) bool {
	for _, p := range pkts {
		switch p.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			return true
		}
	}
	return false
}
