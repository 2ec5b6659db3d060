package media

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// vp8Packet is a packet of a test VP8 stream.
type vp8Packet struct {
	h       rtp.Header
	payload []byte
}

// vp8Sender makes a VP8 stream's frames, as pion's payloader packetizes
// them (a one-byte payload descriptor, S on the first packet), and counts
// each packet as sent on its stream, as a real sender does before its
// packets can arrive.
type vp8Sender struct {
	s   *Stream
	seq uint16
	ts  uint32
}

// frame returns the n packets of the next frame, a keyframe or not.
func (v *vp8Sender) frame(n int, key bool) []vp8Packet {
	out := make([]vp8Packet, n)
	for i := range out {
		p := &out[i]
		p.h = rtp.Header{SequenceNumber: v.seq, Timestamp: v.ts, Marker: i == n-1}
		if i == 0 {
			// S=1, PID=0; the VP8 payload header's P bit is 0 for a keyframe.
			p.payload = []byte{0x10, 0x01, 0x9d, 0x01}
			if key {
				p.payload[1] = 0x00
			}
		} else {
			p.payload = []byte{0x00, 0xaa, 0xbb}
		}
		v.s.Sent(v.seq)
		v.seq++
	}
	v.ts += 3000
	return out
}

// padding returns n padding-only packets, as an SFU probing the downlink
// sends them between frames: the sequence numbers after the last frame's,
// its timestamp, the P bit, and nothing left once the padding is taken off.
func (v *vp8Sender) padding(n int) []vp8Packet {
	out := make([]vp8Packet, n)
	for i := range out {
		out[i] = vp8Packet{h: rtp.Header{SequenceNumber: v.seq, Timestamp: v.ts - 3000, Padding: true}, payload: []byte{}}
		v.s.Sent(v.seq)
		v.seq++
	}
	return out
}

// videoStream returns a video flow's stream with its clock.
func videoStream() (*Flow, *Stream, *fakeClock) {
	clock := &fakeClock{}
	f := NewMeter(clock.since).Flow(FlowKey{Owner: "bob", Track: "alice/video", Kind: Video, Direction: Received})
	return f, f.Stream(9), clock
}

// arrive delivers pkts at at.
func arrive(s *Stream, clock *fakeClock, at time.Duration, pkts ...vp8Packet) {
	clock.now = at
	for i := range pkts {
		s.Received(&pkts[i].h, pkts[i].payload, 100)
	}
}

func videoQuality(t *testing.T, f *Flow, end time.Duration) *Quality {
	t.Helper()
	return f.stats(FlowKey{Kind: Video}, end).Quality
}

const frameEvery = 33 * time.Millisecond

// TestFramesInOrderAndReordered: frames whose packets arrive in order, or
// reordered within the frame, are each shown when their last packet
// arrives; nothing freezes.
func TestFramesInOrderAndReordered(t *testing.T) {
	f, s, clock := videoStream()
	v := &vp8Sender{s: s, seq: 100, ts: 1000}
	for i := range 30 {
		pkts := v.frame(4, i == 0)
		at := time.Duration(i) * frameEvery
		if i%3 == 1 {
			pkts[0], pkts[3], pkts[1] = pkts[3], pkts[1], pkts[0] // last first, first third
		}
		arrive(s, clock, at, pkts...)
	}
	q := videoQuality(t, f, time.Second)
	if q.FramesReceived != 30 || q.FramesDecoded != 30 || q.FramesDropped != 0 || q.KeyFramesDecoded != 1 {
		t.Errorf("received %d, decoded %d, dropped %d, keyframes %d; want 30, 30, 0, 1", q.FramesReceived, q.FramesDecoded, q.FramesDropped, q.KeyFramesDecoded)
	}
	if len(q.Freezes) != 0 {
		t.Errorf("freezes %v, want none", q.Freezes)
	}
	if q.Seconds[0].Frames != 30 {
		t.Errorf("frames shown in the first second %d, want 30", q.Seconds[0].Frames)
	}
}

