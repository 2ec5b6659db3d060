package reports_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/internal/chromium"
	"github.com/icelab/icelab/reports"
	"github.com/icelab/icelab/scenarios"
)

// The tests in this file check what the human-readable reports show
// against the Result they show: a failure a passing run expected reads as
// part of the pass, each reason is printed once, the pairs tried are shown
// per attempt, each candidate has one label, media is sent against
// received (and "nothing received" has no loss figure), and each stream
// has its own chart on an axis its own sender sets.

const (
	// relayAddr is alice's TURN/TLS relay candidate: she labels it
	// relay/udp(tls); the node sees only relay/udp.
	relayAddr = "203.0.113.3:30001"
	// carolFailure is carol's failure: a headline, then the evidence,
	// which quotes her gather error.
	carolFailure = "ICE never connected: no candidate pair succeeded; pion: Failed to connect to relay: x509: certificate has expired; STUN datagrams dropped by firewall corp rule 4 (drop-all) (23)"
	carolGather  = "Failed to connect to relay: x509: certificate has expired"
)

// secondsOf is n seconds of a stream that sends rate packets a second from
// second from to second to (exclusive), all received but for lost in each.
func secondsOf(n, from, to int, rate, lost uint64) []harness.Second {
	out := make([]harness.Second, n)
	for i := range out {
		out[i].At = time.Duration(i) * time.Second
		if i >= from && i < to {
			out[i].Sent, out[i].Packets, out[i].Lost = rate, rate-lost, lost
		}
	}
	return out
}

