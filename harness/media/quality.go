package media

import (
	"fmt"
	"time"

	"github.com/pion/rtcp"
)

// Quality is how an RTP flow (or one of its streams) fared, second by
// second, as a receiver's RTCP statistics and the W3C webrtc-stats counters
// would tell it, judged against what its sender sent: packets sent and
// received, loss, RFC 3550 interarrival jitter, round-trip time from the
// RTCP receiver reports its sender got, and freezes.
type Quality struct {
	// Seconds has one entry per second of the call, from its start, or
	// one per Step when a report summarised a long series.
	Seconds []Second `json:",omitempty"`
	// Step is how long each entry of Seconds covers when it covers more
	// than a second: a report summarises a long call's series (see
	// reports.MaxSeriesPoints). Zero: a second each, as measured.
	Step time.Duration `json:",omitempty"`
	// Sent is the packets the sender sent, retransmissions not counted
	// again; Packets the distinct media packets received.
	Sent, Packets uint64
	// PaddingPackets and PaddingBytes count the distinct packets received
	// that carried no media (padding-only, see Stream.Received): received,
	// so never lost, but in neither Packets nor any byte count or bitrate
	// (libwebrtc's packetsReceived counts them too; its bytesReceived
	// does not: RtpPacketCounter::AddPacket keeps padding_bytes apart).
	PaddingPackets uint64 `json:",omitempty"`
	PaddingBytes   uint64 `json:",omitempty"`
	// Lost is the packets sent up to JudgedUntil that never arrived;
	// InFlight those sent after it (the last second or two of the call,
	// which may still have been on their way) and not received.
	Lost, InFlight uint64
	// LostLate is the part of Lost that its sender sent out of order (see
	// Second.LostLate).
	LostLate uint64 `json:",omitempty"`
	// JudgedUntil is the end of the sends loss is judged on: the last whole
	// second that ended at least a second before the end of the call.
	JudgedUntil time.Duration `json:",omitempty"`
	// LossRate is Lost over the packets sent up to JudgedUntil; it is
	// meaningless, and zero, when NothingReceived.
	LossRate float64
	// NothingReceived: no packet of the flow arrived. Such a flow has no
	// loss rate, jitter or bitrate, and fails every bound on them.
	NothingReceived bool `json:",omitempty"`
	// Duplicates counts packets that arrived more than once.
	Duplicates uint64 `json:",omitempty"`
	// Bitrate is the mean received rate of media, in bits per second,
	// from the first media packet to the end of the call: an outage lowers
	// it.
	Bitrate float64
	// Jitter is the largest RFC 3550 interarrival jitter of any stream at
	// the end of a second; JitterMean the mean of those.
	Jitter, JitterMean time.Duration
	// RTT is the largest round-trip time measured from an RTCP receiver
	// report; RTTMean their mean. Zero when no report arrived.
	RTT, RTTMean time.Duration
	// Freezes are what a viewer or listener saw stop for longer than the
	// flow's freeze gap (see FreezeGap), across its streams: for video, the
	// gaps between frames shown (see FramesDecoded), from the first
	// packet's arrival if no frame was shown yet; for audio, whose frames
	// are single packets, the silences between packets. LongestFreeze is
	// the longest, an ongoing one included.
	Freezes       []Outage `json:",omitempty"`
	LongestFreeze time.Duration
	// Grades are the flow's connection quality every GradeWindow from its
	// first packet, scored as LiveKit's server scores a track (see grade);
	// Grade is the lowest of them (empty: the call was shorter than a
	// window, or nothing arrived).
	Grades []Graded `json:",omitempty"`
	Grade  Grade    `json:",omitempty"`
	// Adaptive: the flow's sender followed a congestion controller's
	// target bitrate (Second.Target).
	Adaptive bool `json:",omitempty"`
	// Simulcast: the flow is a media node's forwarding of a simulcast
	// publication, one layer at a time (Second.Layer).
	Simulcast bool `json:",omitempty"`
	// FramesReceived, FramesDecoded and FramesDropped are a video flow's
	// frames as its receiver assembled them (W3C webrtc-stats
	// framesReceived, framesDecoded, framesDropped): frames complete,
	// frames decoded and shown, and complete frames never decoded (an
	// earlier frame was missing). KeyFramesDecoded counts the keyframes
	// among those decoded. At the media node, which forwards without
	// decoding, they say what a decoder there would have shown.
	FramesReceived, FramesDecoded, FramesDropped uint64 `json:",omitempty"`
	KeyFramesDecoded                             uint64 `json:",omitempty"`
	// PLIs counts the keyframe requests (RTCP PLI) the flow's receiver
	// sent to its sender (W3C pliCount): a client's, or the media node's
	// forwarded to a publisher.
	PLIs uint64 `json:",omitempty"`
}

