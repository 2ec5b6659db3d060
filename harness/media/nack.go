package media

import (
	"encoding/binary"
	"slices"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// nackResponder answers NACKs as pion's (interceptor v0.1.51,
// pkg/nack/responder_interceptor.go) does, with the same history, RTX
// rewriting, round-trip estimate and resend spacing, but keeps the
// payloads it was handed instead of copying each into a pooled buffer of
// 1,460 bytes. Writers must therefore never reuse a payload, a header's
// extensions or its CSRC list once written:
// the harness's packetizer allocates a payload per packet, and the media
// node's down tracks share one per upstream packet (as an SFU's
// subscribers share its receive buffer), so a media node's history costs
// a slot per packet and subscription, not a packet.
//
// What it leaves out of pion's: the retransmission rate limit, which
// applies only with a congestion controller's target bitrate (the
// harness runs none), and the resend attribute that pion's pacers read
// (the harness runs none).
type nackResponder struct {
	interceptor.NoOp
	size uint16
	// rtxSeq numbers retransmissions, one sequencer for every stream, as
	// pion's packet factory does.
	rtxSeq rtp.Sequencer
	now    func() time.Time

	mu      sync.Mutex
	streams map[uint32]*sentStream
}

// sentStream is one local stream's history.
type sentStream struct {
	writer interceptor.RTPWriter

	mu         sync.Mutex
	slots      []sentPacket
	started    bool
	highest    uint16
	rtt        time.Duration
	rttSamples int64
}

// sentPacket is a packet kept for retransmission: its header as it will
// be resent (the RTX stream's SSRC, payload type and sequence number, when
// there is one) and the payload it was sent with. A plain header (RTP
// version 2, no CSRC, extension or padding: what a media node sends) is
// kept in its fields, the rest whole in full: a slot is one cache line,
// and a media node writes one per packet and subscriber, long after the
// line left the cache.
type sentPacket struct {
	payload []byte
	// lastResend is when it was last resent, in nanoseconds of Unix time;
	// zero: never.
	lastResend int64
	full       *rtp.Header // the header as resent, when it is not plain
	timestamp  uint32
	ssrc       uint32
	seq        uint16 // the original sequence number
	resendSeq  uint16 // the sequence number it is resent with
	pt         uint8
	marker     bool
	valid      bool
	rtx        bool // resent on the RTX stream, the original number first
	_          [8]byte
}

// header returns the packet's header as it is resent.
func (p *sentPacket) header() rtp.Header {
	if p.full != nil {
		return *p.full
	}
	return rtp.Header{Version: 2, Marker: p.marker, PayloadType: p.pt, SequenceNumber: p.resendSeq, Timestamp: p.timestamp, SSRC: p.ssrc}
}

// plain reports whether h is kept in a sentPacket's fields.
func plain(h *rtp.Header) bool {
	return h.Version == 2 && !h.Padding && !h.Extension && len(h.CSRC) == 0 && h.ExtensionProfile == 0 &&
		len(h.Extensions) == 0 && h.PaddingSize == 0
}

// nackResponderFactory makes a nackResponder per peer connection.
type nackResponderFactory struct{ size uint16 }

// NewInterceptor implements interceptor.Factory.
func (f nackResponderFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &nackResponder{size: f.size, rtxSeq: rtp.NewRandomSequencer(), now: time.Now, streams: map[uint32]*sentStream{}}, nil
}

// supportsNACK is pion's filter: a stream whose codec negotiated generic
// NACK feedback.
func supportsNACK(info *interceptor.StreamInfo) bool {
	for _, fb := range info.RTCPFeedback {
		if fb.Type == "nack" && fb.Parameter == "" {
			return true
		}
	}
	return false
}

// BindRTCPReader implements interceptor.Interceptor: it resends what NACKs
// ask for and keeps each stream's round trip from its reception reports.
func (n *nackResponder) BindRTCPReader(reader interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		i, attr, err := reader.Read(b, a)
		if err != nil {
			return 0, nil, err
		}
		if attr == nil {
			attr = make(interceptor.Attributes)
		}
		pkts, err := attr.GetRTCPPackets(b[:i])
		if err != nil {
			return 0, nil, err
		}
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.ReceiverReport:
				n.updateRTT(p.Reports)
			case *rtcp.SenderReport:
				n.updateRTT(p.Reports)
			case *rtcp.TransportLayerNack:
				// Resent on a goroutine of its own, as pion does: the
				// write may wait on the network, and the RTCP reader
				// must not.
				go n.resend(p)
			}
		}
		return i, attr, err
	})
}

// BindLocalStream implements interceptor.Interceptor.
func (n *nackResponder) BindLocalStream(info *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	if !supportsNACK(info) {
		return writer
	}
	s := &sentStream{writer: writer, slots: make([]sentPacket, n.size)}
	n.mu.Lock()
	n.streams[info.SSRC] = s
	n.mu.Unlock()
	rtxSSRC, rtxPT := info.SSRCRetransmission, info.PayloadTypeRetransmission
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, attr interceptor.Attributes) (int, error) {
		if h.SSRC != info.SSRC {
			return writer.Write(h, payload, attr)
		}
		s.add(h, payload, rtxSSRC, rtxPT, n.rtxSeq)
		return writer.Write(h, payload, attr)
	})
}