// glance is a three-client fallback call: alice falls back from ICE/UDP to
// TURN/TLS on a new peer connection, so her audio reaches the node as two
// streams, the second arriving in a burst as her TCP connection catches
// up; bob receives her audio, and received nothing of carol's; carol never
// connects, as the scenario expects (pass) or does not (fail).
func glance(expectCarolToFail bool) reports.Run {
	tlsRelay := harness.Candidate{Type: "relay", Protocol: "udp", Address: relayAddr, RelayProtocol: "tls"}
	nodeHost := harness.Candidate{Type: "host", Protocol: "udp", Address: "203.0.113.3:50000"}
	first := secondsOf(40, 0, 10, 50, 0)
	second := secondsOf(40, 14, 40, 50, 0)
	second[14].Packets = 200 // the TCP connection's queue, all at once
	stream1 := harness.StreamStats{SSRC: 0x1111, First: 0, Last: 10 * time.Second,
		Quality: harness.Quality{Seconds: first, Sent: 500, Packets: 500, Jitter: 3 * time.Millisecond}}
	stream2 := harness.StreamStats{SSRC: 0x2222, First: 14 * time.Second, Last: 40 * time.Second,
		Quality: harness.Quality{Seconds: second, Sent: 1300, Packets: 1297, Lost: 3, LossRate: 0.0023, Jitter: 9 * time.Millisecond}}
	flow := secondsOf(40, 0, 40, 0, 0)
	for i := range flow {
		for _, s := range [][]harness.Second{first, second} {
			flow[i].Sent += s[i].Sent
			flow[i].Packets += s[i].Packets
			flow[i].Lost += s[i].Lost
		}
	}
	alice := harness.ClientResult{Name: "alice", Signalling: true, Transport: harness.TURNTLS, Connected: true, MediaBothWays: true, MediaFlowingAtEnd: true,
		Recovered: true, FailedAt: 12 * time.Second, RecoveredAt: 14 * time.Second,
		Selected:        &harness.Pair{Local: tlsRelay, Remote: nodeHost},
		NodeSelected:    &harness.Pair{Local: nodeHost, Remote: harness.Candidate{Type: "relay", Protocol: "udp", Address: relayAddr}},
		LocalCandidates: []harness.Candidate{{Type: "host", Protocol: "udp", Address: "10.1.0.2:40000"}, tlsRelay},
		Attempts: []harness.Attempt{
			{At: 100 * time.Millisecond, Why: "initial", Policy: "policy all", Node: "media", Connected: true,
				Selected: &harness.Pair{Local: harness.Candidate{Type: "host", Protocol: "udp", Address: "10.1.0.2:40000"}, Remote: nodeHost},
				Checks:   []harness.PairCheck{{Local: "host/udp 10.1.0.2:40000", Remote: "host/udp 203.0.113.3:50000", State: "succeeded", Nominated: true}}},
			{At: 12 * time.Second, Why: "ice failed: reconnect relay-only over TURN/TLS", Policy: "policy relay", Node: "media", Connected: true,
				Selected: &harness.Pair{Local: tlsRelay, Remote: nodeHost},
				Checks:   []harness.PairCheck{{Local: "relay/udp(tls) " + relayAddr, Remote: "host/udp 203.0.113.3:50000", State: "succeeded", Nominated: true}}},
		},
		Media: []harness.Media{{Track: "alice/audio", Kind: "audio", Direction: "at-node", Sent: 1800, Packets: 1797,
			Quality: &harness.Quality{Seconds: flow, Sent: 1800, Packets: 1797, Lost: 3, LossRate: 0.0017, Jitter: 9 * time.Millisecond},
			Streams: []harness.StreamStats{stream1, stream2}}},
	}
	alice.Checks = alice.Attempts[1].Checks
	bob := harness.ClientResult{Name: "bob", Signalling: true, Transport: harness.ICEUDP, Connected: true, MediaBothWays: true, MediaFlowingAtEnd: true,
		Media: []harness.Media{
			{Track: "alice/audio", Kind: "audio", Direction: "received", Sent: 1790, Packets: 1781,
				Quality: &harness.Quality{Sent: 1790, Packets: 1781, Lost: 9, LossRate: 0.005}},
			{Track: "carol/audio", Kind: "audio", Direction: "received", Sent: 1500,
				Quality: &harness.Quality{Sent: 1500, NothingReceived: true}},
			{Track: "bob/data", Kind: "data", Direction: "at-node", Sent: 400, Packets: 398},
		}}
	carol := harness.ClientResult{Name: "carol", Signalling: true, Transport: harness.NoTransport, FailedAt: 30 * time.Second,
		Failure: carolFailure, GatherErrors: []string{carolGather, "failed to allocate on TURN client 203.0.113.3:3478"},
		ICEStates: []harness.StateChange{{State: "checking"}, {At: 30 * time.Second, State: "failed"}},
		Attempts:  []harness.Attempt{{At: 100 * time.Millisecond, Why: "initial", Policy: "policy all", Node: "media"}}}
	expect := map[string]scenarios.Expectation{"alice": {Recovered: ptr(true)}, "carol": {Connected: ptr(!expectCarolToFail)}}
	if expectCarolToFail {
		expect["carol"] = scenarios.Expectation{Connected: ptr(false), FailureContains: "x509"}
	}
	s := &scenarios.Scenario{Name: "fallback", File: "catalog/fallback.yaml", Expect: expect,
		Spec: harness.Spec{Clients: []harness.ClientSpec{{Name: "alice"}, {Name: "bob"}, {Name: "carol"}}}}
	return reports.NewRun(s, harness.Result{Name: "fallback", Clock: harness.FakeClock, Duration: 40 * time.Second,
		Clients: []harness.ClientResult{alice, bob, carol}})
}

func writeAll(t *testing.T, s reports.Suite) (html, md, text string) {
	t.Helper()
	var h, m, j bytes.Buffer
	for _, w := range []struct {
		buf   *bytes.Buffer
		write func(*bytes.Buffer, reports.Suite) error
	}{
		{&h, func(b *bytes.Buffer, s reports.Suite) error { return reports.WriteHTML(b, s) }},
		{&m, func(b *bytes.Buffer, s reports.Suite) error { return reports.WriteMarkdown(b, s) }},
		{&j, func(b *bytes.Buffer, s reports.Suite) error { return reports.WriteJUnit(b, s) }},
	} {
		if err := w.write(w.buf, s); err != nil {
			t.Fatal(err)
		}
	}
	return h.String(), m.String(), j.String()
}

// section is the part of an HTML page about one client.
func section(t *testing.T, page, client string) string {
	t.Helper()
	i := strings.Index(page, `data-client="`+client+`"`)
	if i < 0 {
		t.Fatalf("no section for %s", client)
	}
	end := strings.Index(page[i:], `<div class="client"`)
	if end < 0 {
		end = strings.Index(page[i:], "</section>")
	}
	return page[i : i+end]
}

