package reports

import (
	"testing"
	"time"

	"github.com/icelab/icelab/harness/media"
)

// A long call's grade windows are summarised with its seconds, each
// summary the lowest-scored window it stands for: a minute of poor in an
// hour of excellent still shows.
func TestSummarisedGradesKeepTheLowest(t *testing.T) {
	var gs []media.Graded
	for i := range 720 { // an hour of 5 s windows
		g := media.Graded{At: time.Duration(i) * media.GradeWindow, Score: 99, Grade: media.Excellent}
		if i >= 300 && i < 312 {
			g.Score, g.Grade = 35, media.Poor
		}
		gs = append(gs, g)
	}
	out := summariseGrades(gs, 60)
	if len(out) > 60 {
		t.Fatalf("%d windows kept, want at most 60", len(out))
	}
	poor := 0
	for _, g := range out {
		if g.Grade == media.Poor {
			poor++
		}
	}
	if poor == 0 {
		t.Errorf("the poor minute is gone from %v", out)
	}
}
