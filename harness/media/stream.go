package media

import (
	"sort"
	"sync"
	"time"

	"github.com/pion/rtp"
)

// Stream is one RTP stream of a flow, the packets of one SSRC, counted
// where they are sent (Sent, before the write) and where they arrive
// (Received). Sequence numbers are extended to 32 bits next to the highest
// one seen (RFC 3550 A.1), starting from the first packet its sender sent,
// so that which packets arrived is known exactly: loss is what was sent and
// never arrived, whatever the gaps, the reordering, a retransmission or the
// end of the call look like. Its jitter is RFC 3550's for this stream
// alone: a new stream of the same flow starts its own. Safe for concurrent
// use.
type Stream struct {
	// The fields Sent and Received touch on every packet come first, so
	// that a packet costs as few cache lines as it can: a media node
	// writes to each subscriber's stream in turn, and at 32 clients their
	// streams have long left the cache when the next packet comes.
	mu        sync.Mutex
	started   bool
	baseExt   uint32               // extended sequence number of index 0
	maxExt    uint32               // highest extended sequence number seen
	clock     func() time.Duration // the flow's
	sentHigh  int                  // one past the highest index sent
	sentCount uint64
	// recvCount and bytes count the media packets that arrived, each
	// once; paddingCount and paddingBytes the packets without media (see
	// Received).
	recvCount    uint64
	bytes        uint64
	paddingCount uint64
	paddingBytes uint64
	sent         bitset
	received     bitset
	// late holds the indexes sent after a higher one (see Second.LostLate).
	late bitset
	// secondStart[i] is sentHigh when second i began: the packets sent in
	// second i have indexes from secondStart[i] up to secondStart[i+1].
	secondStart []int
	seconds     []streamSecond
	anyArrived  bool          // a packet arrived: transit is set
	transit     float64       // the previous packet's relative transit, in RTP units
	jitter      float64       // RFC 3550's J, in RTP units
	first, last time.Duration // media arrivals
	dups        uint64
	// video is a video stream's frames at its receiver, made with its
	// first packet (or when its receiver starts waiting for one); plis
	// counts the keyframe requests its receiver sent.
	video *frames
	plis  uint64
	// recvHigh is one past the highest index a video packet arrived with:
	// a packet below it came late (a retransmission, or reordered).
	recvHigh int

	flow *Flow
	ssrc uint32
	rtts []time.Duration
}

type streamSecond struct {
	sent, packets, bytes uint64
	jitter, rtt          time.Duration
	frames, plis         uint32 // frames shown, keyframe requests sent
	arrived              bool   // a packet arrived in it: jitter is this stream's
}

// SSRC returns the stream's SSRC.
func (s *Stream) SSRC() uint32 { return s.ssrc }

// index returns the packet index of sequence number seq, extending it; -1
// for a packet from before the stream's first.
func (s *Stream) index(seq uint16) int {
	if !s.started {
		s.started = true
		ext := 1<<16 | uint32(seq)
		s.baseExt, s.maxExt = ext, ext
		return 0
	}
	ext := s.maxExt&^0xffff | uint32(seq)
	switch {
	case ext+0x8000 < s.maxExt:
		ext += 1 << 16
	case ext > s.maxExt+0x8000 && ext >= 1<<16:
		ext -= 1 << 16
	}
	if ext > s.maxExt {
		s.maxExt = ext
	}
	if ext < s.baseExt {
		return -1
	}
	return int(ext - s.baseExt)
}

func (s *Stream) second(i int) *streamSecond {
	for len(s.seconds) <= i {
		s.seconds = append(s.seconds, streamSecond{})
	}
	return &s.seconds[i]
}

// Sent records that the sender is about to send the packet with sequence
// number seq, of size bytes. Call it before the write, so that the packet
// is known to have been sent before it can arrive; Unsent takes it back if
// the write fails. A sequence number sent before is not counted again.
func (s *Stream) Sent(seq uint16) {
	at := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.index(seq)
	if i < 0 || s.sent.has(i) {
		return
	}
	sec := int(at / time.Second)
	for len(s.secondStart) <= sec {
		s.secondStart = append(s.secondStart, s.sentHigh)
	}
	if i < s.sentHigh {
		s.late.set(i)
	}
	s.sent.set(i)
	s.sentCount++
	s.second(sec).sent++
	s.sentHigh = max(s.sentHigh, i+1)
}

// Unsent takes back a Sent whose write failed.
func (s *Stream) Unsent(seq uint16) {
	at := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.index(seq)
	if i < 0 || !s.sent.has(i) {
		return
	}
	s.sent.clear(i)
	s.late.clear(i)
	s.sentCount--
	if sec := s.second(int(at / time.Second)); sec.sent > 0 {
		sec.sent--
	}
}

