package gcc

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// link is a bottleneck of rate bits per second with a drop-tail queue of
// limit bytes and a fixed one-way delay, carrying what an estimator's
// sender sends: a synthetic path, so that the estimator can be judged
// without a network.
type link struct {
	rate    float64
	limit   int
	delay   time.Duration
	free    time.Time // when the link finishes what it holds
	queued  []queued
	arrived map[int64]time.Time
}

type queued struct {
	seq  int64
	done time.Time
	size int
}

// send offers a packet at t; it arrives when the link has carried it, or
// never if the queue is full.
func (l *link) send(seq int64, t time.Time, size int) {
	for len(l.queued) > 0 && !l.queued[0].done.After(t) {
		l.queued = l.queued[1:]
	}
	bytes := 0
	for _, q := range l.queued {
		bytes += q.size
	}
	if bytes+size > l.limit {
		return
	}
	start := t
	if l.free.After(t) {
		start = l.free
	}
	l.free = start.Add(time.Duration(float64(size*8) / l.rate * float64(time.Second)))
	l.queued = append(l.queued, queued{seq: seq, done: l.free, size: size})
	l.arrived[seq] = l.free.Add(l.delay)
}

// feedback reports seqs [from, to) as a transport-wide feedback whose
// arrivals are those of l.
func (l *link) feedback(from, to int64, ref time.Time) *rtcp.TransportLayerCC {
	fb := &rtcp.TransportLayerCC{BaseSequenceNumber: uint16(from), PacketStatusCount: uint16(to - from),
		ReferenceTime: uint32(ref.Sub(time.Unix(0, 0)) / (64 * time.Millisecond))}
	at := time.Unix(0, 0).Add(time.Duration(fb.ReferenceTime) * 64 * time.Millisecond)
	for seq := from; seq < to; seq++ {
		a, ok := l.arrived[seq]
		if !ok {
			fb.PacketChunks = append(fb.PacketChunks, &rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketNotReceived, RunLength: 1})
			continue
		}
		fb.PacketChunks = append(fb.PacketChunks, &rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedLargeDelta, RunLength: 1})
		fb.RecvDeltas = append(fb.RecvDeltas, &rtcp.RecvDelta{Type: rtcp.TypeTCCPacketReceivedLargeDelta, Delta: a.Sub(at).Microseconds()})
		at = a
	}
	return fb
}

// report gives e a feedback at now on the packets from reported up to
// sent that arrived by then, stopping at the first still on its way, and
// returns the first packet not yet reported.
func (l *link) report(e *Estimator, reported, sent int64, now time.Time) int64 {
	upTo := reported
	for upTo < sent {
		if a, ok := l.arrived[upTo]; ok && a.After(now) {
			break
		}
		upTo++
	}
	if upTo > reported {
		e.feedback(l.feedback(reported, upTo, now), now.Add(l.delay))
	}
	return upTo
}

// call sends at the estimate through l for d, 1200-byte packets paced
// evenly, with feedback every 100 ms, and returns the estimate each
// second.
func call(e *Estimator, l *link, d time.Duration, step func(at time.Duration)) []int {
	start := time.Unix(1_000_000, 0)
	now := start
	var seq, reported int64
	var out []int
	next := now
	for now.Sub(start) < d {
		if step != nil {
			step(now.Sub(start))
		}
		if !now.Before(next) {
			e.sent(uint16(seq), now, 1200, false)
			l.send(seq, now, 1200)
			seq++
			gap := time.Duration(1200 * 8 / float64(e.GetTargetBitrate()) * float64(time.Second))
			next = now.Add(gap)
		}
		if now.Sub(start)%(100*time.Millisecond) == 0 {
			reported = l.report(e, reported, seq, now)
		}
		if now.Sub(start)%time.Second == 0 {
			out = append(out, e.GetTargetBitrate())
		}
		now = now.Add(time.Millisecond)
	}
	return out
}

// GCC finds a bottleneck below its start and settles under it; when the
// capacity falls it follows it down within a couple of seconds; and the
// same sends and feedback give the same estimates, every time.
func TestEstimatorFollowsABottleneck(t *testing.T) {
	run := func() []int {
		e := NewEstimator(Config{Start: 300_000, Min: 30_000, Max: 3_000_000})
		l := &link{rate: 1_000_000, limit: 30_000, delay: 20 * time.Millisecond, arrived: map[int64]time.Time{}}
		return call(e, l, 40*time.Second, func(at time.Duration) {
			if at == 25*time.Second {
				l.rate = 400_000
			}
		})
	}
	got := run()
	t.Logf("estimates, one a second: %v", got)
	// Up from 300 kbit/s towards 1 Mbit/s...
	if peak := maxOf(got[10:25]); peak < 700_000 || peak > 1_200_000 {
		t.Errorf("estimates before the drop %v: peak %d, want 0.7 to 1.2 Mbit/s", got[:25], peak)
	}
	// ...and under 400 kbit/s within three seconds of the drop.
	if got[28] > 400_000 {
		t.Errorf("estimates after the drop to 400 kbit/s: %v", got[25:])
	}
	if again := run(); !equal(got, again) {
		t.Errorf("the same path gave %v, then %v", got, again)
	}
}

