package harness

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// TestRTPStats feeds a flow of 50 packets a second across a sequence number
// wrap, with two packets lost in the second second, constant transit (no
// jitter) and one late retransmission.
func TestRTPStats(t *testing.T) {
	s := newRTPStats(48000, 20*time.Millisecond)
	seq := uint16(65500)
	ts := uint32(1000)
	for i := range 150 {
		at := time.Duration(i) * 20 * time.Millisecond
		if i != 60 && i != 61 { // lost
			s.packet(&rtp.Header{SequenceNumber: seq, Timestamp: ts}, 100, at)
		}
		seq++
		ts += 960
	}
	q := s.quality(3 * time.Second)
	if q.Packets != 148 || q.Lost != 2 {
		t.Errorf("packets %d, lost %d; want 148 and 2", q.Packets, q.Lost)
	}
	if len(q.Seconds) != 3 || q.Seconds[1].Lost != 2 || q.Seconds[0].Lost != 0 || q.Seconds[2].Lost != 0 {
		t.Errorf("seconds %+v; want 2 lost in the second one only", q.Seconds)
	}
	if q.Jitter != 0 {
		t.Errorf("jitter %v with constant transit, want 0", q.Jitter)
	}
	if len(q.Freezes) != 0 {
		t.Errorf("freezes %v: a 60 ms gap is no freeze (the gap is 170 ms)", q.Freezes)
	}
	// The lost packets' retransmission arrives late: loss is what stays lost.
	s.packet(&rtp.Header{SequenceNumber: uint16(65500 + 60 - 65536), Timestamp: 1000 + 60*960}, 100, 3*time.Second)
	if q := s.quality(3 * time.Second); q.Lost != 1 {
		t.Errorf("after a retransmission, lost %d, want 1", q.Lost)
	}
	// A silence of a second is a freeze, and one to the end is ongoing.
	if q := s.quality(5 * time.Second); len(q.Freezes) != 1 || !q.Freezes[0].Ongoing || q.LongestFreeze != 2*time.Second {
		t.Errorf("freezes %+v, longest %v; want one ongoing of 2 s", q.Freezes, q.LongestFreeze)
	}
}

// TestReportRTT computes a round trip from a receiver report as RFC 3550
// 6.4.1 does: arrival, less the last sender report's time and the delay.
func TestReportRTT(t *testing.T) {
	sent := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	now := sent.Add(250 * time.Millisecond)
	rr := &rtcp.ReceiverReport{Reports: []rtcp.ReceptionReport{
		{LastSenderReport: ntpMiddle(sent), Delay: 6554}, // held 100 ms
		{LastSenderReport: 0},                            // no sender report yet: no measurement
	}}
	var got []time.Duration
	reportRTT([]rtcp.Packet{rr}, now, func(d time.Duration) { got = append(got, d) })
	if len(got) != 1 || got[0] < 149*time.Millisecond || got[0] > 151*time.Millisecond {
		t.Errorf("round trips %v, want one of 150 ms", got)
	}
}