// UnbindLocalStream implements interceptor.Interceptor.
func (n *nackResponder) UnbindLocalStream(info *interceptor.StreamInfo) {
	n.mu.Lock()
	s := n.streams[info.SSRC]
	delete(n.streams, info.SSRC)
	n.mu.Unlock()
	if s != nil {
		s.clear()
	}
}

// Close implements interceptor.Interceptor.
func (n *nackResponder) Close() error {
	n.mu.Lock()
	streams := n.streams
	n.streams = map[uint32]*sentStream{}
	n.mu.Unlock()
	for _, s := range streams {
		s.clear()
	}
	return nil
}

// add keeps a packet, forgetting the ones a jump forward skipped, as
// pion's RTP buffer does.
func (s *sentStream) add(h *rtp.Header, payload []byte, rtxSSRC uint32, rtxPT uint8, rtxSeq rtp.Sequencer) {
	size := uint16(len(s.slots))
	seq := h.SequenceNumber
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		diff := seq - s.highest
		if diff == 0 {
			return
		}
		if diff < 1<<15 {
			for i := s.highest + 1; i != seq; i++ {
				s.slots[i%size] = sentPacket{}
			}
			s.highest = seq
		}
	} else {
		s.started, s.highest = true, seq
	}
	p := &s.slots[seq%size]
	// The header is copied, its extensions are not: like the payload, a
	// writer makes them per packet (pion's header extension interceptors
	// above this one set fresh ones on each packet).
	header := *h
	if rtxSSRC != 0 && rtxPT != 0 {
		header.SSRC, header.PayloadType, header.SequenceNumber = rtxSSRC, rtxPT, rtxSeq.NextSequenceNumber()
		if header.Padding {
			if header.PaddingSize == 0 && len(payload) > 0 {
				pad := int(payload[len(payload)-1])
				if pad > len(payload) {
					*p = sentPacket{} // pion refuses to keep it (errPaddingOverflow)
					return
				}
				payload = payload[:len(payload)-pad]
			}
			header.Padding, header.PaddingSize = false, 0
		}
	}
	*p = sentPacket{valid: true, rtx: rtxSSRC != 0 && rtxPT != 0, seq: seq, payload: payload}
	if plain(&header) {
		p.marker, p.pt, p.resendSeq, p.timestamp, p.ssrc = header.Marker, header.PayloadType, header.SequenceNumber, header.Timestamp, header.SSRC
		return
	}
	// Only a header kept whole goes to the heap: taking the address of
	// header itself would move it there for every packet, plain ones too
	// (one allocation per packet and subscriber on a media node).
	full := new(rtp.Header)
	*full = header
	if len(full.CSRC) > 0 {
		// pion/rtp's Unmarshal reuses a packet's CSRC array from read to
		// read: keep a copy of our own.
		full.CSRC = slices.Clone(full.CSRC)
	}
	p.full = full
}

// get returns a copy of the packet kept for seq, if it is still kept and
// was not resent within interval; it marks it resent at now.
func (s *sentStream) get(seq uint16, now time.Time) (sentPacket, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	size := uint16(len(s.slots))
	diff := s.highest - seq
	if !s.started || diff >= 1<<15 || diff >= size {
		return sentPacket{}, false
	}
	p := &s.slots[seq%size]
	if !p.valid || p.seq != seq {
		return sentPacket{}, false
	}
	if p.lastResend != 0 && now.Sub(time.Unix(0, p.lastResend)) < s.rtt+5*time.Millisecond {
		return sentPacket{}, false
	}
	p.lastResend = now.UnixNano()
	return *p, true
}

// unsent forgets that seq was resent at at: its write failed.
func (s *sentStream) unsent(seq uint16, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := &s.slots[seq%uint16(len(s.slots))]; p.valid && p.seq == seq && p.lastResend == at.UnixNano() {
		p.lastResend = 0
	}
}

func (s *sentStream) clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.slots)
	s.started = false
}

// resend writes again what a NACK asks for and its history still holds.
func (n *nackResponder) resend(nack *rtcp.TransportLayerNack) {
	n.mu.Lock()
	s := n.streams[nack.MediaSSRC]
	n.mu.Unlock()
	if s == nil {
		return
	}
	for _, pair := range nack.Nacks {
		pair.Range(func(seq uint16) bool {
			now := n.now()
			p, ok := s.get(seq, now)
			if !ok {
				return true
			}
			payload := p.payload
			if p.rtx {
				// RFC 4588: the original sequence number, then the payload.
				payload = make([]byte, 2+len(p.payload))
				binary.BigEndian.PutUint16(payload, p.seq)
				copy(payload[2:], p.payload)
			}
			h := p.header()
			if _, err := s.writer.Write(&h, payload, interceptor.Attributes{}); err != nil {
				s.unsent(seq, now)
			}
			return true
		})
	}
}

// updateRTT folds the round trips that reception reports give into each
// reported stream's mean, as pion does.
func (n *nackResponder) updateRTT(reports []rtcp.ReceptionReport) {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := ntpMiddle(n.now())
	for _, r := range reports {
		s := n.streams[r.SSRC]
		rtt := now - r.LastSenderReport - r.Delay
		if s != nil && r.LastSenderReport != 0 && rtt < 1<<31 {
			s.mu.Lock()
			s.rttSamples++
			s.rtt += (time.Duration(rtt)*time.Second/(1<<16) - s.rtt) / time.Duration(s.rttSamples)
			s.mu.Unlock()
		}
	}
}
