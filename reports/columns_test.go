package reports_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/reports"
	"github.com/icelab/icelab/scenarios"
)

// TestColumnsTellTheTruth checks the summary of a call that ran on ICE/UDP
// and died: the transport column says what carried it and when it was
// lost, media shows the outage, the node's side of the pair is shown, and
// recovery gives the outage a user heard beside the ICE-state figure.
func TestColumnsTellTheTruth(t *testing.T) {
	pair := &harness.Pair{Local: harness.Candidate{Type: "host", Protocol: "udp", Address: "203.0.113.3:50000"},
		Remote: harness.Candidate{Type: "prflx", Protocol: "udp", Address: "203.0.113.9:40000"}}
	died := harness.ClientResult{Name: "alice", Transport: harness.ICEUDP, LostAt: 16500 * time.Millisecond,
		NodeSelected: pair, FailedAt: 16500 * time.Millisecond, Failure: "connected at 0.3 s over ICE/UDP, lost at 16.5 s",
		Outages: []harness.Outage{{Start: 10 * time.Second, End: 40 * time.Second, Ongoing: true}}}
	recovered := harness.ClientResult{Name: "bob", Transport: harness.ICEUDP, Connected: true,
		FailedAt: 12 * time.Second, Recovered: true, RecoveredAt: 14 * time.Second, MediaBothWays: true,
		Outages: []harness.Outage{{Start: 6 * time.Second, End: 14 * time.Second}},
		Media: []harness.Media{{Track: "bob/audio", Kind: "audio", Direction: "at-node", Packets: 1500,
			Quality: &harness.Quality{Packets: 1500, Lost: 30, LossRate: 0.0196, RTTMean: 82 * time.Millisecond, Jitter: 4 * time.Millisecond, LongestFreeze: 8 * time.Second}}}}
	s := &scenarios.Scenario{Name: "whack", Expect: map[string]scenarios.Expectation{}}
	suite := reports.Suite{Runs: []reports.Run{reports.NewRun(s, harness.Result{Name: "whack", Clock: harness.FakeClock, Duration: 40 * time.Second,
		Clients: []harness.ClientResult{died, recovered}})}}
	var b bytes.Buffer
	if err := reports.WriteMarkdown(&b, suite); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"ICE/UDP, lost at 16.5 s",
		"host/udp 203.0.113.3:50000 ← prflx/udp 203.0.113.9:40000",
		"no; outages 10.0 s to the end (40.0 s)",
		"| 16.50s |",
		"yes, media back after 8.00s, connected again 2.00s after the failure was detected",
		"loss 2.0%, jitter 4 ms, rtt 82 ms, freeze 8.0s",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the summary lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "| alice | none |") {
		t.Error("a call that ran and died reads as transport none")
	}
}