// TestExpectedFailuresReadAsPasses renders a run that expected carol's
// failure and one that did not in Chromium, and reads the colour the
// browser gives each failure text: the failure orange only in the run that
// failed, the pass's colour and a tick in the one that passed.
func TestExpectedFailuresReadAsPasses(t *testing.T) {
	pass, fail := glance(true), glance(false)
	fail.Scenario.Name = "fallback-unmet"
	if pass.Verdict() != reports.Pass || fail.Verdict() != reports.Fail {
		t.Fatalf("verdicts %s, %s; want PASS, FAIL", pass.Verdict(), fail.Verdict())
	}
	var b bytes.Buffer
	if err := reports.WriteHTML(&b, reports.Suite{Runs: []reports.Run{pass, fail}}); err != nil {
		t.Fatal(err)
	}
	// A script the report never has, added here: the browser writes each
	// failure text's computed colour into the DOM it dumps.
	page := strings.Replace(b.String(), "</body>", `<script>
for (const el of document.querySelectorAll(".reason")) {
  if (el.textContent.trim() !== "") el.setAttribute("data-color", getComputedStyle(el).color);
}
</script></body>`, 1)
	path := filepath.Join(t.TempDir(), reports.HTMLFile)
	if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	dom := chromium.DumpDOM(t, path)
	const orange = "rgb(213, 94, 0)"
	reason := regexp.MustCompile(`<(td|p) class="reason reason-(\w+)"[^>]*data-color="([^"]+)"[^>]*>(.*?)</(td|p)>`)
	found := map[string]int{}
	for _, m := range reason.FindAllStringSubmatch(dom, -1) {
		kind, colour, text := m[2], m[3], m[4]
		if !strings.Contains(text, "ICE never connected") {
			t.Errorf("a reason that is not carol's: %q", text)
			continue
		}
		found[kind]++
		switch kind {
		case "expected":
			if colour == orange || !strings.Contains(text, "✔") {
				t.Errorf("an expected failure reads as a failure (colour %s): %q", colour, text)
			}
		case "unmet":
			if colour != orange {
				t.Errorf("an unmet run's failure has colour %s, want the failure orange %s: %q", colour, orange, text)
			}
		default:
			t.Errorf("carol's failure reads as %q", kind)
		}
	}
	// Each run shows carol's failure twice: its headline in the grid, in
	// full in her section.
	if found["expected"] != 2 || found["unmet"] != 2 {
		t.Errorf("failure texts by kind %v, want 2 expected (the pass) and 2 unmet (the fail)\n%s", found, dom)
	}
	if !strings.Contains(dom, "Failed, as expected:") {
		t.Error("the passing run does not say carol failed as expected")
	}
}

// TestOneReasonOnce checks that carol's failure is printed in full once in
// each human-readable report, that the summary grid shows its headline
// only, that a mismatch about it points to it instead of quoting it, and
// that the gather error it quotes is not listed again.
func TestOneReasonOnce(t *testing.T) {
	for _, expect := range []bool{true, false} {
		html, md, junit := writeAll(t, reports.Suite{Runs: []reports.Run{glance(expect)}})
		for name, text := range map[string]string{"html": html, "markdown": md, "junit": junit} {
			want := 1
			if name == "junit" && !expect {
				// An unmet run's case repeats its details in <failure>
				// beside <system-out>, and its message quotes the
				// mismatches in full: the only text many CI views show.
				want = 3
			}
			if n := strings.Count(text, carolFailure); n != want {
				t.Errorf("expect=%v %s: carol's failure printed %d times, want %d", expect, name, n, want)
			}
		}
		if n := strings.Count(html, carolGather); n != 1 {
			t.Errorf("expect=%v: the gather error her failure quotes appears %d times in the page, want once", expect, n)
		}
		if !strings.Contains(html, "failed to allocate on TURN client 203.0.113.3:3478") {
			t.Error("a gather error the failure does not quote is missing")
		}
		grid := html[strings.Index(html, `id="summary"`):strings.Index(html, `<section class="scenario"`)]
		if !strings.Contains(grid, "ICE never connected: no candidate pair succeeded<") || strings.Contains(grid, "x509") {
			t.Errorf("expect=%v: the grid shows more than the headline:\n%s", expect, grid)
		}
		if !expect && !strings.Contains(html, "false (see carol&#39;s failure)") {
			t.Errorf("the mismatch does not point to carol's failure")
		}
		if reasons := strings.Join(glance(expect).Reasons(), "\n"); strings.Count(reasons, carolFailure) != map[bool]int{true: 0, false: 1}[expect] {
			t.Errorf("expect=%v: the terminal's reasons quote carol's failure %d times:\n%s", expect, strings.Count(reasons, carolFailure), reasons)
		}
	}
}

