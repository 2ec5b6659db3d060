package scenarios_test

import (
	"strings"
	"testing"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/harness/media"
	"github.com/icelab/icelab/scenarios"
)

// TestLayerBounds reads media.layer and judges subscriptions with it: a
// subscriber held at q from 10 s meets "max: q" and fails "min: f" with
// the seconds and the course of its layer; a subscription to a
// publication without simulcast is not judged, and a client with none
// fails; every mistake names file, line and field.
func TestLayerBounds(t *testing.T) {
	doc := "name: x\nclients:\n  - name: carol\nexpect:\n  carol:\n    media:\n      layer: {after: 10s, max: q}\n"
	s, err := scenarios.Parse("layers.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if b := s.Expect["carol"].Quality.Layer; b == nil || b.Max != "q" || b.After != 10*time.Second {
		t.Fatalf("bound %+v", b)
	}
	// layers lists the layer forwarded, second by second.
	result := func(simulcast bool, layers ...string) harness.Result {
		fq := &harness.Quality{Packets: 100, Simulcast: simulcast}
		for i, l := range layers {
			fq.Seconds = append(fq.Seconds, media.Second{At: time.Duration(i) * time.Second, Layer: l})
		}
		return harness.Result{Clients: []harness.ClientResult{{Name: "carol", Media: []harness.Media{{
			Track: "alice/video", Kind: "video", Direction: "received", Quality: fq,
		}}}}}
	}
	held := []string{"f", "f", "f", "f", "f", "f", "f", "f", "none", "q", "q", "q", "q"}
	if ms := s.Check(result(true, held...)); len(ms) != 0 {
		t.Errorf("held at q from 9 s: %v", ms)
	}
	ms := s.Check(result(true, "f", "f", "f", "f", "f", "f", "f", "f", "f", "f", "f", "h", "q"))
	if len(ms) != 1 || ms[0].Field != "media.layer" || !strings.Contains(ms[0].Observed, "f at 10 s") ||
		!strings.Contains(ms[0].Observed, "f from 0 s, h from 11 s, q from 12 s") {
		t.Errorf("at f until 11 s: %v", ms)
	}
	if ms := s.Check(result(false, held...)); len(ms) != 1 || !strings.Contains(ms[0].Observed, "no subscription to a simulcast publication") {
		t.Errorf("no simulcast subscription: %v", ms)
	}
	for _, bad := range []struct{ item, want string }{
		{"{after: 10s}", "layers.yaml:7: expect.carol.media.layer: want exactly one of min and max"},
		{"{after: 10s, min: f, max: q}", "layers.yaml:7: expect.carol.media.layer: want exactly one"},
		{"{after: 10s, max: x}", "layers.yaml:7: expect.carol.media.layer.max"},
		{"{after: soon, max: q}", "layers.yaml:7: expect.carol.media.layer.after"},
	} {
		_, err := scenarios.Parse("layers.yaml", []byte(strings.Replace(doc, "{after: 10s, max: q}", bad.item, 1)))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want %q", bad.item, err, bad.want)
		}
	}
}
