package media

import (
	"testing"
	"time"

	"github.com/pion/rtp"
)

// fakeClock is a meter clock a test moves by hand.
type fakeClock struct{ now time.Duration }

func (c *fakeClock) since() time.Duration { return c.now }

// TestStreamLossAgainstSent sends 50 packets a second for three seconds
// across a sequence number wrap; two packets of the second second and the
// last ten of the call never arrive, and one arrives twice. Loss is what
// was sent and never arrived, by the second it was sent in; the tail of the
// call is in flight, not lost; the duplicate is counted once.
func TestStreamLossAgainstSent(t *testing.T) {
	clock := &fakeClock{}
	f := NewMeter(clock.since).Flow(FlowKey{Owner: "bob", Track: "alice/audio", Kind: Audio, Direction: Received})
	s := f.Stream(7)
	seq, ts := uint16(65500), uint32(1000)
	for i := range 150 {
		clock.now = time.Duration(i) * 20 * time.Millisecond
		s.Sent(seq)
		clock.now += 15 * time.Millisecond // one-way delay
		if i != 60 && i != 61 && i < 140 {
			s.Received(&rtp.Header{SequenceNumber: seq, Timestamp: ts}, nil, 100)
		}
		if i == 30 {
			s.Received(&rtp.Header{SequenceNumber: seq, Timestamp: ts}, nil, 100) // a retransmission that crossed its original
		}
		seq++
		ts += 960
	}
	st := f.stats(FlowKey{Kind: Audio}, 3*time.Second)
	q := st.Quality
	if q.Sent != 150 || q.Packets != 138 || q.Duplicates != 1 {
		t.Errorf("sent %d, received %d, duplicates %d; want 150, 138, 1", q.Sent, q.Packets, q.Duplicates)
	}
	// Sends of seconds 0 and 1 are judged (they ended a second or more
	// before the end at 3 s); the ten lost at the end were sent in the
	// last second: in flight, not lost.
	if q.Lost != 2 || q.InFlight != 10 || q.JudgedUntil != 2*time.Second {
		t.Errorf("lost %d, in flight %d, judged until %v; want 2, 10, 2s", q.Lost, q.InFlight, q.JudgedUntil)
	}
	if want := 2.0 / 100; q.LossRate != want {
		t.Errorf("loss rate %v, want %v", q.LossRate, want)
	}
	if q.Seconds[1].Lost != 2 || q.Seconds[0].Lost != 0 || q.Seconds[1].Sent != 50 {
		t.Errorf("seconds %+v", q.Seconds)
	}
	if q.Jitter != 0 {
		t.Errorf("jitter %v on a constant transit, want 0", q.Jitter)
	}
	// The receiver stopped at packet 140, 2.8 s: the call ended 0.2 s
	// later, less than a freeze gap of audio (170 ms)? No: 200 ms > 170.
	if len(q.Freezes) == 0 || !q.Freezes[len(q.Freezes)-1].Ongoing {
		t.Errorf("freezes %v: want an ongoing one at the end", q.Freezes)
	}
}

// TestNewStreamStartsItsOwnStatistics: a publisher that reconnects sends a
// second stream with a new SSRC and a random first sequence number far
// from the first one's, and another timestamp base. Each stream's loss and
// jitter are its own; the flow's figures sum counts and take the worst
// jitter, never a jitter or loss made of one stream's numbers against the
// other's.
func TestNewStreamStartsItsOwnStatistics(t *testing.T) {
	clock := &fakeClock{}
	f := NewMeter(clock.since).Flow(FlowKey{Kind: Audio})
	send := func(s *Stream, seq uint16, ts uint32, from, n int) {
		for i := range n {
			clock.now = time.Duration(from+i) * 20 * time.Millisecond
			s.Sent(seq)
			s.Received(&rtp.Header{SequenceNumber: seq, Timestamp: ts}, nil, 100)
			seq++
			ts += 960
		}
	}
	send(f.Stream(1), 100, 5, 0, 250)       // 0 s to 5 s
	send(f.Stream(2), 40000, 3e9, 500, 250) // 10 s to 15 s, after an outage
	st := f.stats(FlowKey{Kind: Audio}, 20*time.Second)
	if len(st.Streams) != 2 {
		t.Fatalf("%d streams, want 2", len(st.Streams))
	}
	q := st.Quality
	if q.Sent != 500 || q.Packets != 500 || q.Lost != 0 || q.LossRate != 0 {
		t.Errorf("sent %d, received %d, lost %d (%v); want 500, 500, 0", q.Sent, q.Packets, q.Lost, q.LossRate)
	}
	if q.Jitter != 0 {
		t.Errorf("jitter %v: the second stream's timestamps were measured against the first's", q.Jitter)
	}
	if len(st.Outages) != 2 || st.Outages[0].Start != 4980*time.Millisecond || st.Outages[0].End != 10*time.Second || !st.Outages[1].Ongoing {
		t.Errorf("outages %v: want 5 s to 10 s and an ongoing one from 15 s", st.Outages)
	}
	for i, sec := range q.Seconds {
		if sec.Packets > 50 || sec.Lost > 0 {
			t.Errorf("second %d: %+v", i, sec)
		}
	}
}

