package harness

import (
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// Quality is how an RTP flow fared where it was received, second by second,
// as a receiver's RTCP statistics and the W3C webrtc-stats counters would
// tell it: packets and bytes, loss from sequence gaps (after pion's NACK
// retransmissions), RFC 3550 interarrival jitter, round-trip time from the
// RTCP receiver reports its sender got, and freezes.
type Quality struct {
	// Seconds has one entry per second of the call, from its start.
	Seconds []Second `json:",omitempty"`
	// Packets received, and Lost: expected from the sequence numbers and
	// never received.
	Packets, Lost uint64
	// LossRate is Lost over the packets expected.
	LossRate float64
	// Bitrate is the mean received rate, in bits per second, from the first
	// packet to the end of the call: an outage lowers it.
	Bitrate float64
	// Jitter is the largest RFC 3550 interarrival jitter at the end of a
	// second; JitterMean their mean.
	Jitter, JitterMean time.Duration
	// RTT is the largest round-trip time measured from an RTCP receiver
	// report; RTTMean their mean. Zero when no report arrived.
	RTT, RTTMean time.Duration
	// Freezes are the silences longer than the flow's freeze gap (see
	// freezeGap); LongestFreeze the longest, an ongoing one included.
	Freezes       []Outage `json:",omitempty"`
	LongestFreeze time.Duration
}

// Second is one second of a flow.
type Second struct {
	At            time.Duration // the second's start
	Packets, Lost uint64
	Bytes         uint64
	// Jitter is the RFC 3550 interarrival jitter at the second's end, and
	// RTT the last round-trip time measured in it (zero: none).
	Jitter, RTT time.Duration
}

// freezeGap is the silence that counts as a freeze for a flow sending a
// frame every interval: W3C webrtc-stats counts a freeze when the gap
// between frames exceeds max(3 × the mean frame duration, mean + 150 ms).
func freezeGap(interval time.Duration) time.Duration {
	return max(3*interval, interval+150*time.Millisecond)
}

// rtpStats measures an RTP flow where it is received, and the round-trip
// times its sender measures. Safe for concurrent use.
type rtpStats struct {
	clockRate float64
	gap       time.Duration // freeze gap

	mu       sync.Mutex
	seconds  []second
	started  bool
	firstSeq uint32 // extended
	maxSeq   uint32 // extended highest sequence number
	received uint64
	bytes    uint64
	first    time.Duration
	last     time.Duration
	transit  float64 // the previous packet's relative transit time, in RTP units
	jitter   float64 // RFC 3550's J, in RTP units
	freezes  []Outage
	rtts     []time.Duration
}

type second struct {
	packets, bytes uint64
	expected       uint64 // cumulative packets expected at the second's end; 0 until a packet
	jitter         time.Duration
	rtt            time.Duration
}

func newRTPStats(clockRate uint32, interval time.Duration) *rtpStats {
	return &rtpStats{clockRate: float64(clockRate), gap: freezeGap(interval)}
}

func (s *rtpStats) at(t time.Duration) *second {
	i := int(t / time.Second)
	for len(s.seconds) <= i {
		s.seconds = append(s.seconds, second{})
	}
	return &s.seconds[i]
}

// packet records a packet of size bytes with header h, received at t.
func (s *rtpStats) packet(h *rtp.Header, size int, t time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seq := uint32(h.SequenceNumber)
	arrival := t.Seconds() * s.clockRate
	if !s.started {
		s.started, s.firstSeq, s.maxSeq, s.first = true, seq, seq, t
		s.transit = arrival - float64(h.Timestamp)
	} else {
		// Extend the 16-bit sequence number next to the highest seen
		// (RFC 3550 A.1): a packet up to half the space ahead is new.
		ext := s.maxSeq&^0xffff | seq
		switch {
		case ext+0x8000 < s.maxSeq:
			ext += 1 << 16
		case ext > s.maxSeq+0x8000 && ext >= 1<<16:
			ext -= 1 << 16
		}
		if ext > s.maxSeq {
			s.maxSeq = ext
		}
		if t-s.last > s.gap {
			s.freezes = append(s.freezes, Outage{Start: s.last, End: t})
		}
		// RFC 3550 A.8: J += (|D| - J) / 16.
		transit := arrival - float64(uint32(h.Timestamp))
		d := transit - s.transit
		if d < 0 {
			d = -d
		}
		s.transit = transit
		s.jitter += (d - s.jitter) / 16
	}
	s.last = t
	s.received++
	s.bytes += uint64(size)
	sec := s.at(t)
	sec.packets++
	sec.bytes += uint64(size)
	sec.expected = uint64(s.maxSeq-s.firstSeq) + 1
	sec.jitter = time.Duration(s.jitter / s.clockRate * float64(time.Second))
}

// rtt records a round-trip time measured at t.
func (s *rtpStats) rtt(d, t time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rtts = append(s.rtts, d)
	s.at(t).rtt = d
}

// quality returns the flow's quality up to end, the end of the call.
func (s *rtpStats) quality(end time.Duration) *Quality {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := &Quality{Packets: s.received, Freezes: append([]Outage(nil), s.freezes...)}
	if s.started && end-s.last > s.gap {
		q.Freezes = append(q.Freezes, Outage{Start: s.last, End: end, Ongoing: true})
	}
	for _, f := range q.Freezes {
		q.LongestFreeze = max(q.LongestFreeze, f.Duration())
	}
	n := int(end / time.Second)
	if end%time.Second != 0 {
		n++
	}
	n = max(n, len(s.seconds))
	var expected uint64
	var jitterSum time.Duration
	var jitters int
	for i := range n {
		var sec second
		if i < len(s.seconds) {
			sec = s.seconds[i]
		}
		out := Second{At: time.Duration(i) * time.Second, Packets: sec.packets, Bytes: sec.bytes, RTT: sec.rtt}
		if sec.expected > 0 {
			if sec.expected > expected+sec.packets {
				out.Lost = sec.expected - expected - sec.packets
			}
			expected = sec.expected
			out.Jitter = sec.jitter
			q.Jitter = max(q.Jitter, sec.jitter)
			jitterSum += sec.jitter
			jitters++
		}
		q.Seconds = append(q.Seconds, out)
	}
	if expected > s.received {
		q.Lost = expected - s.received
	}
	if expected > 0 {
		q.LossRate = float64(q.Lost) / float64(expected)
	}
	if jitters > 0 {
		q.JitterMean = jitterSum / time.Duration(jitters)
	}
	if s.started && end > s.first {
		q.Bitrate = float64(s.bytes*8) / (end - s.first).Seconds()
	}
	var sum time.Duration
	for _, r := range s.rtts {
		sum += r
		q.RTT = max(q.RTT, r)
	}
	if len(s.rtts) > 0 {
		q.RTTMean = sum / time.Duration(len(s.rtts))
	}
	return q
}

// reportRTT measures round-trip times from the reception report blocks in
// an RTCP compound packet that arrived at now (RFC 3550 6.4.1: the arrival
// time in NTP's middle 32 bits, less the last sender report's time and the
// delay since it), and hands each to record.
func reportRTT(pkts []rtcp.Packet, now time.Time, record func(time.Duration)) {
	nowMid := ntpMiddle(now)
	for _, p := range pkts {
		var reports []rtcp.ReceptionReport
		switch p := p.(type) {
		case *rtcp.ReceiverReport:
			reports = p.Reports
		case *rtcp.SenderReport:
			reports = p.Reports
		}
		for _, r := range reports {
			if r.LastSenderReport == 0 {
				continue
			}
			units := nowMid - r.LastSenderReport - r.Delay // in 1/65536 s, modulo 2^32
			if units > 1<<31 {
				continue // a report from before a clock step
			}
			record(time.Duration(float64(units) / 65536 * float64(time.Second)))
		}
	}
}

// ntpMiddle is the middle 32 bits of t's 64-bit NTP timestamp: 16 bits of
// seconds and 16 of fraction.
func ntpMiddle(t time.Time) uint32 {
	const ntpEpochOffset = 2208988800 // seconds from 1900 to 1970
	secs := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) << 32 / uint64(time.Second)
	return uint32((secs<<32 | frac) >> 16)
}