// TestFramesLateRetransmission: a packet of frame 3 is lost and its
// retransmission arrives 300 ms later, after frames 4 to 12 are complete.
// Nothing is shown in between (they reference frame 3); at the
// retransmission frames 3 to 12 are shown at once. That is a freeze of the
// retransmission's wait.
func TestFramesLateRetransmission(t *testing.T) {
	f, s, clock := videoStream()
	v := &vp8Sender{s: s, seq: 7, ts: 1}
	var lost vp8Packet
	for i := range 20 {
		pkts := v.frame(3, i == 0)
		at := time.Duration(i) * frameEvery
		if i == 3 {
			lost = pkts[1]
			pkts = append(pkts[:1], pkts[2])
		}
		arrive(s, clock, at, pkts...)
		if i == 12 {
			arrive(s, clock, at+time.Millisecond, lost)
		}
	}
	q := videoQuality(t, f, 20*frameEvery)
	if q.FramesDecoded != 20 || q.FramesDropped != 0 {
		t.Errorf("decoded %d, dropped %d; want 20, 0", q.FramesDecoded, q.FramesDropped)
	}
	if len(q.Freezes) != 1 {
		t.Fatalf("freezes %v, want one", q.Freezes)
	}
	want := Outage{Start: 2 * frameEvery, End: 12*frameEvery + time.Millisecond}
	if q.Freezes[0] != want {
		t.Errorf("freeze %v, want %v", q.Freezes[0], want)
	}
}

// TestFramesLostUntilKeyframe: a packet of frame 5 never arrives. Frames 6
// to 39 are complete and never decoded, since each references the one
// before; frame 40, a keyframe, ends the freeze. The frames stuck before
// it are dropped. Sequence numbers wrap at frame 28, timestamps at frame
// 22.
func TestFramesLostUntilKeyframe(t *testing.T) {
	f, s, clock := videoStream()
	v := &vp8Sender{s: s, seq: 65452, ts: 1<<32 - 22*3000 + 5}
	for i := range 60 {
		pkts := v.frame(3, i == 0 || i == 40)
		if i == 5 {
			pkts = pkts[1:] // the first packet: the frame's start
		}
		arrive(s, clock, time.Duration(i)*frameEvery, pkts...)
	}
	end := 2 * time.Second
	q := videoQuality(t, f, end)
	if q.FramesReceived != 59 || q.FramesDecoded != 25 || q.FramesDropped != 34 || q.KeyFramesDecoded != 2 {
		t.Errorf("received %d, decoded %d, dropped %d, keyframes %d; want 59, 25, 34, 2", q.FramesReceived, q.FramesDecoded, q.FramesDropped, q.KeyFramesDecoded)
	}
	want := []Outage{{Start: 4 * frameEvery, End: 40 * frameEvery}}
	if len(q.Freezes) != 1 || q.Freezes[0] != want[0] {
		t.Errorf("freezes %v, want %v", q.Freezes, want)
	}
	if q.LongestFreeze != 36*frameEvery {
		t.Errorf("longest freeze %v, want %v", q.LongestFreeze, 36*frameEvery)
	}
}

// TestFramesOldRetransmissionsSpareTheKeyframe: a receiver stuck behind a
// lost frame keeps getting retransmissions of frames that have fallen out
// of its ring; they must not take the slot of the keyframe that is half
// there, or the receiver never gets out (a capacity-drop run froze its
// node-side video to the end so).
func TestFramesOldRetransmissionsSpareTheKeyframe(t *testing.T) {
	f, s, clock := videoStream()
	v := &vp8Sender{s: s, seq: 100, ts: 9000}
	var old [][]vp8Packet
	for i := range 200 {
		pkts := v.frame(2, i == 0)
		old = append(old, pkts)
		if i >= 2 && i < 81 {
			// Second packets lost; frame 2's for good: stuck from
			// there.
			pkts = pkts[:1]
		}
		arrive(s, clock, time.Duration(i)*frameEvery, pkts...)
	}
	key := v.frame(2, true)
	at := 200 * frameEvery
	arrive(s, clock, at, key[0])
	// Seventy-eight old frames' second packets, resent late, before the
	// keyframe's own second packet: more than the ring holds.
	for i := 3; i < 81; i++ {
		arrive(s, clock, at+time.Duration(i)*time.Millisecond, old[i][1])
	}
	arrive(s, clock, at+100*time.Millisecond, key[1])
	q := videoQuality(t, f, at+time.Second)
	if q.KeyFramesDecoded != 2 {
		t.Fatalf("keyframes decoded %d, want 2 (the first, and the one after the loss)", q.KeyFramesDecoded)
	}
}

