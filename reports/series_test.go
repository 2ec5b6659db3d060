package reports_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/harness/media"
	"github.com/icelab/icelab/reports"
	"github.com/icelab/icelab/scenarios"
)

// longCall is a two-client call of d on the node, each client publishing
// audio and video and receiving the other's: every flow and stream has a
// second per second of the call, with some loss and jitter.
func longCall(d time.Duration) reports.Suite {
	secs := int(d / time.Second)
	series := func(rate uint64) harness.Quality {
		q := harness.Quality{Sent: rate * uint64(secs), Packets: rate * uint64(secs), Bitrate: 1.5e6, Jitter: 9 * time.Millisecond}
		for i := range secs {
			lost := uint64(i % 7 / 6)
			q.Seconds = append(q.Seconds, harness.Second{At: time.Duration(i) * time.Second, Sent: rate, Lost: lost,
				Packets: rate - lost, Bytes: (rate - lost) * 1100, Jitter: time.Duration(i%13) * time.Millisecond, RTT: 41 * time.Millisecond})
		}
		return q
	}
	res := harness.Result{Name: "long call", Clock: harness.FakeClock, Duration: d}
	for _, name := range []string{"alice", "bob"} {
		other := map[string]string{"alice": "bob", "bob": "alice"}[name]
		c := harness.ClientResult{Name: name, Transport: harness.ICEUDP, Connected: true, ConnectedAt: 300 * time.Millisecond}
		for _, f := range []struct{ track, kind, dir string }{
			{name + "/audio", "audio", "at-node"}, {name + "/video", "video", "at-node"},
			{other + "/audio", "audio", "received"}, {other + "/video", "video", "received"},
		} {
			rate := uint64(50)
			if f.kind == "video" {
				rate = 180
			}
			q := series(rate)
			c.Media = append(c.Media, harness.Media{Track: f.track, Kind: f.kind, Direction: f.dir, Sent: q.Sent, Packets: q.Packets,
				Quality: &q, Streams: []harness.StreamStats{{SSRC: 0x1a2b3c4d, Quality: series(rate)}}})
		}
		res.Clients = append(res.Clients, c)
	}
	sc := &scenarios.Scenario{Name: "long-call", Report: "a 60-minute two-client call"}
	return reports.Suite{Runs: []reports.Run{reports.NewRun(sc, res)}, Wall: time.Minute}
}

// TestLongCallReportsStaySmall checks that a 60-minute two-client call
// writes JSON and HTML reports of at most 2 MB each, its series
// summarised, and that FullSeries keeps every second.
func TestLongCallReportsStaySmall(t *testing.T) {
	const limit = 2 << 20
	suite := longCall(time.Hour)
	sizes := map[string]int{}
	for _, full := range []bool{false, true} {
		s := suite
		s.FullSeries = full
		var js, page bytes.Buffer
		if err := reports.WriteJSON(&js, s); err != nil {
			t.Fatal(err)
		}
		if err := reports.WriteHTML(&page, s); err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Runs []struct {
				Result struct {
					Clients []struct {
						Media []struct {
							Quality struct {
								Seconds []struct {
									At      float64
									Sent    uint64
									Packets uint64
								}
								Step float64
							}
							Streams []struct {
								Quality struct {
									Seconds []any
								}
							}
						}
					}
				}
			}
		}
		if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		q := doc.Runs[0].Result.Clients[0].Media[1].Quality
		if n := len(doc.Runs[0].Result.Clients[0].Media[1].Streams[0].Quality.Seconds); full != (n > 0) {
			t.Errorf("full %t: the flow's only stream has %d entries of its own, want them only with FullSeries (they repeat the flow's)", full, n)
		}
		var sent uint64
		for _, s := range q.Seconds {
			sent += s.Sent
		}
		if sent != 180*3600 {
			t.Errorf("full %t: the video series sums to %d packets sent, want %d", full, sent, 180*3600)
		}
		if full {
			if len(q.Seconds) != 3600 || q.Step != 0 {
				t.Errorf("FullSeries: %d entries of step %g s, want 3600 seconds", len(q.Seconds), q.Step)
			}
			sizes["full json"], sizes["full html"] = js.Len(), page.Len()
			continue
		}
		if len(q.Seconds) > reports.MaxSeriesPoints || q.Step != 15 || q.Seconds[1].At != 15 {
			t.Errorf("summarised: %d entries of step %g s (second at %g s), want at most %d of 15 s", len(q.Seconds), q.Step, q.Seconds[1].At, reports.MaxSeriesPoints)
		}
		if js.Len() > limit || page.Len() > limit {
			t.Errorf("a 60-minute call wrote %d bytes of JSON and %d of HTML, want at most %d each", js.Len(), page.Len(), limit)
		}
		if !bytes.Contains(page.Bytes(), []byte("pkt per 15 s")) {
			t.Errorf("the HTML charts do not say their bars are 15 s each")
		}
		sizes["json"], sizes["html"] = js.Len(), page.Len()
	}
	if n := len(suite.Runs[0].Result.Clients[0].Media[1].Quality.Seconds); n != 3600 {
		t.Errorf("writing the reports changed the result: %d seconds left, want 3600", n)
	}
	t.Logf("a 60-minute two-client call: %v bytes", sizes)
}