// Second is one second of a flow or stream.
type Second struct {
	At time.Duration // the second's start
	// Sent is the packets sent in this second; Lost those of them that
	// never arrived (judged seconds only); Packets and Bytes the media
	// that arrived in it.
	Sent, Lost, Packets uint64
	Bytes               uint64
	// LostLate is the part of Lost that its sender sent after packets
	// with higher sequence numbers: what a media node forwarded late,
	// such as a retransmission that reached it after the packets that
	// followed it. A receiver may refuse such a packet when it is older
	// than its SRTP replay window (pion's default is 64 packets,
	// srtp/v3 session.go; libwebrtc's 1024, pc/srtp_session.cc), so it
	// is lost to the receiver's application, but not on its link:
	// LiveKit's scorer takes packets forwarded out of order off a
	// subscriber's loss (pkg/sfu/connectionquality scorer.go, "discount
	// out-of-order packets from loss"), and so does Grade.
	LostLate uint64 `json:",omitempty"`
	// Jitter is the RFC 3550 interarrival jitter at the second's end, and
	// RTT the last round-trip time measured in it (zero: none).
	Jitter, RTT time.Duration
	// Encoded is the bytes of media the sender encoded in this second
	// (its outbound-rtp bytesSent's rate, before pacing and
	// retransmissions), and Target the bitrate its encoder followed at the
	// second's last frame, in bits per second: a congestion controller's
	// target less what the connection's other streams take. Zero Target:
	// the sender follows none.
	Encoded uint64 `json:",omitempty"`
	Target  uint64 `json:",omitempty"`
	// Layer is the simulcast layer (RID) a media node forwarded on the
	// flow at the second's end, "none" while it forwarded none (waiting
	// for a keyframe after a switch down); empty when the flow is not
	// from a simulcast publication.
	Layer string `json:",omitempty"`
	// Distance is how many simulcast layers the flow was below the one it
	// should carry, on average over the second (see Flow.LayerDistance);
	// zero for a flow that is not simulcast.
	Distance float64 `json:",omitempty"`
	// Frames counts the video frames shown in this second, PLIs the
	// keyframe requests the receiver sent in it.
	Frames uint64 `json:",omitempty"`
	PLIs   uint64 `json:",omitempty"`
}

// Outage is a time during which media that had been flowing did not: from
// the last packet before the silence to the first after it. An Ongoing
// outage had not ended when the call did; its End is the end of the call.
type Outage struct {
	Start, End time.Duration
	Ongoing    bool `json:",omitempty"`
}

// Duration is how long the outage lasted (until the end of the call, if
// it is ongoing).
func (o Outage) Duration() time.Duration { return o.End - o.Start }

// String renders the outage for people: "2.3 s to 10.5 s", or "16.4 s to
// the end (30.0 s)".
func (o Outage) String() string {
	if o.Ongoing {
		return fmt.Sprintf("%.1f s to the end (%.1f s)", o.Start.Seconds(), o.End.Seconds())
	}
	return fmt.Sprintf("%.1f s to %.1f s", o.Start.Seconds(), o.End.Seconds())
}

// FreezeGap is the silence that counts as a freeze for a flow sending a
// frame every interval: W3C webrtc-stats counts a freeze when the gap
// between frames exceeds max(3 × the mean frame duration, mean + 150 ms).
func FreezeGap(interval time.Duration) time.Duration {
	return max(3*interval, interval+150*time.Millisecond)
}

// ReportRTT measures round-trip times from the reception report blocks in
// an RTCP compound packet that arrived at now (RFC 3550 6.4.1: the arrival
// time in NTP's middle 32 bits, less the last sender report's time and the
// delay since it), and hands each to record with the SSRC it reports on.
func ReportRTT(pkts []rtcp.Packet, now time.Time, record func(ssrc uint32, rtt time.Duration)) {
	nowMid := ntpMiddle(now)
	for _, p := range pkts {
		for _, r := range receptionReports(p) {
			if r.LastSenderReport == 0 {
				continue
			}
			units := nowMid - r.LastSenderReport - r.Delay // in 1/65536 s, modulo 2^32
			if units > 1<<31 {
				continue // a report from before a clock step
			}
			record(r.SSRC, time.Duration(float64(units)/65536*float64(time.Second)))
		}
	}
}

// receptionReports are the reception report blocks an RTCP packet carries:
// a receiver report's or a sender report's, none for any other.
func receptionReports(p rtcp.Packet) []rtcp.ReceptionReport {
	switch p := p.(type) {
	case *rtcp.ReceiverReport:
		return p.Reports
	case *rtcp.SenderReport:
		return p.Reports
	}
	return nil
}

// ntpMiddle is the middle 32 bits of t's 64-bit NTP timestamp: 16 bits of
// seconds and 16 of fraction.
func ntpMiddle(t time.Time) uint32 {
	const ntpEpochOffset = 2208988800 // seconds from 1900 to 1970
	secs := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) << 32 / uint64(time.Second)
	return uint32((secs<<32 | frac) >> 16)
}

// FormatBitrate renders a bitrate for people: "351 kbit/s", "1.50 Mbit/s".
func FormatBitrate(bps float64) string {
	switch {
	case bps >= 1e6:
		return fmt.Sprintf("%.2f Mbit/s", bps/1e6)
	case bps >= 1e3:
		return fmt.Sprintf("%.0f kbit/s", bps/1e3)
	}
	return fmt.Sprintf("%.0f bit/s", bps)
}