// TestFramesResentWholeFrame: a frame of one packet (a low simulcast
// layer's) whose packet is lost and resent after the next frames arrived
// never had a slot in the ring; resent, it is decoded, and the frames
// after it with it, rather than the video freezing until a keyframe.
func TestFramesResentWholeFrame(t *testing.T) {
	f, s, clock := videoStream()
	v := &vp8Sender{s: s, seq: 100, ts: 9000}
	var lost []vp8Packet
	for i := range 30 {
		pkts := v.frame(1, i == 0)
		if i == 10 {
			lost = pkts
			continue
		}
		arrive(s, clock, time.Duration(i)*frameEvery, pkts...)
		if i == 13 {
			// Resent after three newer frames arrived, as a NACK
			// round trip takes.
			arrive(s, clock, time.Duration(i)*frameEvery+time.Millisecond, lost...)
		}
	}
	q := videoQuality(t, f, time.Second)
	if q.FramesDecoded != 30 || q.KeyFramesDecoded != 1 {
		t.Errorf("decoded %d frames, %d keyframes; want all 30, the first a keyframe", q.FramesDecoded, q.KeyFramesDecoded)
	}
}

// TestFramesStuckToTheEnd: a lost frame with no keyframe after it freezes
// the video to the end of the call, while packets keep arriving; a stream
// whose first frame is not a keyframe shows nothing, and is frozen from
// its first packet.
func TestFramesStuckToTheEnd(t *testing.T) {
	f, s, clock := videoStream()
	v := &vp8Sender{s: s, seq: 1, ts: 1}
	for i := range 30 {
		pkts := v.frame(2, i == 0)
		if i == 10 {
			continue
		}
		arrive(s, clock, time.Duration(i)*frameEvery, pkts...)
	}
	q := videoQuality(t, f, 3*time.Second)
	want := Outage{Start: 9 * frameEvery, End: 3 * time.Second, Ongoing: true}
	if len(q.Freezes) != 1 || q.Freezes[0] != want {
		t.Errorf("freezes %v, want %v", q.Freezes, want)
	}
	if len(q.Seconds) < 1 || q.Seconds[0].Frames != 10 || q.Seconds[0].Packets != 58 {
		t.Errorf("first second %+v, want 10 frames shown of 58 packets", q.Seconds[0])
	}

	f, s, clock = videoStream()
	v = &vp8Sender{s: s, seq: 1, ts: 1}
	var first bool
	for i := range 10 {
		pkts := v.frame(2, false)
		clock.now = 100*time.Millisecond + time.Duration(i)*frameEvery
		for k := range pkts {
			if s.Received(&pkts[k].h, pkts[k].payload, 100) && i == 0 {
				first = true
			}
		}
	}
	if !first {
		t.Error("a first complete frame that is not a keyframe did not ask for one")
	}
	q = videoQuality(t, f, time.Second)
	want = Outage{Start: 100 * time.Millisecond, End: time.Second, Ongoing: true}
	if len(q.Freezes) != 1 || q.Freezes[0] != want || q.FramesDecoded != 0 {
		t.Errorf("freezes %v, %d decoded; want %v, none", q.Freezes, q.FramesDecoded, want)
	}
}