// room is a call of n clients (at least 5) on the node for d, each publishing audio and
// video and receiving everyone else's, every flow with a second per second.
// Three flows are worse off than the rest: bob receives nothing of carol's
// video, dave's audio from alice is graded poor, and erin's video from bob
// froze for 4 s.
func room(n int, d time.Duration) reports.Suite {
	secs := int(d / time.Second)
	series := func(rate uint64) harness.Quality {
		q := harness.Quality{Sent: rate * uint64(secs), Packets: rate * uint64(secs), Bitrate: 1.5e6,
			Grades: []media.Graded{{Score: 90, Grade: "excellent"}}}
		for i := range secs {
			q.Seconds = append(q.Seconds, harness.Second{At: time.Duration(i) * time.Second, Sent: rate, Packets: rate, Bytes: rate * 1100})
		}
		return q
	}
	// The five come last, so that the result's order alone would not
	// put their flows first.
	var names []string
	for i := 5; i < n; i++ {
		names = append(names, fmt.Sprintf("c%02d", i))
	}
	names = append(names, "alice", "bob", "carol", "dave", "erin")
	res := harness.Result{Name: "room", Clock: harness.FakeClock, Duration: d}
	for _, name := range names {
		c := harness.ClientResult{Name: name, Transport: harness.ICEUDP, Connected: true}
		for _, from := range names {
			if from == name {
				continue
			}
			for _, kind := range []string{"audio", "video"} {
				q := series(50)
				switch {
				case name == "bob" && from == "carol" && kind == "video":
					q = harness.Quality{Sent: q.Sent, NothingReceived: true}
				case name == "dave" && from == "alice" && kind == "audio":
					q.Grades = []media.Graded{{Score: 20, Grade: "poor"}}
				case name == "erin" && from == "bob" && kind == "video":
					q.LongestFreeze = 4 * time.Second
				}
				st := q
				c.Media = append(c.Media, harness.Media{Track: from + "/" + kind, Kind: kind, Direction: "received",
					Sent: q.Sent, Packets: q.Packets, Quality: &q, Streams: []harness.StreamStats{{SSRC: 1, Quality: st}}})
			}
		}
		res.Clients = append(res.Clients, c)
	}
	sc := &scenarios.Scenario{Name: "room", Report: "a room"}
	return reports.Suite{Runs: []reports.Run{reports.NewRun(sc, res)}, Wall: time.Minute}
}

// TestRoomReportsKeepTheWorstSeries checks that a room with more series
// than a run's budget holds keeps them for the flows worst off only, says
// so, keeps every flow's figures, and keeps every series with FullSeries.
func TestRoomReportsKeepTheWorstSeries(t *testing.T) {
	suite := room(24, 30*time.Second) // 1,104 flows, 2,208 series
	write := func(s reports.Suite) (js, page []byte) {
		var j, h bytes.Buffer
		if err := reports.WriteJSON(&j, s); err != nil {
			t.Fatal(err)
		}
		if err := reports.WriteHTML(&h, s); err != nil {
			t.Fatal(err)
		}
		return j.Bytes(), h.Bytes()
	}
	js, page := write(suite)
	var doc struct {
		Runs []struct {
			Series string
			Result struct {
				Clients []struct {
					Name  string
					Media []struct {
						Track   string
						Kind    string
						Quality struct {
							Seconds         []any
							Sent, Packets   uint64
							Bitrate         float64
							NothingReceived bool `json:"nothing_received"`
						}
					}
				}
			}
		}
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatal(err)
	}
	run := doc.Runs[0]
	if !strings.Contains(run.Series, "of the run's 1104 flows") {
		t.Errorf("the run's series note is %q, want one naming the 1104 flows", run.Series)
	}
	kept := 0
	for _, c := range run.Result.Clients {
		for _, m := range c.Media {
			q := m.Quality
			if q.Sent == 0 {
				t.Errorf("%s %s: its figures are gone", c.Name, m.Track)
			}
			if len(q.Seconds) > 0 {
				kept++
				if len(q.Seconds) > reports.MinSeriesPoints {
					t.Errorf("%s %s: %d entries, want at most %d", c.Name, m.Track, len(q.Seconds), reports.MinSeriesPoints)
				}
			}
			worse := (c.Name == "bob" && m.Track == "carol/video") || (c.Name == "dave" && m.Track == "alice/audio") ||
				(c.Name == "erin" && m.Track == "bob/video")
			if worse && len(q.Seconds) == 0 && !q.NothingReceived {
				t.Errorf("%s %s, one of the flows worst off, lost its series", c.Name, m.Track)
			}
		}
	}
	if want := reports.RunSeriesPoints / reports.MinSeriesPoints / 2; kept != want-1 && kept != want {
		t.Errorf("%d flows kept their series, want the budget's %d (two series each, one flow with none received)", kept, want)
	}
	if !bytes.Contains(page, []byte("of the run&#39;s 1104 flows")) {
		t.Errorf("the HTML page does not say which flows have charts")
	}
	if n := bytes.Count(page, []byte("<figure")); n > reports.RunSeriesPoints/reports.MinSeriesPoints {
		t.Errorf("%d charts in the HTML page, want at most %d", n, reports.RunSeriesPoints/reports.MinSeriesPoints)
	}
	again, _ := write(suite)
	if !bytes.Equal(js, again) {
		t.Errorf("the same room wrote different JSON twice")
	}
	full := suite
	full.FullSeries = true
	fullJS, fullPage := write(full)
	if bytes.Contains(fullJS, []byte(`"series"`)) || bytes.Count(fullPage, []byte("<figure")) != 2*552-1 {
		t.Errorf("FullSeries: a series note, or %d charts, want every stream's with seconds, %d", bytes.Count(fullPage, []byte("<figure")), 2*552-1)
	}
	t.Logf("a 24-client room: JSON %d bytes (%d with every series), HTML %d (%d)", len(js), len(fullJS), len(page), len(fullPage))
}
