package media

import (
	"testing"
	"time"
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
