package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/reports"
)

func writeScenario(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// testRunner runs specs in bubbles as fakeclock.Runner does, in subtests
// of a test: a test binary cannot use fakeclock.Main.
type testRunner struct{ t *testing.T }

func (r testRunner) Run(specs []harness.Spec, _ int, stop func() bool, done func(int, harness.Result), opts ...harness.Option) {
	if stop != nil {
		opts = append(opts[:len(opts):len(opts)], harness.WithStop(stop))
	}
	for i, spec := range specs {
		r.t.Run(spec.Name, func(t *testing.T) { done(i, harness.RunT(t, spec, opts...)) })
	}
}

// TestValidate proves validate accepts the catalog and rejects a bad file
// with its file, line and field, exit status 2.
func TestValidate(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := validate(&out, &errOut, []string{"../../scenarios/catalog"}); code != 0 {
		t.Fatalf("catalog: exit %d\n%s", code, errOut.String())
	}
	files, err := filepath.Glob("../../scenarios/catalog/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("the catalog has no files: %v", err)
	}
	for _, want := range []string{
		"ok   ../../scenarios/catalog/udp-blocked-ice-tcp.yaml  (udp-blocked-ice-tcp: 1 client, real clock)",
		"ok   ../../scenarios/catalog/open-internet-ice-udp.yaml  (open-internet-ice-udp: 2 clients, fake clock)",
		fmt.Sprintf("%d scenario files valid", len(files)),
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	bad := writeScenario(t, t.TempDir(), "office.yaml", "name: office\nclients:\n  - name: alice\n    fallback: {policy: tcp}\n")
	out.Reset()
	errOut.Reset()
	if code := validate(&out, &errOut, []string{bad}); code != exitBadInput {
		t.Fatalf("exit %d, want %d", code, exitBadInput)
	}
	want := bad + `:4: clients[0].fallback.policy: unknown policy "tcp"; want livekit, none, ice-restart, transport, renomination, force-relay`
	if !strings.Contains(errOut.String(), want) {
		t.Errorf("stderr:\n%s\nwant %q", errOut.String(), want)
	}
}

// TestRun proves run runs scenarios in fake-clock bubbles, prints a
// verdict with the transport per client and the clock, writes the reports
// with the same clock label, and exits 1 when a scenario misses its
// expectations; a scenario without expectations is OBSERVED, not PASS.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	const call = "clients: [{name: alice, publish: [audio]}]\nduration: 2s\n"
	writeScenario(t, dir, "good.yaml", "name: good\n"+call+"expect: {alice: {transport: ICE/UDP}}\n")
	writeScenario(t, dir, "bad.yaml", "name: bad\n"+call+"expect: {alice: {transport: TURN/TLS}}\n")
	writeScenario(t, dir, "quiet.yaml", "name: quiet\n"+call)
	out := filepath.Join(dir, "out")

	var stdout, stderr bytes.Buffer
	o := &runOptions{out: out, clock: clockFake, trust: &testTrust, runner: testRunner{t}}
	code := o.run(t.Context(), &stdout, &stderr, []string{dir})
	if code != exitNotMet {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitNotMet, stdout.String(), stderr.String())
	}
	for _, want := range []string{
		"running 3 scenarios, 3 at a time, on the fake clock",
		"PASS  good  [alice=ICE/UDP]  fake clock, 2.0s of call in",
		"FAIL  bad  [alice=ICE/UDP]  fake clock",
		"OBSERVED quiet  [alice=ICE/UDP]  fake clock",
		"alice: transport: expected TURN/TLS, observed ICE/UDP",
		"3 scenarios: 1 passed, 1 failed, 0 errors, 0 skipped, 1 observed without expectations in",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	for _, f := range []string{reports.JUnitFile, reports.JSONFile, reports.MarkdownFile} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	var doc struct {
		Runs []struct {
			Scenario struct{ Name, Clock string }
			Verdict  string
			Result   struct{ Clock string }
		}
	}
	data, err := os.ReadFile(filepath.Join(out, reports.JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, r := range doc.Runs {
		if r.Scenario.Clock != "fake" || r.Result.Clock != "fake" {
			t.Errorf("%s: clocks %q/%q in results.json, want fake/fake", r.Scenario.Name, r.Scenario.Clock, r.Result.Clock)
		}
	}
}

// TestRunOnTheRealClock proves --clock real keeps every scenario on the
// machine's clock, and says so.
func TestRunOnTheRealClock(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a call on the real clock")
	}
	dir := t.TempDir()
	// No expectations: what matters is the clock, not how a loaded
	// machine's real clock treats a short call.
	writeScenario(t, dir, "good.yaml", "name: good\nclients: [{name: alice, publish: [audio]}]\nduration: 2s\n")
	var stdout, stderr bytes.Buffer
	o := &runOptions{out: filepath.Join(dir, "out"), clock: clockReal, trust: &testTrust, runner: testRunner{t}}
	if code := o.run(t.Context(), &stdout, &stderr, []string{dir}); code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	for _, want := range []string{"on the real clock", "OBSERVED good  [alice=", "]  real clock, 2.0s of call in"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
}

// TestOneBadFileDoesNotStopTheOthers proves a file that does not load is
// its own ERROR, with file and line, in the output and every report, while
// the others run, and the exit status is 2. Directories are searched
// recursively.
func TestOneBadFileDoesNotStopTheOthers(t *testing.T) {
	dir := t.TempDir()
	writeScenario(t, dir, "nested/deeper/good.yaml", "name: good\nclients: [{name: alice, publish: [audio]}]\nduration: 2s\nexpect: {alice: {transport: ICE/UDP}}\n")
	bad := writeScenario(t, dir, "nested/bad.yaml", "name: broken\nclients:\n  - name: alice\n    lan: nowhere\n")
	out := filepath.Join(dir, "out")
	var stdout, stderr bytes.Buffer
	o := &runOptions{out: out, clock: clockFake, trust: &testTrust, runner: testRunner{t}}
	if code := o.run(t.Context(), &stdout, &stderr, []string{dir}); code != exitBadInput {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitBadInput, stdout.String(), stderr.String())
	}
	loc := bad + ":4: clients[0].lan"
	for _, want := range []string{"ERROR " + bad, loc, "PASS  good"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	for _, f := range []string{reports.JUnitFile, reports.JSONFile, reports.MarkdownFile} {
		data, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		s := string(data)
		if f == reports.JSONFile {
			// JSON escapes nothing here, but names the line as a field.
			if !strings.Contains(s, `"line": 4`) || !strings.Contains(s, `"verdict": "ERROR"`) {
				t.Errorf("%s lacks the bad file's error:\n%s", f, s)
			}
			continue
		}
		if !strings.Contains(s, loc) {
			t.Errorf("%s lacks %q:\n%s", f, loc, s)
		}
	}
}

// TestRunRepeat proves --repeat N runs each scenario N times and reports,
// per scenario once all its runs have ended, how many met its
// expectations and that the outcome was the same every run; a scenario
// whose runs did not all meet them fails the exit status; every report
// carries the account.
func TestRunRepeat(t *testing.T) {
	dir := t.TempDir()
	const call = "clients: [{name: alice, publish: [audio]}]\nduration: 2s\n"
	writeScenario(t, dir, "good.yaml", "name: good\n"+call+"expect: {alice: {transport: ICE/UDP}}\n")
	writeScenario(t, dir, "bad.yaml", "name: bad\n"+call+"expect: {alice: {transport: TURN/TLS}}\n")
	out := filepath.Join(dir, "out")
	var stdout, stderr bytes.Buffer
	o := &runOptions{out: out, clock: clockFake, trust: &testTrust, runner: testRunner{t}, repeat: 3}
	if code := o.run(t.Context(), &stdout, &stderr, []string{dir}); code != exitNotMet {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitNotMet, stdout.String(), stderr.String())
	}
	for _, want := range []string{
		"running 2 scenarios 3 times each (6 runs), 6 at a time, on the fake clock",
		"PASS  good  [alice=ICE/UDP]  fake clock, 2.0s of call, 3/3 runs met, the same outcome every run\n",
		"FAIL  bad  [alice=ICE/UDP]  fake clock, 2.0s of call, 0/3 runs met, the same outcome every run\n",
		"      not met: alice: transport: expected TURN/TLS, observed ICE/UDP in runs 1, 2, 3\n      shown: run 1 of 3\n",
		"2 scenarios: 1 passed, 1 failed, 0 errors, 0 skipped, 3 of 6 runs met expectations, 0 with outcomes that differed between runs in",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	if n := strings.Count(stdout.String(), "good"); n != 1 {
		t.Errorf("good is named %d times; want one line for its three runs:\n%s", n, stdout.String())
	}
	for _, f := range []string{reports.JUnitFile, reports.JSONFile, reports.MarkdownFile, reports.HTMLFile} {
		data, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), "3 of 6 runs met expectations") && !strings.Contains(string(data), `value="3"`) {
			t.Errorf("%s does not say how the runs went", f)
		}
	}

	for _, bad := range []string{"0", "-2", "many"} {
		stdout.Reset()
		stderr.Reset()
		code := execute(t.Context(), []string{"run", "--repeat", bad, "--out", out, dir}, &testTrust, testRunner{t}, &stdout, &stderr)
		if want := `invalid argument "` + bad + `" for "--repeat" flag: "` + bad + `": want a number of runs, 1 or more`; code != exitBadInput || !strings.Contains(stderr.String(), want) {
			t.Errorf("--repeat %s: exit %d, stderr %q; want %d and %q", bad, code, stderr.String(), exitBadInput, want)
		}
	}
}

// repeatChecked are the catalog files make test runs more than once: the
// ones whose outcome depends on a reconnect racing the rest of the call
// (transport fallback, ICE restart, a roaming client, a second and third
// client receiving a publisher that fell back), where a run-to-run
// difference would show first. The whole catalog at --repeat 20 is the
// full check (README).
var repeatChecked = []string{
	"three-clients-only-443-mid-call-transport-fallback",
	"three-clients-only-443-mid-call-ice-restart",
	"udp-whack-after-ice-connected-transport-fallback",
	"roaming-wifi-to-cellular",
}

// repeatCheckRuns is how many times make test runs each of them.
const repeatCheckRuns = 3

// TestCatalogAnswersTheSameEveryTime runs the repeat-checked catalog files
// as `icelab run --repeat 3` does: every run must meet its expectations,
// with the same outcome every run.
func TestCatalogAnswersTheSameEveryTime(t *testing.T) {
	if testing.Short() {
		t.Skip("runs catalog scenarios several times")
	}
	var files []string
	for _, name := range repeatChecked {
		files = append(files, filepath.Join("../../scenarios/catalog", name+".yaml"))
	}
	var stdout, stderr bytes.Buffer
	out := t.TempDir()
	o := &runOptions{out: out, clock: clockFake, trust: &testTrust, runner: testRunner{t}, repeat: repeatCheckRuns}
	code := o.run(t.Context(), &stdout, &stderr, files)
	if code != exitOK {
		t.Errorf("exit %d, want %d", code, exitOK)
	}
	for _, name := range repeatChecked {
		want := fmt.Sprintf("PASS  %s  ", name)
		line := ""
		for l := range strings.Lines(stdout.String()) {
			if strings.HasPrefix(l, want) {
				line = l
			}
		}
		if same := fmt.Sprintf("%d/%d runs met, the same outcome every run\n", repeatCheckRuns, repeatCheckRuns); !strings.HasSuffix(line, same) {
			t.Errorf("%s: want a PASS line ending %q", name, same)
		}
	}
	if t.Failed() {
		t.Logf("icelab run --repeat %d:\n%s%s", repeatCheckRuns, stdout.String(), stderr.String())
	}
	reportShowsResult(t, out, repeatChecked[0], "alice")
}

// reportShowsResult checks report.html in dir against results.json there,
// for one client of one scenario: a table of pairs per attempt holding the
// pairs that attempt tried, and a row per flow with what was sent and what
// arrived.
func reportShowsResult(t *testing.T, dir, scenario, client string) {
	t.Helper()
	var doc struct {
		Runs []struct {
			Scenario struct{ Name string }
			Result   struct {
				Clients []struct {
					Name     string
					Attempts []struct {
						Checks []struct{ Local, Remote, State string }
					}
					Media []struct {
						Track, Direction string
						Sent, Packets    uint64
					}
				}
			}
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, reports.JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, reports.HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	start := strings.Index(html, `id="scenario-`+scenario+`"`)
	if start < 0 {
		t.Fatalf("report.html has no section for %s", scenario)
	}
	html = html[start:]
	html = html[strings.Index(html, `data-client="`+client+`"`):]
	html = html[:strings.Index(html, "</div>")]
	for _, r := range doc.Runs {
		if r.Scenario.Name != scenario {
			continue
		}
		for _, c := range r.Result.Clients {
			if c.Name != client {
				continue
			}
			if len(c.Attempts) < 2 {
				t.Errorf("%s made %d attempts; the check wants a fallback", client, len(c.Attempts))
			}
			for i, a := range c.Attempts {
				table := regexp.MustCompile(`(?s)<table class="pairs" data-attempt="` + strconv.Itoa(i+1) + `">(.*?)</table>`).FindStringSubmatch(html)
				if table == nil {
					t.Errorf("attempt %d: no table of the pairs it tried", i+1)
					continue
				}
				if n := strings.Count(table[1], "<tr><td>"); n != len(a.Checks) {
					t.Errorf("attempt %d: %d pairs shown, %d tried", i+1, n, len(a.Checks))
				}
				for _, p := range a.Checks {
					if !strings.Contains(table[1], "<td>"+p.Local+"</td><td>"+p.Remote+"</td><td>"+p.State+"</td>") {
						t.Errorf("attempt %d: the pair %s -> %s (%s) is not shown", i+1, p.Local, p.Remote, p.State)
					}
				}
			}
			for _, m := range c.Media {
				row := fmt.Sprintf("<tr><td>%s %s</td><td>%d</td><td>%d</td>", m.Track, m.Direction, m.Sent, m.Packets)
				if !strings.Contains(html, row) {
					t.Errorf("no row %q: the flow as sent against received", row)
				}
			}
			return
		}
	}
	t.Errorf("results.json has no %s in %s", client, scenario)
}