// A feedback packet's statuses and deltas are read against what was sent:
// run-length and two-bit status vector chunks, a lost packet, and
// sequence numbers that wrap.
func TestFeedbackParse(t *testing.T) {
	h := newHistory()
	t0 := time.Unix(100, 0)
	for i := range 6 {
		h.add(uint16(65533+i), t0.Add(time.Duration(i)*time.Millisecond), 1000+i, false, 0)
	}
	fb := &rtcp.TransportLayerCC{BaseSequenceNumber: 65533, PacketStatusCount: 6,
		PacketChunks: []rtcp.PacketStatusChunk{
			&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedSmallDelta, RunLength: 2},
			&rtcp.StatusVectorChunk{SymbolSize: rtcp.TypeTCCSymbolSizeTwoBit, SymbolList: []uint16{
				rtcp.TypeTCCPacketNotReceived, rtcp.TypeTCCPacketReceivedLargeDelta, rtcp.TypeTCCPacketReceivedSmallDelta,
				rtcp.TypeTCCPacketReceivedSmallDelta, 0}},
		},
		RecvDeltas: []*rtcp.RecvDelta{{Delta: 1000}, {Delta: 2000}, {Delta: -500}, {Delta: 250}, {Delta: 750}},
	}
	rs := h.parse(fb)
	if len(rs) != 6 {
		t.Fatalf("%d results, want 6", len(rs))
	}
	wantDelta := []int64{1000, 3000, 0, 2500, 2750, 3500} // µs from the reference; 0: lost
	for i, r := range rs {
		if r.seq != 65533+int64(i) || r.size != 1000+i {
			t.Errorf("result %d: seq %d, size %d", i, r.seq, r.size)
		}
		got := int64(0)
		if !r.arrival.IsZero() {
			got = r.arrival.Sub(time.Unix(0, 0)).Microseconds()
		}
		if got != wantDelta[i] {
			t.Errorf("result %d: arrival %d µs, want %d", i, got, wantDelta[i])
		}
	}
}

// Retransmissions: one a round trip per packet, and no more than the
// target bitrate of them.
func TestResendLimiter(t *testing.T) {
	e := NewEstimator(Config{Start: 100_000, Min: 30_000, Max: 1_000_000})
	var l resendLimiter
	t0 := time.Unix(100, 0)
	if resend, ok := l.allow(7, 1000, t0, e); resend || !ok {
		t.Fatalf("first send: resend %v, ok %v", resend, ok)
	}
	if _, ok := l.allow(7, 1000, t0.Add(50*time.Millisecond), e); ok {
		t.Error("resent within the round trip (200 ms before one is measured)")
	}
	if resend, ok := l.allow(7, 1000, t0.Add(250*time.Millisecond), e); !resend || !ok {
		t.Errorf("resend after a round trip: resend %v, ok %v", resend, ok)
	}
	// 100 kbit/s is 12,500 bytes a second of retransmissions.
	sent := 0
	for seq := uint16(100); seq < 200; seq++ {
		l.allow(seq, 1000, t0, e)
		if _, ok := l.allow(seq, 1000, t0.Add(time.Second), e); ok {
			sent++
		}
	}
	if sent > 13 {
		t.Errorf("%d retransmissions of 1000 bytes in an instant at 100 kbit/s; want at most 13", sent)
	}
}

func maxOf(xs []int) int {
	m := 0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzFeedback reads transport-wide feedback from the network: whatever
// bytes a peer sends, parsing them against the history and feeding them
// to the estimator must not panic, and the estimate stays within bounds.
func FuzzFeedback(f *testing.F) {
	l := &link{rate: 1_000_000, limit: 30_000, delay: 20 * time.Millisecond, arrived: map[int64]time.Time{}}
	t0 := time.Unix(100, 0)
	for seq := range int64(20) {
		l.send(seq, t0.Add(time.Duration(seq)*5*time.Millisecond), 1200)
	}
	seed, err := l.feedback(3, 17, t0.Add(200*time.Millisecond)).Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		pkts, err := rtcp.Unmarshal(data)
		if err != nil {
			return
		}
		cfg := Config{Start: 300_000, Min: 30_000, Max: 2_000_000}
		e := NewEstimator(cfg)
		for seq := range uint16(40) {
			e.sent(seq, t0.Add(time.Duration(seq)*5*time.Millisecond), 1200, seq%7 == 0)
		}
		now := t0.Add(time.Second)
		for _, p := range pkts {
			if fb, ok := p.(*rtcp.TransportLayerCC); ok {
				e.feedback(fb, now)
				now = now.Add(100 * time.Millisecond)
			}
		}
		if got := e.GetTargetBitrate(); got < cfg.Min || got > cfg.Max {
			t.Fatalf("estimate %d outside [%d, %d]", got, cfg.Min, cfg.Max)
		}
	})
}