// TestFramesPlayoutDelay: every fifteenth frame waits 170 ms for its
// middle packet. Without a round trip measured, each is a freeze (33 ms
// plus 170 ms between frames shown). With a round trip of 200 ms, the
// receiver's playout delay grows toward it once three frames needed a late
// packet, and from then on the wait is absorbed: three freezes only.
func TestFramesPlayoutDelay(t *testing.T) {
	for _, tc := range []struct {
		rtt     time.Duration
		freezes int
	}{{0, 10}, {200 * time.Millisecond, 3}} {
		f, s, clock := videoStream()
		if tc.rtt > 0 {
			s.RTT(tc.rtt)
		}
		v := &vp8Sender{s: s, seq: 500, ts: 1}
		type arrival struct {
			at time.Duration
			p  vp8Packet
		}
		var arrivals []arrival
		for i := range 150 {
			at := time.Duration(i) * frameEvery
			for k, p := range v.frame(3, i == 0) {
				late := time.Duration(0)
				if i%15 == 5 && k == 1 {
					late = 170 * time.Millisecond
				}
				arrivals = append(arrivals, arrival{at + late, p})
			}
		}
		slices.SortStableFunc(arrivals, func(a, b arrival) int { return cmp.Compare(a.at, b.at) })
		for _, a := range arrivals {
			arrive(s, clock, a.at, a.p)
		}
		q := videoQuality(t, f, 5*time.Second)
		if q.FramesDecoded != 150 || len(q.Freezes) != tc.freezes {
			t.Errorf("round trip %v: %d decoded, freezes %v; want 150, %d freezes", tc.rtt, q.FramesDecoded, q.Freezes, tc.freezes)
		}
	}
}

// padded is a frame's packets and the padding sent after it.
type padded struct{ frame, padding []vp8Packet }

// TestFramesPadding: padding-only packets between frames count toward the
// frames' continuity as libwebrtc's RtpSeqNumOnlyRefFinder counts them:
// the inter frame after the padding is decodable once the padding and the
// frame before it are there, in whatever order they arrive; padding that
// never arrives is a gap the next frame waits behind, as a lost media
// packet is; stashed padding is forgotten once padding more than 100
// sequence numbers newer arrives (kMaxPaddingAge). Twenty frames of three packets, the
// first and the fifteenth keyframes, each followed by two padding packets;
// a wait of six frames is a freeze.
func TestFramesPadding(t *testing.T) {
	for _, tc := range []struct {
		name string
		// deliver makes the frames arrive, one every frameEvery from 0,
		// by default each's packets and then its padding; probe returns
		// padding sent after the last frame.
		deliver func(arrive func(at time.Duration, pkts ...vp8Packet), units []padded, probe func(n int) []vp8Packet)
		decoded uint64
		freezes int
	}{
		{"in order", nil, 20, 0},
		{"padding before the frame it follows", func(arrive func(time.Duration, ...vp8Packet), units []padded, _ func(int) []vp8Packet) {
			for i, u := range units {
				at := time.Duration(i) * frameEvery
				if i == 0 || i == 3 {
					// The keyframe's padding, and the fourth frame's,
					// overtake their frame, and the padding's second
					// packet its first.
					arrive(at, u.padding[1], u.padding[0], u.frame[2], u.frame[0], u.frame[1])
					continue
				}
				arrive(at, append(u.frame, u.padding...)...)
			}
		}, 20, 0},
		{"padding while its frame waits on a retransmission", func(arrive func(time.Duration, ...vp8Packet), units []padded, _ func(int) []vp8Packet) {
			for i, u := range units {
				at := time.Duration(i) * frameEvery
				if i == 3 {
					arrive(at, u.frame[0], u.frame[2])
					arrive(at, u.padding...)
					continue
				}
				arrive(at, append(u.frame, u.padding...)...)
				if i == 9 {
					arrive(at+time.Millisecond, units[3].frame[1])
				}
			}
		}, 20, 1},
		{"padding lost: the next frame waits for the keyframe", func(arrive func(time.Duration, ...vp8Packet), units []padded, _ func(int) []vp8Packet) {
			for i, u := range units {
				at := time.Duration(i) * frameEvery
				if i == 3 {
					arrive(at, append(u.frame, u.padding[0])...)
					continue
				}
				arrive(at, append(u.frame, u.padding...)...)
			}
		}, 10, 1},
		{"padding lost, then resent", func(arrive func(time.Duration, ...vp8Packet), units []padded, _ func(int) []vp8Packet) {
			for i, u := range units {
				at := time.Duration(i) * frameEvery
				if i == 3 {
					arrive(at, append(u.frame, u.padding[1])...)
					continue
				}
				arrive(at, append(u.frame, u.padding...)...)
				if i == 9 {
					arrive(at+time.Millisecond, units[3].padding[0])
				}
			}
		}, 20, 1},
		{"padding kept 100 behind the newest", waitBehindProbe(19), 20, 0},
		{"padding forgotten 101 behind the newest", waitBehindProbe(20), 10, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, s, clock := videoStream()
			v := &vp8Sender{s: s, seq: 65520, ts: 1}
			units := make([]padded, 20)
			for i := range units {
				units[i] = padded{v.frame(3, i == 0 || i == 14), v.padding(2)}
			}
			deliver := tc.deliver
			if deliver == nil {
				deliver = func(arrive func(time.Duration, ...vp8Packet), units []padded, _ func(int) []vp8Packet) {
					for i, u := range units {
						arrive(time.Duration(i)*frameEvery, append(u.frame, u.padding...)...)
					}
				}
			}
			deliver(func(at time.Duration, pkts ...vp8Packet) { arrive(s, clock, at, pkts...) }, units, v.padding)
			q := videoQuality(t, f, 20*frameEvery)
			if q.FramesReceived != 20 || q.FramesDecoded != tc.decoded || len(q.Freezes) != tc.freezes {
				t.Errorf("received %d, decoded %d, freezes %v; want 20, %d, %d freezes", q.FramesReceived, q.FramesDecoded, q.Freezes, tc.decoded, tc.freezes)
			}
			if want := uint64(2); q.KeyFramesDecoded != want {
				t.Errorf("keyframes decoded %d, want %d", q.KeyFramesDecoded, want)
			}
		})
	}
}

