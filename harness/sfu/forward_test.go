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

// TestMungerPaddingAndSkips: padding the node adds takes the numbers after
// the last packet sent, the packets after it follow it, and a late packet
// of the frames before it keeps its number; a packet the node drops (a
// publisher's padding) leaves no gap, and one dropped out of order leaves
// the numbers as they were.
func TestMungerPaddingAndSkips(t *testing.T) {
	var m munger
	now := time.Unix(1000, 0)
	send := func(seq uint16) uint16 {
		h := rtp.Header{SequenceNumber: seq, Timestamp: 3000, Marker: true}
		m.rewrite(7, &h, now, 90000)
		return h.SequenceNumber
	}
	for seq := uint16(100); seq < 110; seq++ {
		if got := send(seq); got != seq {
			t.Fatalf("first source %d sent as %d", seq, got)
		}
	}
	first, ts := m.padding(3) // 110, 111, 112
	if first != 110 || ts != 3000 {
		t.Errorf("padding from %d at %d, want 110 at 3000", first, ts)
	}
	if got := send(110); got != 113 {
		t.Errorf("after padding: %d, want 113", got)
	}
	if got := send(108); got != 108 {
		t.Errorf("a late packet from before the padding: %d, want 108", got)
	}
	m.skip(7, 111) // the publisher's padding, in order
	if got := send(112); got != 114 {
		t.Errorf("after a skipped packet: %d, want 114", got)
	}
	m.skip(7, 120) // out of order: the gap stays
	if got := send(113); got != 115 {
		t.Errorf("after an out-of-order skip: %d, want 115", got)
	}
	// Long after the padding, the numbers wrap without the late-packet
	// rule taking a new packet for an old one.
	seq := uint16(113)
	for range 70000 {
		seq++
		if got := send(seq); got != seq+2 {
			t.Fatalf("packet %d sent as %d, want %d", seq, got, seq+2)
		}
	}
}

// TestLayerRate measures over one-second windows, padding left out; a
// whole window with nothing in it reads zero.
func TestLayerRate(t *testing.T) {
	var r layerRate
	start := time.Unix(0, 0)
	for i := range 100 {
		at := start.Add(time.Duration(i) * 10 * time.Millisecond)
		r.add(at, 1000, false)
		r.add(at, 300, true)
	}
	if got := r.bitrate(start.Add(1500 * time.Millisecond)); got != 800_000 {
		t.Errorf("a second of 100 packets of 1000 bytes: %d bit/s, want 800000", got)
	}
	if got := r.bitrate(start.Add(3100 * time.Millisecond)); got != 0 {
		t.Errorf("after two silent seconds: %d bit/s, want 0", got)
	}
}
