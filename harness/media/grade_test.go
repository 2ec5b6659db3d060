package media

import (
	"testing"
	"time"

	"github.com/pion/rtp"
)

// Grades follow LiveKit's scorer: a clean stream is excellent; video that
// loses 3% of its packets falls to good, 7% to poor once the blend with
// the score before has caught up (falling fast, rising slowly); a window
// with nothing received is lost; Opus at 2% loss stays excellent, at 3%
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
	// A second's round trip and jitter do not count: LiveKit's server
	// scores without its scorer's delay term (IncludeRTT, IncludeJitter).
	bloated := q(Video, 0, 0, 0)
	for i := range bloated.Seconds {
		bloated.Seconds[i].RTT, bloated.Seconds[i].Jitter = time.Second, 100*time.Millisecond
	}
	if g := grade(bloated, Video, 0); g[len(g)-1].Grade != Excellent {
		t.Errorf("a clean video with a 1 s round trip: %v", g)
	}
	// Video at a twentieth of the top layer's bitrate is poor however
	// clean: LiveKit's bitrate score.
	thin := q(Video, 0, 0, 0)
	for i := range thin.Seconds {
		thin.Seconds[i].Bytes = uint64(MaxVideoBitrate / 8 / 25)
	}
	if g := grade(thin, Video, 0); g[len(g)-1].Grade != Poor {
		t.Errorf("video at 60 kbit/s: %v", g)
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