// TestPaddingStash: the stash of padding packets holds every one added up
// to maxPaddingAge behind the newest, and none older or not added, as its
// window slides over thousands of indexes in steps, jumps and reorderings.
func TestPaddingStash(t *testing.T) {
	var p paddingStash
	added := map[int32]bool{}
	rnd := rand.New(rand.NewPCG(1, 2))
	newest := int32(0)
	for range 5000 {
		i := newest + int32(rnd.IntN(6))
		switch rnd.IntN(20) {
		case 0:
			i = newest + int32(rnd.IntN(400)) // a jump, past the window at times
		case 1, 2:
			i = max(newest-int32(rnd.IntN(150)), 0) // reordered
		}
		p.add(i)
		added[i] = true
		newest = max(newest, i)
		for k := max(newest-200, 0); k <= newest+5; k++ {
			want := added[k] && newest-k <= maxPaddingAge
			if p.has(k) != want {
				t.Fatalf("after adding %d (newest %d): has(%d) = %v, want %v", i, newest, k, p.has(k), want)
			}
		}
	}
}

// waitBehindProbe is a TestFramesPadding delivery: the fourth frame waits
// on its middle packet while its padding arrives, then a probe of n
// padding packets sent after the last frame, then the middle packet. Its
// padding's first packet is 81 + n sequence numbers behind the probe's
// last: libwebrtc keeps it up to 100 behind.
func waitBehindProbe(n int) func(func(time.Duration, ...vp8Packet), []padded, func(int) []vp8Packet) {
	return func(arrive func(time.Duration, ...vp8Packet), units []padded, probe func(int) []vp8Packet) {
		for i, u := range units {
			at := time.Duration(i) * frameEvery
			if i == 3 {
				arrive(at, u.frame[0], u.frame[2])
				arrive(at, u.padding...)
				arrive(at+time.Millisecond, probe(n)...)
				arrive(at+2*time.Millisecond, u.frame[1])
				continue
			}
			arrive(at, append(u.frame, u.padding...)...)
		}
	}
}

// TestVP8Start reads the payload descriptor's S bit and partition index,
// and the payload header's P bit behind the descriptor's extensions.
func TestVP8Start(t *testing.T) {
	for _, tc := range []struct {
		name       string
		payload    []byte
		start, key bool
	}{
		{"one byte, keyframe", []byte{0x10, 0x00}, true, true},
		{"one byte, inter frame", []byte{0x10, 0x01}, true, false},
		{"not the start", []byte{0x00, 0x00}, false, false},
		{"start of partition 1", []byte{0x11, 0x00}, false, false},
		{"15-bit picture ID, keyframe", []byte{0x90, 0x80, 0x81, 0x23, 0x00}, true, true},
		{"7-bit picture ID, inter frame", []byte{0x90, 0x80, 0x05, 0x01}, true, false},
		{"picture ID, TL0PICIDX, TID", []byte{0x90, 0xe0, 0x05, 0x07, 0x40, 0x00}, true, true},
		{"truncated", []byte{0x90, 0x80}, false, false},
		{"empty", nil, false, false},
	} {
		start, key := vp8Start(tc.payload)
		if start != tc.start || key != tc.key {
			t.Errorf("%s: start %v, key %v; want %v, %v", tc.name, start, key, tc.start, tc.key)
		}
	}
}

