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

// A subscription's summary and loss cell say how many of its lost packets
// the node sent out of order (lost to the receiver, not on its link), and
// a summarised long call keeps their count.
func TestLostLateShown(t *testing.T) {
	q := harness.Quality{Sent: 1000, Packets: 950, Lost: 50, LostLate: 40, LossRate: 0.05}
	for i := range 200 {
		sec := media.Second{At: time.Duration(i) * time.Second}
		if i == 10 {
			sec.Lost, sec.LostLate = 50, 40
		}
		q.Seconds = append(q.Seconds, sec)
	}
	if s := qualitySummary(&q); !strings.Contains(s, "lost 50 (5.0%), 40 of them sent out of order") {
		t.Errorf("summary %q", s)
	}
	if s := lostText(&q); s != "50 (5.0%; 40 sent out of order)" {
		t.Errorf("loss cell %q", s)
	}
	var late uint64
	for _, sec := range summariseQuality(q, 50).Seconds {
		late += sec.LostLate
	}
	if late != 40 {
		t.Errorf("summarised: %d lost late, want 40", late)
	}
	q.LostLate = 0
	if s := qualitySummary(&q); strings.Contains(s, "out of order") {
		t.Errorf("summary %q speaks of packets out of order where none were", s)
	}
}