// Received records a packet with header h and payload, its padding taken
// off (nil: not looked at), of size bytes, arriving now. A packet that
// arrived before (a retransmission that crossed its original) counts as a
// duplicate only. A video stream's payloads make its frames (see frames):
// Received reports whether a receiver would ask for a keyframe at once,
// because the stream's first complete frame is not one; a receiver that
// does so counts it with RequestedKeyframe.
//
// A packet whose payload is empty (not nil) carries no media: a
// padding-only packet (RFC 3550 §5.1), such as a bandwidth probe, or a
// keep-alive, which libwebrtc takes alike (RtpVideoStreamReceiver2::
// ReceivePacket, payload_size() == 0). Its sequence number counts as
// received, so it is never lost and arrives once; it counts toward a video
// stream's frame continuity (see frames), but not as activity for keyframe
// requests (libwebrtc's UpdatePacketReceiveTimestamps sees media packets
// only); its jitter counts as any packet's (see below); and it counts in
// PaddingPackets and PaddingBytes, not in Packets, Bytes, the bitrate or
// the flow's arrivals, which are media: what a viewer gets.
//
// Jitter is RFC 3550 A.8's, over every packet that is not a duplicate,
// padding-only ones included. libwebrtc does not leave them out either:
// StreamStatisticianImpl::UpdateCounters (receive_statistics_impl.cc)
// takes every in-order packet as the arrival the next new timestamp's
// jitter sample is measured from (last_receive_time_), so padding that
// arrives after its frame moves the next frame's sample. (libwebrtc takes
// a sample only on a new timestamp, and from in-order packets only; the
// harness, as RFC 3550, takes one from every packet, for media too.)
func (s *Stream) Received(h *rtp.Header, payload []byte, size int) (requestKeyframe bool) {
	at := s.clock()
	noMedia := payload != nil && len(payload) == 0
	s.mu.Lock()
	i := s.index(h.SequenceNumber)
	if i >= 0 && s.received.has(i) {
		s.dups++
		s.mu.Unlock()
		return false
	}
	if i >= 0 {
		s.received.set(i)
		if payload != nil && s.flow.video {
			if s.video == nil {
				s.video = new(frames)
			}
			late := i < s.recvHigh
			s.recvHigh = max(s.recvHigh, i+1)
			if noMedia {
				s.video.paddingPacket(i, at, s.playoutDelay(), s)
			} else {
				key, firstNotKey := s.video.packet(i, h.Timestamp, h.Marker, late, payload, at, s.playoutDelay(), s)
				s.video.kf.arrived(at, key)
				requestKeyframe = firstNotKey
			}
		}
	}
	arrival := at.Seconds() * s.flow.clockRate
	transit := arrival - float64(h.Timestamp)
	if !s.anyArrived {
		s.anyArrived = true
		s.transit = transit
	} else {
		// RFC 3550 A.8: J += (|D| - J) / 16, D from consecutive arrivals.
		d := transit - s.transit
		if d < 0 {
			d = -d
		}
		s.transit = transit
		s.jitter += (d - s.jitter) / 16
	}
	sec := s.second(int(at / time.Second))
	sec.arrived = true
	sec.jitter = time.Duration(s.jitter / s.flow.clockRate * float64(time.Second))
	if noMedia {
		s.paddingCount++
		s.paddingBytes += uint64(size)
		s.mu.Unlock()
		return requestKeyframe
	}
	if s.recvCount == 0 {
		s.first = at
	}
	s.last = at
	s.recvCount++
	s.bytes += uint64(size)
	sec.packets++
	sec.bytes += uint64(size)
	s.mu.Unlock()
	s.flow.arrived(size, at)
	return requestKeyframe
}

// playoutDelay is the playout delay the stream's receiver aims at: how
// long after its first packet arrived a frame is shown at the earliest, so
// that a retransmission has time to arrive (frames move toward it
// gradually, see frames.decode). Modelled simply after libwebrtc's
// JitterEstimator::GetJitterEstimate (modules/video_coding/timing), whose
// target adds the round-trip time once three frames needed a NACK
// (kNackLimit): here, the last round trip measured on the stream once
// three of its frames needed a packet that came late. libwebrtc's estimate
// of jitter from frame sizes and delay variation, and its decode and
// render delays, are not modelled. The caller holds s.mu.
func (s *Stream) playoutDelay() time.Duration {
	if s.video == nil || s.video.lateFrames < 3 || len(s.rtts) == 0 {
		return 0
	}
	return s.rtts[len(s.rtts)-1]
}