// TestKeyframeRequests follows libwebrtc's timeouts: 200 ms while no frame
// was decoded, 3 s after the last decoded frame, not while a keyframe is
// arriving, not for a stream silent for 5 s.
func TestKeyframeRequests(t *testing.T) {
	var k keyframeRequests
	ms := time.Millisecond
	k.start(0)
	if req, next := k.timeout(200 * ms); req || next != 200*ms {
		t.Errorf("no packet yet: request %v, next %v; want none, 200ms", req, next)
	}
	k.arrived(250*ms, false)
	if req, _ := k.timeout(400 * ms); !req {
		t.Error("packets but no decodable frame for 200 ms: want a request")
	}
	k.arrived(450*ms, true)
	if req, _ := k.timeout(600 * ms); req {
		t.Error("a keyframe packet 150 ms ago: want no request")
	}
	k.decoded(650 * ms)
	if req, next := k.timeout(800 * ms); req || next != 2850*ms {
		t.Errorf("decoding: request %v, next %v; want none, 2.85s", req, next)
	}
	k.arrived(3500*ms, false)
	if req, next := k.timeout(3650 * ms); !req || next != 3*time.Second {
		t.Errorf("3 s without a decodable frame: request %v, next %v; want one, 3s", req, next)
	}
	if req, _ := k.timeout(9 * time.Second); req {
		t.Error("no packet for 5.5 s: want no request")
	}
}

// TestAsksForKeyframe finds a PLI or FIR in a compound packet.
func TestAsksForKeyframe(t *testing.T) {
	rr := &rtcp.ReceiverReport{SSRC: 1}
	if AsksForKeyframe([]rtcp.Packet{rr}) {
		t.Error("a receiver report asks for a keyframe")
	}
	if !AsksForKeyframe([]rtcp.Packet{rr, &rtcp.PictureLossIndication{MediaSSRC: 2}}) {
		t.Error("a PLI does not ask for a keyframe")
	}
	if !AsksForKeyframe([]rtcp.Packet{&rtcp.FullIntraRequest{MediaSSRC: 2}}) {
		t.Error("a FIR does not ask for a keyframe")
	}
}

// TestFramesAllocateNothing: a video packet received in steady state, its
// frame assembled, decoded and shown, allocates nothing; nor does the
// padding between frames.
func TestFramesAllocateNothing(t *testing.T) {
	_, s, clock := videoStream()
	v := &vp8Sender{s: s, seq: 1, ts: 1}
	pkts := make([][]vp8Packet, 400)
	for i := range pkts {
		pkts[i] = append(v.frame(5, i == 0), v.padding(3)...)
	}
	clock.now = 500 * time.Millisecond
	for _, p := range pkts[:200] {
		arrive(s, clock, clock.now, p...)
	}
	i := 200
	allocs := testing.AllocsPerRun(100, func() {
		arrive(s, clock, clock.now, pkts[i]...)
		i++
	})
	if allocs != 0 {
		t.Errorf("%v allocations per frame of 5 packets and 3 of padding, want 0", allocs)
	}
}

// BenchmarkVideoReceived is a video packet's cost at its receiver: loss
// accounting, jitter and frame assembly.
func BenchmarkVideoReceived(b *testing.B) {
	_, s, clock := videoStream()
	v := &vp8Sender{s: s, seq: 1, ts: 1}
	frames := make([][]vp8Packet, 1024)
	for i := range frames {
		frames[i] = v.frame(5, i%300 == 0)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		for _, f := range frames {
			for k := range f {
				clock.now += time.Millisecond
				s.Received(&f[k].h, f[k].payload, 1200)
				i++
			}
		}
		b.StopTimer()
		_, s, clock = videoStream()
		v = &vp8Sender{s: s, seq: 1, ts: 1}
		for i := range frames {
			frames[i] = v.frame(5, i%300 == 0)
		}
		b.StartTimer()
	}
}