// TestNothingReceived: a flow whose sender sent and whose receiver got
// nothing has no loss rate: it says so.
func TestNothingReceived(t *testing.T) {
	clock := &fakeClock{}
	f := NewMeter(clock.since).Flow(FlowKey{Kind: Video})
	s := f.Stream(9)
	for i := range 300 {
		clock.now = time.Duration(i) * 10 * time.Millisecond
		s.Sent(uint16(i))
	}
	st := f.stats(FlowKey{Kind: Video}, 10*time.Second)
	q := st.Quality
	if !q.NothingReceived || q.LossRate != 0 || q.Sent != 300 || q.Lost != 300 || st.FlowingAtEnd() {
		t.Errorf("%+v: want nothing received, no loss rate, 300 sent and lost", q)
	}
}

func TestUnsent(t *testing.T) {
	clock := &fakeClock{}
	f := NewMeter(clock.since).Flow(FlowKey{Kind: Audio})
	s := f.Stream(3)
	for i := range 100 {
		clock.now = time.Duration(i) * 20 * time.Millisecond
		s.Sent(uint16(i))
		if i < 10 {
			s.Unsent(uint16(i)) // pion dropped the write: SRTP not ready yet
			continue
		}
		s.Received(&rtp.Header{SequenceNumber: uint16(i), Timestamp: uint32(i) * 960}, nil, 80)
	}
	q := f.stats(FlowKey{Kind: Audio}, 2*time.Second).Quality
	if q.Sent != 90 || q.Lost != 0 || q.InFlight != 0 {
		t.Errorf("sent %d, lost %d, in flight %d; want 90, 0, 0", q.Sent, q.Lost, q.InFlight)
	}
}

func TestMissing(t *testing.T) {
	var sent, recv bitset
	for i := range 300 {
		sent.set(i)
		if i%3 != 0 {
			recv.set(i)
		}
	}
	for _, c := range []struct{ from, to int }{{0, 300}, {5, 70}, {63, 65}, {64, 128}, {100, 100}, {290, 400}} {
		want := uint64(0)
		for i := c.from; i < min(c.to, 300); i++ {
			if i%3 == 0 {
				want++
			}
		}
		if got := missing(sent, recv, c.from, c.to); got != want {
			t.Errorf("missing(%d, %d) = %d, want %d", c.from, c.to, got, want)
		}
	}
}