// TestPairsPerAttempt checks that each of alice's attempts lists the pairs
// it tried, under its own heading, in HTML and Markdown.
func TestPairsPerAttempt(t *testing.T) {
	run := glance(true)
	html, md, _ := writeAll(t, reports.Suite{Runs: []reports.Run{run}})
	alice := section(t, html, "alice")
	for i, a := range run.Result.Client("alice").Attempts {
		table := regexp.MustCompile(`(?s)<table class="pairs" data-attempt="` + strconv.Itoa(i+1) + `">(.*?)</table>`).FindStringSubmatch(alice)
		if table == nil {
			t.Fatalf("attempt %d has no table of pairs", i+1)
		}
		rows := strings.Count(table[1], "<tr><td>")
		if rows != len(a.Checks) {
			t.Errorf("attempt %d: %d rows, want its %d pairs", i+1, rows, len(a.Checks))
		}
		for _, c := range a.Checks {
			if !strings.Contains(table[1], "<td>"+c.Local+"</td><td>"+c.Remote+"</td><td>"+c.State+"</td>") {
				t.Errorf("attempt %d lacks its pair %s -> %s", i+1, c.Local, c.Remote)
			}
		}
		if !strings.Contains(alice, fmt.Sprintf("Attempt %d at %.2f s: %s", i+1, a.At.Seconds(), a.Why)) {
			t.Errorf("attempt %d has no heading", i+1)
		}
		if !strings.Contains(md, fmt.Sprintf("- attempt %d at %.2fs: %s", i+1, a.At.Seconds(), a.Why)) {
			t.Errorf("markdown lacks attempt %d:\n%s", i+1, md)
		}
		for _, c := range a.Checks {
			if !strings.Contains(md, fmt.Sprintf("  - `pair %s -> %s: %s, nominated`", c.Local, c.Remote, c.State)) {
				t.Errorf("markdown lacks attempt %d's pair %s", i+1, c.Local)
			}
		}
	}
}

// TestPairsNotRecorded checks that an attempt without pairs says why
// rather than "none": pion forgets its pairs when ICE fails (carol), and
// an ICE restart, or a LiveKit resume, clears the record of the attempt
// before it.
func TestPairsNotRecorded(t *testing.T) {
	run := glance(true)
	html, md, _ := writeAll(t, reports.Suite{Runs: []reports.Run{run}})
	failed := "ot recorded: pion forgets its candidate pairs when ICE fails, before the end of the call, when they are read"
	if !strings.Contains(section(t, html, "carol"), "<p class=\"no-pairs\">N"+failed+".</p>") || !strings.Contains(md, "- attempt 1 at 0.10s: initial [policy all]; pairs tried: n"+failed) {
		t.Errorf("carol's attempt does not say why it lists no pairs")
	}
	restarted := run.Result.Client("alice")
	restarted.Attempts[1].Why = "ice failed: ICE restart 1"
	restarted.Attempts[0].Checks = nil
	html, _, _ = writeAll(t, reports.Suite{Runs: []reports.Run{run}})
	if !strings.Contains(section(t, html, "alice"), "Not recorded: the ICE restart that followed cleared pion&#39;s record of them.") {
		t.Errorf("an attempt whose pairs an ICE restart cleared does not say so")
	}
	restarted.Attempts[1].Why = "resume after: the node asked it to resume: its peer connection failed"
	html, _, _ = writeAll(t, reports.Suite{Runs: []reports.Run{run}})
	if !strings.Contains(section(t, html, "alice"), "Not recorded: the ICE restart that followed cleared pion&#39;s record of them.") {
		t.Errorf("an attempt whose pairs a LiveKit resume (an ICE restart) cleared does not say so")
	}
}

