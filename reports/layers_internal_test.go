package reports

import (
	"strings"
	"testing"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/harness/media"
)

// A simulcast subscription's summary says how its layer moved and how
// much padding arrived beside the media; a long call's summary keeps the
// lowest layer of each span, so that a drop to q shows.
func TestSimulcastSummary(t *testing.T) {
	q := harness.Quality{Packets: 100, Sent: 100, Simulcast: true, PaddingPackets: 3, PaddingBytes: 801}
	for i := range 3600 {
		layer := "f"
		switch {
		case i < 3:
			layer = "q"
		case i < 20:
			layer = "h"
		case i >= 1800 && i < 1805:
			layer = "q"
		}
		q.Seconds = append(q.Seconds, media.Second{At: time.Duration(i) * time.Second, Layer: layer})
	}
	s := qualitySummary(&q)
	for _, want := range []string{"simulcast layer forwarded: q from 0 s, h from 3 s, f from 20 s, q from 1800 s, f from 1805 s", "3 packets of padding (801 B, not media)"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary %q lacks %q", s, want)
		}
	}
	short := summariseQuality(q, 120)
	if got := short.LayerCourse(); !strings.Contains(got, "q from 1800 s") {
		t.Errorf("summarised: %q, the drop to q is gone", got)
	}
}