// rendered records a frame of the stream shown at show. The caller holds
// s.mu (a stream's lock is taken before its flow's).
func (s *Stream) rendered(show time.Duration) {
	s.second(int(show/time.Second)).frames++
	s.flow.rendered(show)
}

// StartKeyframeRequests begins a video stream's receiver's wait for its
// first frame (see keyframeRequests).
func (s *Stream) StartKeyframeRequests() {
	at := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.video == nil {
		s.video = new(frames)
	}
	s.video.kf.start(at)
}

// KeyframeTimeout is the receiver's frame-buffer timer firing: whether to
// request a keyframe now, and when to call again.
func (s *Stream) KeyframeTimeout() (request bool, next time.Duration) {
	at := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.video == nil {
		return false, maxWaitForKeyframe
	}
	return s.video.kf.timeout(at)
}

// RequestedKeyframe counts a keyframe request (RTCP PLI) sent now for
// the stream by its receiver.
func (s *Stream) RequestedKeyframe() {
	at := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plis++
	s.second(int(at/time.Second)).plis++
}

// RTT records a round-trip time the stream's sender measured now.
func (s *Stream) RTT(d time.Duration) {
	at := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rtts = append(s.rtts, d)
	s.second(int(at / time.Second)).rtt = d
}

// StreamStats is one stream of a flow as a result.
type StreamStats struct {
	SSRC uint32
	// First and Last are when its first and last media packet arrived;
	// both zero when none did.
	First, Last time.Duration `json:",omitempty"`
	Quality     Quality
}

// stats returns the stream's statistics up to end, the end of the call;
// seconds is how many seconds the call covers.
func (s *Stream) stats(end time.Duration, seconds int) StreamStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	judged := int((end - time.Second) / time.Second) // seconds [0, judged) are judged
	if end < time.Second {
		judged = 0
	}
	q := Quality{Sent: s.sentCount, Packets: s.recvCount, Duplicates: s.dups, NothingReceived: s.recvCount == 0,
		PaddingPackets: s.paddingCount, PaddingBytes: s.paddingBytes, JudgedUntil: time.Duration(judged) * time.Second}
	n := max(seconds, len(s.seconds), len(s.secondStart))
	var judgedSent uint64
	var jitterSum time.Duration
	var jitters int
	for i := range n {
		var sec streamSecond
		if i < len(s.seconds) {
			sec = s.seconds[i]
		}
		out := Second{At: time.Duration(i) * time.Second, Sent: sec.sent, Packets: sec.packets, Bytes: sec.bytes, RTT: sec.rtt,
			Frames: uint64(sec.frames), PLIs: uint64(sec.plis)}
		if i < len(s.secondStart) {
			to := s.sentHigh
			if i+1 < len(s.secondStart) {
				to = s.secondStart[i+1]
			}
			lost := missing(s.sent, s.received, s.secondStart[i], to)
			if i < judged {
				out.Lost = lost
				out.LostLate = missing(s.late, s.received, s.secondStart[i], to)
				q.Lost += lost
				q.LostLate += out.LostLate
				judgedSent += sec.sent
			} else {
				q.InFlight += lost
			}
		}
		if sec.arrived {
			out.Jitter = sec.jitter
			q.Jitter = max(q.Jitter, sec.jitter)
			jitterSum += sec.jitter
			jitters++
		}
		q.Seconds = append(q.Seconds, out)
	}
	if judgedSent > 0 && !q.NothingReceived {
		q.LossRate = float64(q.Lost) / float64(judgedSent)
	}
	if jitters > 0 {
		q.JitterMean = jitterSum / time.Duration(jitters)
	}
	if s.recvCount > 0 && end > s.first {
		q.Bitrate = float64(s.bytes*8) / (end - s.first).Seconds()
	}
	q.RTT, q.RTTMean = rttStats(s.rtts)
	q.PLIs = s.plis
	if v := s.video; v != nil {
		q.FramesReceived, q.FramesDecoded, q.KeyFramesDecoded = v.received, v.decodedN, v.keys
		q.FramesDropped = v.received - v.decodedN
	}
	return StreamStats{SSRC: s.ssrc, First: s.first, Last: s.last, Quality: q}
}

func rttStats(rtts []time.Duration) (peak, mean time.Duration) {
	var sum time.Duration
	for _, r := range rtts {
		sum += r
		peak = max(peak, r)
	}
	if len(rtts) > 0 {
		mean = sum / time.Duration(len(rtts))
	}
	return peak, mean
}

// sentIn returns the second a packet index was sent in (for tests).
func (s *Stream) sentIn(i int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sort.Search(len(s.secondStart), func(k int) bool { return s.secondStart[k] > i }) - 1
}
