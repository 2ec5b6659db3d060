package reports_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/internal/chromium"
	"github.com/icelab/icelab/reports"
	"github.com/icelab/icelab/scenarios"
)

// htmlRuns are the usual runs plus one whose texts try to inject markup,
// and one with a full timeline.
func htmlRuns() reports.Suite {
	rs := runs()
	hostile := &scenarios.Scenario{Name: "hostile", Report: `<script>document.title="owned"</script><b>bold</b>`}
	rs = append(rs, reports.NewRun(hostile, harness.Result{Name: "hostile", Duration: 30 * time.Second,
		Faults: []harness.AppliedFault{{At: 10 * time.Second, Name: "whack", What: "block UDP at office"}},
		Clients: []harness.ClientResult{{
			Name: "mallory<img src=x>", Transport: harness.ICEUDP, Connected: true, ConnectedAt: 300 * time.Millisecond,
			ICEStates: []harness.StateChange{{At: 100 * time.Millisecond, State: "checking"}, {At: 300 * time.Millisecond, State: "connected"},
				{At: 15 * time.Second, State: "disconnected"}, {At: 40 * time.Second, State: "failed"}},
			PeerConnectionStates: []harness.StateChange{{At: 100 * time.Millisecond, State: "connecting"}, {At: 300 * time.Millisecond, State: "connected"}},
			Attempts:             []harness.Attempt{{At: 50 * time.Millisecond, Why: "initial", Policy: "policy all"}},
			Checks:               []harness.PairCheck{{Local: "host/udp 10.1.0.2:1", Remote: "host/udp 203.0.113.2:2", State: "succeeded", Nominated: true}},
			Failure:              "ICE failed after the whack",
		}},
		Drops: map[string]int{"UDP datagrams dropped by firewall office rule 1 (block-udp)": 40},
	}))
	rs = append(rs, reports.InvalidRun("catalog/broken.yaml", []*scenarios.Error{{File: "catalog/broken.yaml", Line: 7, Field: "clients[0].lan", Msg: "unknown LAN \"ofice\""}}))
	return reports.Suite{Runs: rs, Wall: 3 * time.Second}
}

// TestHTMLEscapesAndDraws checks the page the browser test renders: every
// scenario, its failure reasons and a timeline, with scenario texts escaped.
func TestHTMLEscapesAndDraws(t *testing.T) {
	var b bytes.Buffer
	if err := reports.WriteHTML(&b, htmlRuns()); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{"open", "corp", "later", "hostile", "catalog/broken.yaml:7", "TCP to port 5349 dropped by firewall corp rule 4 (drop-all)",
		`<svg class="timeline"`, `class="state st-connected"`, `class="marker mk-fault"`, "block UDP at office",
		"&lt;script&gt;", "mallory&lt;img src=x&gt;"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	for _, bad := range []string{"<script>", "<img src=x>", "http://", "https://"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page contains %q: it must escape scenario text and fetch nothing", bad)
		}
	}
}

// TestHTMLInChromium renders the report in headless Chromium and checks
// the DOM the browser built: every scenario and client, a failure reason,
// the timeline's SVG elements, and no element injected by scenario text.
func TestHTMLInChromium(t *testing.T) {
	path := filepath.Join(t.TempDir(), reports.HTMLFile)
	var b bytes.Buffer
	if err := reports.WriteHTML(&b, htmlRuns()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	got := chromium.DumpDOM(t, path)
	for _, want := range []string{`id="summary"`, ">open<", ">corp<", ">later<", ">hostile<", ">alice<", "mallory&lt;img src=x&gt;",
		"TCP to port 5349 dropped by firewall corp rule 4 (drop-all)", `<svg class="timeline"`, `class="state st-connected"`,
		`class="marker mk-fault"`} {
		if !strings.Contains(got, want) {
			t.Errorf("Chromium's DOM lacks %q", want)
		}
	}
	if strings.Contains(got, "<title>owned</title>") || strings.Contains(got, "<b>bold</b>") {
		t.Error("scenario text became markup in Chromium's DOM")
	}
}
