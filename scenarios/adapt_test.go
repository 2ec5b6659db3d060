package scenarios_test

import (
	"strings"
	"testing"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/harness/media"
	"github.com/icelab/icelab/scenarios"
)

// TestAdaptBounds proves media.adapts and media.min_freeze are read and
// judged from a publication's per-second encoded bitrate: a sender that
// drops under the bound in time passes, one that drops late or never
// fails with what it encoded, and mistakes are named by line and field.
func TestAdaptBounds(t *testing.T) {
	doc := "name: x\nclients:\n  - name: alice\nexpect:\n  alice:\n    media:\n" +
		"      min_freeze: 1s\n" +
		"      adapts:\n        - {after: 5s, within: 2s, below: 500kbps}\n"
	s, err := scenarios.Parse("drop.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	q := s.Expect["alice"].Quality
	if len(q.Adapts) != 1 || q.Adapts[0].Below != 500_000 || q.Adapts[0].After != 5*time.Second || q.MinFreeze != time.Second {
		t.Fatalf("bounds %+v", q)
	}
	// kbps lists what the sender encoded, second by second.
	result := func(freeze time.Duration, kbps ...int) harness.Result {
		fq := &harness.Quality{Packets: 100, LongestFreeze: freeze, Adaptive: true}
		for i, k := range kbps {
			fq.Seconds = append(fq.Seconds, media.Second{At: time.Duration(i) * time.Second, Encoded: uint64(k * 1000 / 8), Target: uint64(k * 1000)})
		}
		return harness.Result{Clients: []harness.ClientResult{{Name: "alice", Media: []harness.Media{{
			Track: "alice/video", Kind: "video", Direction: "at-node", Quality: fq,
		}}}}}
	}
	if ms := s.Check(result(2*time.Second, 1500, 1500, 1500, 1500, 1500, 1500, 400, 400, 400)); len(ms) != 0 {
		t.Errorf("a sender that adapts in 1 s: %v", ms)
	}
	ms := s.Check(result(0, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 400))
	if len(ms) != 2 || ms[0].Field != "media.min_freeze" || ms[1].Field != "media.adapts" ||
		!strings.Contains(ms[1].Observed, "after 3 s") || !strings.Contains(ms[1].Observed, "1.50 Mbit/s at 5 s") {
		t.Errorf("a sender 3 s late and no freeze: %v", ms)
	}
	if ms := s.Check(result(2*time.Second, 1500, 1500, 1500, 1500, 1500, 1500, 1500)); len(ms) != 1 || !strings.Contains(ms[0].Observed, "never") {
		t.Errorf("a sender that never adapts: %v", ms)
	}
	for _, bad := range []struct{ item, want string }{
		{"{after: 5s, within: 2s}", "drop.yaml:9: expect.alice.media.adapts[0]: want exactly one of below and above"},
		{"{after: 5s, within: 2s, below: 1Mbps, above: 2Mbps}", "drop.yaml:9: expect.alice.media.adapts[0]: want exactly one"},
		{"{within: 2s, below: 1Mbps}", "drop.yaml:9: expect.alice.media.adapts[0].after: missing"},
		{"{after: 5s, below: 1Mbps}", "drop.yaml:9: expect.alice.media.adapts[0].within: missing"},
		{"{after: 5s, within: 2s, below: fast}", "drop.yaml:9: expect.alice.media.adapts[0].below"},
	} {
		_, err := scenarios.Parse("drop.yaml", []byte(strings.Replace(doc, "{after: 5s, within: 2s, below: 500kbps}", bad.item, 1)))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: error %v; want %q", bad.item, err, bad.want)
		}
	}
}

// TestGradeBounds proves max_grade judges the client's grade as LiveKit
// tells the room, the lowest of its flows': a publisher whose video is
// poor at the node meets "poor" though its subscription stays good, and
// fails it when every flow stays good; min_grade judges each flow.
func TestGradeBounds(t *testing.T) {
	doc := "name: x\nclients:\n  - name: alice\nexpect:\n  alice:\n    media:\n      max_grade: poor\n"
	s, err := scenarios.Parse("grade.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	flow := func(track, direction string, g media.Grade) harness.Media {
		return harness.Media{Track: track, Kind: "video", Direction: direction, Quality: &harness.Quality{
			Packets: 100, Grade: g, Grades: []media.Graded{{At: 25 * time.Second, Score: 30, Grade: g}},
		}}
	}
	result := func(ms ...harness.Media) harness.Result {
		return harness.Result{Clients: []harness.ClientResult{{Name: "alice", Media: ms}}}
	}
	if ms := s.Check(result(flow("alice/video", "at-node", media.Poor), flow("bob/video", "received", media.Good))); len(ms) != 0 {
		t.Errorf("a publisher graded poor at the node: %v", ms)
	}
	ms := s.Check(result(flow("alice/video", "at-node", media.Good), flow("bob/video", "received", media.Excellent)))
	if len(ms) != 1 || ms[0].Field != "media.max_grade" || !strings.Contains(ms[0].Observed, "alice/video") ||
		!strings.Contains(ms[0].Observed, "stayed good or better") {
		t.Errorf("every flow good or better: %v", ms)
	}
	if ms := s.Check(result(harness.Media{Track: "alice/video", Kind: "video", Direction: "at-node", Quality: &harness.Quality{Packets: 100}})); len(ms) != 1 ||
		!strings.Contains(ms[0].Observed, "no flow was graded") {
		t.Errorf("no grades: %v", ms)
	}
	s, err = scenarios.Parse("grade.yaml", []byte(strings.Replace(doc, "max_grade: poor", "min_grade: good", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if ms := s.Check(result(flow("alice/video", "at-node", media.Poor), flow("bob/video", "received", media.Good))); len(ms) != 1 || ms[0].Field != "media.min_grade" {
		t.Errorf("min_grade with a flow graded poor: %v", ms)
	}
}
