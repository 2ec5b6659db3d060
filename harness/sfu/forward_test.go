package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtp"
)

// TestMungerContinuesAcrossSources feeds a down track's munger a first
// upstream stream that wraps its sequence numbers, then (after a 2 s
// reconnect) a second stream with another SSRC, a random first sequence
// number and timestamp base, with one packet reordered. The subscriber sees
// one stream: sequence numbers continue without a duplicate, a step back or
// a jump, the reordering stays a reordering, and timestamps advance by the
// time that passed.
func TestMungerContinuesAcrossSources(t *testing.T) {
	var m munger
	start := time.Unix(1000, 0)
	var out []rtp.Header
	feed := func(source uint32, seq uint16, ts uint32, at time.Duration) {
		h := rtp.Header{SequenceNumber: seq, Timestamp: ts}
		m.rewrite(source, &h, start.Add(at), 48000)
		out = append(out, h)
	}
	for i := range 20 {
		feed(1, 65530+uint16(i), 1000+uint32(i)*960, time.Duration(i)*20*time.Millisecond)
	}
	gap := 20*19*time.Millisecond + 2*time.Second
	order := []int{0, 1, 3, 2, 4, 5}
	for _, i := range order {
		feed(2, 31000+uint16(i), 7e8+uint32(i)*960, gap+time.Duration(i)*20*time.Millisecond)
	}
	for i := 1; i < 20; i++ {
		if out[i].SequenceNumber != out[i-1].SequenceNumber+1 || out[i].Timestamp != out[i-1].Timestamp+960 {
			t.Fatalf("first stream packet %d: %+v after %+v", i, out[i], out[i-1])
		}
	}
	last := out[19]
	if got := out[20].SequenceNumber; got != last.SequenceNumber+1 {
		t.Errorf("after the switch: sequence %d, want %d", got, last.SequenceNumber+1)
	}
	if got, want := out[20].Timestamp-last.Timestamp, uint32(2*48000); got != want {
		t.Errorf("after the switch: timestamp advanced %d, want %d (2 s at 48 kHz)", got, want)
	}
	for k, i := range order {
		if want := out[20].SequenceNumber + uint16(i); out[20+k].SequenceNumber != want {
			t.Errorf("second stream packet %d: sequence %d, want %d", i, out[20+k].SequenceNumber, want)
		}
	}
}

// TestMungerFirstSourceKeepsItsNumbers: the first stream is forwarded with
// its own numbers, as an SFU does with a subscriber's first source.
func TestMungerFirstSourceKeepsItsNumbers(t *testing.T) {
	var m munger
	h := rtp.Header{SequenceNumber: 1234, Timestamp: 5678}
	m.rewrite(9, &h, time.Now(), 90000)
	if h.SequenceNumber != 1234 || h.Timestamp != 5678 {
		t.Errorf("%+v", h)
	}
}
