package reports_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/reports"
	"github.com/icelab/icelab/scenarios"
)

// special is an interrupted run whose cut-short result misses its
// expectation, a run of a scenario without expectations, and a file that
// could not be loaded.
func special() reports.Suite {
	expecting := &scenarios.Scenario{
		File: "catalog/cut.yaml", Name: "cut",
		Spec:   harness.Spec{Duration: 20 * time.Second, Clients: []harness.ClientSpec{{Name: "alice"}}},
		Expect: map[string]scenarios.Expectation{"alice": {Transports: []harness.Transport{harness.TURNTLS}}},
	}
	cut := harness.Result{Name: "cut", Clock: harness.FakeClock, Duration: 3 * time.Second, Interrupted: true, Wall: 40 * time.Millisecond,
		Clients: []harness.ClientResult{{Name: "alice", Transport: harness.ICEUDP, Connected: true}}}
	quiet := &scenarios.Scenario{File: "catalog/quiet.yaml", Name: "quiet", Spec: harness.Spec{Clients: []harness.ClientSpec{{Name: "bob"}}}}
	quietRes := harness.Result{Name: "quiet", Clock: harness.FakeClock, Duration: 10 * time.Second, Wall: 30 * time.Millisecond,
		Clients: []harness.ClientResult{{Name: "bob", Transport: harness.ICEUDP, Connected: true}}}
	bad := reports.InvalidRun("catalog/bad.yaml", []*scenarios.Error{{File: "catalog/bad.yaml", Line: 7, Field: "clients[0].lan", Msg: `unknown LAN "corp"`}})
	return reports.Suite{Runs: []reports.Run{reports.NewRun(expecting, cut), reports.NewRun(quiet, quietRes), bad}, Wall: 1500 * time.Millisecond}
}

// TestVerdicts proves an interrupted run is reported as interrupted and
// not judged (it would otherwise FAIL on a cut-short observation), a
// scenario without expectations is OBSERVED rather than PASS, and an
// unloadable file is an ERROR; none of them counts as met except
// observed.
func TestVerdicts(t *testing.T) {
	s := special()
	want := []reports.Verdict{reports.Interrupted, reports.Observed, reports.Error}
	for i, r := range s.Runs {
		if got := r.Verdict(); got != want[i] {
			t.Errorf("run %d: verdict %s, want %s", i, got, want[i])
		}
	}
	if len(s.Runs[0].Mismatches) != 0 {
		t.Errorf("an interrupted run was judged: %v", s.Runs[0].Mismatches)
	}
	if reports.Interrupted.Met() || reports.Error.Met() || !reports.Observed.Met() || !reports.Pass.Met() {
		t.Error("Met: only PASS and OBSERVED meet expectations")
	}
}

