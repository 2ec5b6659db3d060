package media

import (
	"testing"
	"time"

	"github.com/pion/rtp"
)

// Grades follow LiveKit's scorer: a clean stream is excellent; video that
// loses 3% of its packets falls to good, 7% to poor once the blend with
// the score before has caught up (falling fast, rising slowly); a window
// with nothing received and no report is lost; Opus at 2% loss stays
// excellent, at 3%
// it falls to good.
func TestGradeLikeLiveKit(t *testing.T) {
	q := func(kind string, lossPct ...int) *Quality {
		q := &Quality{}
		for _, l := range lossPct {
			for range GradeWindow / time.Second {
				s := Second{At: time.Duration(len(q.Seconds)) * time.Second, Sent: 100, Lost: uint64(l),
					Packets: uint64(100 - l), Bytes: uint64(MaxVideoBitrate / 8)}
				if l < 0 {
					s.Lost, s.Packets, s.Bytes = 0, 0, 0
				}
				q.Seconds = append(q.Seconds, s)
			}
		}
		return q
	}
	grades := func(gs []Graded) (out []Grade) {
		for _, g := range gs {
			out = append(out, g.Grade)
		}
		return out
	}
	for _, c := range []struct {
		kind string
		loss []int
		want []Grade
	}{
		{Video, []int{0, 0}, []Grade{Excellent, Excellent}},
		{Video, []int{0, 3, 3}, []Grade{Excellent, Good, Good}},
		{Video, []int{0, 7, 7, 0, 0}, []Grade{Excellent, Good, Poor, Good, Good}},
		{Video, []int{0, -1}, []Grade{Excellent, Lost}},
		{Audio, []int{0, 2, 3, 3}, []Grade{Excellent, Excellent, Good, Good}},
	} {
		got := grades(grade(q(c.kind, c.loss...), c.kind, 0))
		if len(got) != len(c.want) {
			t.Errorf("%s at %v%% loss: grades %v, want %v", c.kind, c.loss, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s at %v%% loss: grades %v, want %v", c.kind, c.loss, got, c.want)
				break
			}
		}
	}
	// A window with nothing received is lost when no report came either,
	// poor ("dry") when the far end's reports still came.
	dry := q(Video, 0, -1)
	for i := range dry.Seconds {
		dry.Seconds[i].RTT = 50 * time.Millisecond
	}
	if g := grade(dry, Video, 0); g[len(g)-1].Grade != Poor || g[len(g)-1].Score != poorAbove {
		t.Errorf("nothing received, reports still coming: %v", g)
	}
	// A second's round trip and jitter do not count: LiveKit's server
	// scores without its scorer's delay term (IncludeRTT, IncludeJitter).
	bloated := q(Video, 0, 0, 0)
	for i := range bloated.Seconds {
		bloated.Seconds[i].RTT, bloated.Seconds[i].Jitter = time.Second, 100*time.Millisecond
	}
	if g := grade(bloated, Video, 0); g[len(g)-1].Grade != Excellent {
		t.Errorf("a clean video with a 1 s round trip: %v", g)
	}
	// A single-layer video at a twentieth of the top bitrate stays
	// excellent while nothing is lost: LiveKit's server has no bitrate
	// term. A simulcast subscription a layer below the highest arriving
	// falls to good, two layers below to poor: 35 points a layer.
	thin := q(Video, 0, 0, 0)
	for i := range thin.Seconds {
		thin.Seconds[i].Bytes = uint64(MaxVideoBitrate / 8 / 20)
	}
	if g := grade(thin, Video, 0); g[len(g)-1].Grade != Excellent {
		t.Errorf("video at 75 kbit/s: %v", g)
	}
	for _, c := range []struct {
		distance float64
		want     Grade
	}{{0, Excellent}, {0.4, Excellent}, {1, Good}, {2, Poor}} {
		below := q(Video, 0, 0, 0)
		for i := range below.Seconds {
			below.Seconds[i].Distance = c.distance
		}
		if g := grade(below, Video, 0); g[len(g)-1].Grade != c.want {
			t.Errorf("%v layers below: %v, want %s", c.distance, g, c.want)
		}
	}
}

// TestLateSendsLostAreNotGraded: a media node forwards a tenth of a
// subscriber's packets late, after the packets that followed them (a
// publisher's retransmissions reaching the node after the rest), and the
// subscriber refuses them (older than its SRTP replay window). They are
// lost to the subscriber and counted so, as sent out of order; LiveKit's
// scorer takes them off the subscriber's loss, and so does the grade. The
// same tenth lost in order is the subscriber's link's loss: poor.
func TestLateSendsLostAreNotGraded(t *testing.T) {
	run := func(late bool) *Quality {
		clock := &fakeClock{}
		f := NewMeter(clock.since).Flow(FlowKey{Owner: "bob", Track: "alice/video", Kind: Video, Direction: Received})
		s := f.Stream(9)
		const perSecond = 100
		size := int(MaxVideoBitrate / 8 / perSecond)
		seq := uint16(65000) // across a wrap
		for sec := range 12 {
			var held []uint16
			for k := range perSecond {
				clock.now = time.Duration(sec)*time.Second + time.Duration(k)*10*time.Millisecond
				lose := sec >= 5 && sec < 10 && k%10 == 0
				switch {
				case lose && late:
					held = append(held, seq)
				case lose:
					s.Sent(seq)
				default:
					s.Sent(seq)
					s.Received(&rtp.Header{SequenceNumber: seq, Timestamp: uint32(clock.now.Seconds() * 90000)}, nil, size)
				}
				seq++
			}
			for _, h := range held {
				s.Sent(h) // forwarded late, refused by the receiver
			}
		}
		return f.stats(FlowKey{Kind: Video}, 12*time.Second).Quality
	}
	for _, late := range []bool{true, false} {
		q := run(late)
		if q.Lost != 50 || q.Seconds[5].Lost != 10 {
			t.Errorf("late %v: lost %d, in second 5 %d; want 50, 10", late, q.Lost, q.Seconds[5].Lost)
		}
		wantLate, wantGrade := uint64(0), Poor
		if late {
			wantLate, wantGrade = 50, Excellent
		}
		if q.LostLate != wantLate || q.Seconds[5].LostLate != wantLate/5 {
			t.Errorf("late %v: lost late %d, in second 5 %d; want %d, %d", late, q.LostLate, q.Seconds[5].LostLate, wantLate, wantLate/5)
		}
		if q.Grade != wantGrade {
			t.Errorf("late %v: grade %s (%v), want %s", late, q.Grade, q.Grades, wantGrade)
		}
	}
}

// TestLayerDistanceIsTheSecondsMean: a second's distance to the desired
// layer is the mean of the samples taken in it; a second without one has
// none.
func TestLayerDistanceIsTheSecondsMean(t *testing.T) {
	clock := &fakeClock{}
	f := NewMeter(clock.since).Flow(FlowKey{Owner: "bob", Track: "alice/video", Kind: Video, Direction: Received})
	s := f.Stream(1)
	for i, d := range []float64{0, 1, 1, -1, 2, 2} { // -1: no sample
		clock.now = time.Duration(i) * 500 * time.Millisecond
		s.Sent(uint16(i))
		s.Received(&rtp.Header{SequenceNumber: uint16(i)}, nil, 1000)
		if d >= 0 {
			f.LayerDistance(d)
		}
	}
	q := f.stats(FlowKey{Kind: Video}, 3*time.Second).Quality
	var got []float64
	for _, sec := range q.Seconds {
		got = append(got, sec.Distance)
	}
	if want := []float64{0.5, 1, 2}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("distances %v, want %v", got, want)
	}
}
