package reports_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/icelab/icelab/harness"
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