// TestSpecialRunsInEveryFormat proves each report format says
// "interrupted" for an interrupted run, "observed" for a scenario without
// expectations, and names the file and line of a file that could not be
// loaded; JUnit times are wall times, the suite's the invocation's.
func TestSpecialRunsInEveryFormat(t *testing.T) {
	s := special()
	var junit, js, md bytes.Buffer
	if err := reports.WriteJUnit(&junit, s); err != nil {
		t.Fatal(err)
	}
	if err := reports.WriteJSON(&js, s); err != nil {
		t.Fatal(err)
	}
	if err := reports.WriteMarkdown(&md, s); err != nil {
		t.Fatal(err)
	}

	var doc struct {
		Errors int     `xml:"errors,attr"`
		Time   float64 `xml:"time,attr"`
		Suites []struct {
			Time  float64 `xml:"time,attr"`
			Cases []struct {
				Name  string  `xml:"name,attr"`
				File  string  `xml:"file,attr"`
				Line  int     `xml:"line,attr"`
				Time  float64 `xml:"time,attr"`
				Error *struct {
					Type    string `xml:"type,attr"`
					Message string `xml:"message,attr"`
				} `xml:"error"`
				Failure *struct{} `xml:"failure"`
				Props   []struct {
					Name  string `xml:"name,attr"`
					Value string `xml:"value,attr"`
				} `xml:"properties>property"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(junit.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	cases := doc.Suites[0].Cases
	if doc.Errors != 2 || doc.Time != 1.5 || doc.Suites[0].Time != 1.5 {
		t.Errorf("junit: %d errors, time %v/%v; want 2 errors and the invocation's 1.5 s", doc.Errors, doc.Time, doc.Suites[0].Time)
	}
	if c := cases[0]; c.Error == nil || c.Error.Type != "interrupted" || !strings.Contains(c.Error.Message, "interrupted after 3.00s of 20.00s") || c.Time != 0.04 {
		t.Errorf("junit interrupted case = %+v", c)
	}
	if c := cases[1]; c.Error != nil || c.Failure != nil || !hasProp(c.Props, "verdict", "OBSERVED") {
		t.Errorf("junit observed case = %+v", c)
	}
	if c := cases[2]; c.Error == nil || c.Error.Type != "invalid" || c.File != "catalog/bad.yaml" || c.Line != 7 ||
		!strings.Contains(c.Error.Message, `catalog/bad.yaml:7: clients[0].lan: unknown LAN "corp"`) {
		t.Errorf("junit invalid case = %+v", c)
	}

	var j struct {
		Interrupted bool
		Runs        []struct {
			Verdict string
			Problem string
			Invalid []struct {
				File string
				Line int
			}
		}
	}
	if err := json.Unmarshal(js.Bytes(), &j); err != nil {
		t.Fatal(err)
	}
	if !j.Interrupted || j.Runs[0].Verdict != "INTERRUPTED" || !strings.Contains(j.Runs[0].Problem, "interrupted") ||
		j.Runs[1].Verdict != "OBSERVED" || j.Runs[2].Verdict != "ERROR" || len(j.Runs[2].Invalid) != 1 || j.Runs[2].Invalid[0].Line != 7 {
		t.Errorf("json = %+v", j)
	}

	for _, want := range []string{
		"3 scenarios: 0 passed, 0 failed, 1 error, 0 skipped, 1 observed without expectations, 1 interrupted in 1.50s of wall time.",
		"| alice | ICE/UDP |", "| INTERRUPTED |", "| OBSERVED |",
		"Interrupted: interrupted after 3.00s of 20.00s of call (fake clock); expectations not evaluated.",
		"No expectations: what happened is reported, nothing is judged.",
		"- `catalog/bad.yaml:7: clients[0].lan: unknown LAN \"corp\"`",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
}

func hasProp(props []struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}, name, value string) bool {
	for _, p := range props {
		if p.Name == name && p.Value == value {
			return true
		}
	}
	return false
}

// TestJSONKeysAreSnakeCase proves every key in results.json is snake_case
// (drop reasons, which are data, aside) and durations are seconds.
func TestJSONKeysAreSnakeCase(t *testing.T) {
	rs := append(runs(), special().Runs...)
	var buf bytes.Buffer
	if err := reports.WriteJSON(&buf, reports.Suite{Runs: rs, Wall: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	key := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if !strings.HasSuffix(path, ".drops") && !key.MatchString(k) {
					t.Errorf("%s: key %q is not snake_case", path, k)
				}
				walk(path+"."+k, e)
			}
		case []any:
			for _, e := range v {
				walk(path+"[]", e)
			}
		}
	}
	walk("", doc)
	for _, want := range []string{`"wall": 2`, `"ice_states"`, `"client_to_peer_bytes"`, `"at": 30`, `"transport": [`, `"connected": true`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("results.json lacks %s", want)
		}
	}
}

// TestRunErrorsNameTheFile proves a run error is reported at the file,
// line and field of the part it names, in every format.
func TestRunErrorsNameTheFile(t *testing.T) {
	s, err := scenarios.Parse("catalog/broken.yaml", []byte("name: broken\nnetwork:\n  lans:\n    - name: corp\nclients:\n  - {name: alice, lan: corp}\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := reports.NewRun(s, harness.Result{Name: "broken", Clock: harness.FakeClock, Err: "lan corp: LAN 10.1.0.0/24: overlaps this machine's address space"})
	suite := reports.Suite{Runs: []reports.Run{r}}
	const want = "catalog/broken.yaml:4: network.lans[0]: lan corp: LAN 10.1.0.0/24"
	for name, write := range map[string]func(*bytes.Buffer) error{
		"junit":    func(b *bytes.Buffer) error { return reports.WriteJUnit(b, suite) },
		"json":     func(b *bytes.Buffer) error { return reports.WriteJSON(b, suite) },
		"markdown": func(b *bytes.Buffer) error { return reports.WriteMarkdown(b, suite) },
	} {
		var b bytes.Buffer
		if err := write(&b); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), want) {
			t.Errorf("%s lacks %q:\n%s", name, want, b.String())
		}
	}
}