// TestOneLabelPerCandidate checks that alice's TLS relay candidate, which
// the node sees as a plain relay/udp candidate, reads relay/udp(tls)
// everywhere it is shown.
func TestOneLabelPerCandidate(t *testing.T) {
	html, md, junit := writeAll(t, reports.Suite{Runs: []reports.Run{glance(true)}})
	label := regexp.MustCompile(`relay/udp(\(tls\))? ` + regexp.QuoteMeta(relayAddr))
	for name, text := range map[string]string{"html": html, "markdown": md, "junit": junit} {
		seen := label.FindAllString(text, -1)
		if len(seen) == 0 {
			t.Errorf("%s never shows the relay candidate", name)
		}
		for _, l := range seen {
			if l != "relay/udp(tls) "+relayAddr {
				t.Errorf("%s labels the relay candidate %q", name, l)
			}
		}
	}
	// The node's side of the pair, in the Markdown grid.
	if !strings.Contains(md, "host/udp 203.0.113.3:50000 ← relay/udp(tls) "+relayAddr) {
		t.Errorf("the node's side does not label the candidate as alice does:\n%s", md)
	}
}

// TestMediaSentAgainstReceived checks each flow reads as sent against
// received, a flow that received nothing says so and carries no loss
// figure, and a flow of two streams gets a row and a chart per stream.
func TestMediaSentAgainstReceived(t *testing.T) {
	run := glance(true)
	html, md, junit := writeAll(t, reports.Suite{Runs: []reports.Run{run}})
	bob := section(t, html, "bob")
	for _, m := range run.Result.Client("bob").Media {
		row := regexp.MustCompile(`<tr><td>` + regexp.QuoteMeta(m.Track+" "+m.Direction) + `</td><td>(\d+)</td><td>(\d+)</td><td[^>]*>([^<]*)</td>`).FindStringSubmatch(bob)
		if row == nil {
			t.Fatalf("bob's page has no row for %s", m.Track)
		}
		if row[1] != fmt.Sprint(m.Sent) || row[2] != fmt.Sprint(m.Packets) {
			t.Errorf("%s: the row says sent %s, received %s; the result %d and %d", m.Track, row[1], row[2], m.Sent, m.Packets)
		}
		if m.Quality != nil && m.Quality.NothingReceived && row[3] != "nothing received" {
			t.Errorf("%s received nothing, the row says %q", m.Track, row[3])
		}
	}
	for name, text := range map[string]string{"markdown": md, "junit": junit} {
		for _, want := range []string{
			"alice/audio received: sent 1790, received 1781, lost 9 (0.5%)",
			"carol/audio received: sent 1500, nothing received",
			"bob/data at-node: sent 400 messages, received 398",
			"stream 2 of 2 (SSRC 0x00002222), 14.0 s to 40.0 s: sent 1300, received 1297, lost 3 (0.2%)",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %q", name, want)
			}
		}
		if regexp.MustCompile(`carol/audio received[^\n]*%`).MatchString(text) {
			t.Errorf("%s gives a flow that received nothing a loss figure", name)
		}
	}
	if !strings.Contains(md, "nothing received on carol/audio received (sent 1500)") {
		t.Errorf("the grid's quality column hides that nothing was received:\n%s", md)
	}
	alice := section(t, html, "alice")
	if n := strings.Count(alice, `<tr class="stream">`); n != 2 {
		t.Errorf("alice's audio has %d stream rows, want 2", n)
	}
	if n := strings.Count(alice, `<svg class="chart"`); n != 2 {
		t.Errorf("alice's audio has %d charts, want one per stream (2)", n)
	}
}

// TestChartsOnTheirStreamsAxis checks each stream's chart is scaled to what
// its sender sent (50 packets a second, so the axis tops at 63), not to
// the burst of 200 packets that arrived in one second after the
// reconnect, which is drawn to the top and marked clipped; and that no
// bar leaves its chart.
func TestChartsOnTheirStreamsAxis(t *testing.T) {
	html, _, _ := writeAll(t, reports.Suite{Runs: []reports.Run{glance(true)}})
	alice := section(t, html, "alice")
	charts := regexp.MustCompile(`(?s)<svg class="chart"[^>]*data-axis="(\d+) pkt/s">(.*?)</svg>`).FindAllStringSubmatch(alice, -1)
	if len(charts) != 2 {
		t.Fatalf("%d charts, want 2", len(charts))
	}
	for i, ch := range charts {
		if ch[1] != "63" {
			t.Errorf("chart %d: axis %s pkt/s, want 63 (a quarter above the 50 sent a second)", i+1, ch[1])
		}
		for _, m := range regexp.MustCompile(`class="(bar|lost)" x="\d+" y="(-?\d+)" width="\d+" height="(\d+)"`).FindAllStringSubmatch(ch[2], -1) {
			y, _ := strconv.Atoi(m[2])
			h, _ := strconv.Atoi(m[3])
			if y < 6 || y+h > 96 {
				t.Errorf("chart %d: a %s bar from %d to %d leaves the plot (6 to 96)", i+1, m[1], y, y+h)
			}
		}
	}
	if !strings.Contains(charts[1][2], `class="clipped"`) || strings.Contains(charts[0][2], `class="clipped"`) {
		t.Error("the burst after the reconnect is not marked clipped on stream 2's chart alone")
	}
	if !strings.Contains(charts[1][2], "14 s: sent 50, received 200, lost 0") {
		t.Error("the clipped second does not say what arrived")
	}
}