// TestStreamPadding: a stream with padding-only packets after its frames
// (four of 250 bytes, 10 ms after each frame of three 1000-byte packets,
// as an SFU probing the downlink sends them), against its twin without.
// A padding packet is a received packet for sequence-number accounting:
// the one that arrives twice is a duplicate, the one that never arrives
// lost, the others neither. It is not media: packets, bytes, the bitrate
// and the seconds' figures are the twin's, and the padding is counted
// apart. Its jitter counts, as in libwebrtc (see Stream.Received): the
// twin's is nil, the padded stream's is not. In video, the lost padding
// packet holds the next frame back until the keyframe, as a lost media
// packet would.
func TestStreamPadding(t *testing.T) {
	for _, tc := range []struct {
		kind string
		// every is the time between frames: their 3000 RTP units, so
		// that the media's transit is constant.
		every time.Duration
	}{{Video, time.Second / 30}, {Audio, time.Second / 16}} {
		kind := tc.kind
		t.Run(kind, func(t *testing.T) {
			clock := &fakeClock{}
			m := NewMeter(clock.since)
			padded := m.Flow(FlowKey{Track: "padded", Kind: kind})
			twin := m.Flow(FlowKey{Track: "twin", Kind: kind})
			p := &vp8Sender{s: padded.Stream(1), seq: 65000, ts: 7}
			w := &vp8Sender{s: twin.Stream(2), seq: 300, ts: 7}
			const frames, perFrame, paddingSize = 90, 4, 250
			for i := range frames {
				at := time.Duration(i) * tc.every
				key := i == 0 || i == 45
				for _, pair := range []struct {
					v   *vp8Sender
					pkt []vp8Packet
				}{{p, p.frame(3, key)}, {w, w.frame(3, key)}} {
					clock.now = at
					for k := range pair.pkt {
						pair.v.s.Received(&pair.pkt[k].h, pair.pkt[k].payload, 1000)
					}
				}
				clock.now = at + 10*time.Millisecond
				pad := p.padding(perFrame)
				switch i {
				case 20:
					pad = append(pad, pad[0]) // arrives twice
				case 40:
					pad = pad[:perFrame-1] // the last never arrives
				}
				for k := range pad {
					p.s.Received(&pad[k].h, pad[k].payload, paddingSize)
				}
			}
			end := (frames*tc.every + time.Second - 1).Truncate(time.Second)
			ps, ws := padded.stats(FlowKey{Kind: kind}, end), twin.stats(FlowKey{Kind: kind}, end)
			pq, wq := ps.Quality, ws.Quality
			if pq.Sent != frames*(3+perFrame) || pq.Lost != 1 || pq.InFlight != 0 || pq.Duplicates != 1 {
				t.Errorf("padded: sent %d, lost %d, in flight %d, duplicates %d; want %d, 1, 0, 1", pq.Sent, pq.Lost, pq.InFlight, pq.Duplicates, frames*(3+perFrame))
			}
			if want := uint64(frames*perFrame - 1); pq.PaddingPackets != want || pq.PaddingBytes != want*paddingSize {
				t.Errorf("padding %d packets, %d bytes; want %d, %d", pq.PaddingPackets, pq.PaddingBytes, want, want*paddingSize)
			}
			if wq.PaddingPackets != 0 || wq.PaddingBytes != 0 {
				t.Errorf("twin: padding %d packets, %d bytes; want none", wq.PaddingPackets, wq.PaddingBytes)
			}
			if ps.Packets != ws.Packets || ps.Bytes != ws.Bytes || pq.Packets != wq.Packets || pq.Bitrate != wq.Bitrate {
				t.Errorf("padded: %d packets, %d bytes (quality: %d packets, %.0f bit/s); want the twin's %d, %d (%d, %.0f)",
					ps.Packets, ps.Bytes, pq.Packets, pq.Bitrate, ws.Packets, ws.Bytes, wq.Packets, wq.Bitrate)
			}
			for i := range pq.Seconds {
				if a, b := pq.Seconds[i], wq.Seconds[i]; a.Packets != b.Packets || a.Bytes != b.Bytes {
					t.Errorf("second %d: padded %d packets, %d bytes; twin %d, %d", i, a.Packets, a.Bytes, b.Packets, b.Bytes)
				}
			}
			if wq.Jitter >= time.Microsecond || pq.Jitter < time.Millisecond {
				t.Errorf("jitter: padded %v, twin %v; want over 1 ms, under 1 µs", pq.Jitter, wq.Jitter)
			}
			if kind == Video && (pq.FramesDecoded != 86 || wq.FramesDecoded != frames) {
				t.Errorf("frames decoded: padded %d, twin %d; want 86 (41 to 44 wait behind the lost padding), %d", pq.FramesDecoded, wq.FramesDecoded, frames)
			}
		})
	}
}
