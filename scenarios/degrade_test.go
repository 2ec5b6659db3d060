package scenarios_test

import (
	"strings"
	"testing"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/scenarios"
)

// TestDegradedMediaBounds proves media.max_bitrate and media.min_loss are
// read and judged: a policed flow passes them, a whole one fails both,
// and a loss over 100% is rejected at its line.
func TestDegradedMediaBounds(t *testing.T) {
	doc := "name: x\nclients:\n  - name: alice\nexpect:\n  alice:\n    media: {max_bitrate: 1Mbps, min_loss: 30%}\n"
	s, err := scenarios.Parse("guest.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	q := s.Expect["alice"].Quality
	if q.MaxBitrate != 1_000_000 || q.MinLoss == nil || *q.MinLoss != 0.30 {
		t.Fatalf("bounds %+v", q)
	}
	result := func(bps, loss float64) harness.Result {
		return harness.Result{Clients: []harness.ClientResult{{Name: "alice", Media: []harness.Media{{
			Track: "alice/video", Kind: "video", Direction: "at-node",
			Quality: &harness.Quality{Bitrate: bps, LossRate: loss, Packets: 100, Lost: uint64(loss * 100)},
		}}}}}
	}
	if ms := s.Check(result(870e3, 0.41)); len(ms) != 0 {
		t.Errorf("policed flow: %v", ms)
	}
	var fields []string
	for _, m := range s.Check(result(1.5e6, 0)) {
		fields = append(fields, m.Field)
	}
	if strings.Join(fields, ",") != "media.max_bitrate,media.min_loss" {
		t.Errorf("whole flow: mismatches %v, want max_bitrate and min_loss", fields)
	}
	_, err = scenarios.Parse("guest.yaml", []byte(strings.Replace(doc, "30%", "130%", 1)))
	if err == nil || !strings.Contains(err.Error(), "guest.yaml:6: expect.alice.media.min_loss") {
		t.Errorf("min_loss 130%%: error %v", err)
	}
}