// TestRepeatsInEveryFormat folds four runs of a scenario, one of which did
// not meet its expectations and ended on another transport, and checks
// every format says how many met, what differed and in which runs, and
// shows the run that did not meet them.
func TestRepeatsInEveryFormat(t *testing.T) {
	s := &scenarios.Scenario{Name: "flaky", File: "catalog/flaky.yaml",
		Spec:   harness.Spec{Clients: []harness.ClientSpec{{Name: "alice"}}},
		Expect: map[string]scenarios.Expectation{"alice": {Transports: []harness.Transport{harness.TURNTLS}}}}
	res := func(t harness.Transport) harness.Result {
		return harness.Result{Name: "flaky", Clock: harness.FakeClock, Duration: 20 * time.Second, Clients: []harness.ClientResult{{
			Name: "alice", Signalling: true, Transport: t, Connected: true, MediaBothWays: true, MediaFlowingAtEnd: true,
			PeerConnectionStates: []harness.StateChange{{State: "connected"}}}}}
	}
	runs := []reports.Run{reports.NewRun(s, res(harness.TURNTLS)), reports.NewRun(s, res(harness.TURNTLS)),
		reports.NewRun(s, res(harness.TURNTCP)), reports.NewRun(s, res(harness.TURNTLS))}
	r := reports.Repeat(runs)
	if r.Verdict() != reports.Fail || r.Repeats.Met != 3 || r.Repeats.Runs != 4 || r.Repeats.Shown != 3 || r.Result.Client("alice").Transport != harness.TURNTCP {
		t.Fatalf("repeat = %s, %+v", r.Verdict(), r.Repeats)
	}
	stable := reports.Repeat([]reports.Run{runs[0], runs[1]})
	suite := reports.Suite{Runs: []reports.Run{r, stable}}
	html, md, junit := writeAll(t, suite)
	var js bytes.Buffer
	if err := reports.WriteJSON(&js, suite); err != nil {
		t.Fatal(err)
	}
	varied := "alice transport: TURN/TLS in runs 1, 2, 4, TURN/TCP in run 3"
	unmet := "alice: transport: expected TURN/TLS, observed TURN/TCP in run 3"
	for name, text := range map[string]string{"html": html, "markdown": md, "junit": junit} {
		for _, want := range []string{varied, unmet} {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %q", name, want)
			}
		}
	}
	for _, want := range []string{"2 scenarios: 1 passed, 1 failed", "5 of 6 runs met expectations, 1 with outcomes that differed between runs",
		"| 3/4, outcomes differed | FAIL |", "| 2/2 | PASS |", "3/4 runs met, outcomes differed", "- shown: run 3 of 4"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	for _, want := range []string{`<td class="runs-met">3/4 · outcomes differed</td>`, `<td class="runs-met">2/2</td>`, "4 runs: 3 met the expectations", "The same outcome every run."} {
		if !strings.Contains(html, want) {
			t.Errorf("html lacks %q", want)
		}
	}
	for _, want := range []string{`name="runs" value="4"`, `name="runs_met" value="3"`, `name="outcomes" value="differed"`, `message="1 of 4 runs did not meet the expectations; ` + unmet} {
		if !strings.Contains(junit, want) {
			t.Errorf("junit lacks %q", want)
		}
	}
	for _, want := range []string{`"runs": 4`, `"met": 3`, `"shown": 3`, `"field": "transport"`, `"value": "TURN/TCP"`, `"verdicts": [`} {
		if !strings.Contains(js.String(), want) {
			t.Errorf("json lacks %q", want)
		}
	}
}
