// Package reports turns scenario runs into what CI and people read: a JUnit
// XML file with one test case per scenario, a JSON file with every
// harness.Result in full, and a Markdown report with a summary table and
// each scenario's timeline.
//
// The package reads results only; it runs nothing and knows nothing of how
// a result was obtained. A run whose result carries captured packets
// also gets a pcapng file.
package reports

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/scenarios"
)

// Run is one scenario's run: the scenario, what happened, and how that
// compared with the scenario's expectations. A Run with Invalid set is a
// scenario file that could not be loaded.
type Run struct {
	Scenario   *scenarios.Scenario
	Result     harness.Result
	Mismatches []scenarios.Mismatch
	// Skipped, when set, says why the scenario was not run; Result is then
	// empty.
	Skipped string
	// File and Invalid are set for a scenario file that could not be
	// loaded: every problem found in it, each with its file, line and
	// field. Scenario is then nil.
	File    string
	Invalid []*scenarios.Error
	// Repeats, when the scenario ran more than once, is how every run
	// went; the Run's own Result and Mismatches are then those of the run
	// Repeats.Shown (see Repeat).
	Repeats *Repeats

	// seriesNote says which flows' series the reports left out, for a
	// run whose series were planned (see RunSeriesPoints).
	seriesNote string
}

// Verdict is a run's outcome.
type Verdict string

// Verdicts.
const (
	Pass Verdict = "PASS"
	Fail Verdict = "FAIL"
	// Error: the scenario file could not be loaded (Run.Invalid), or the
	// run itself could not be built or run (Result.Err).
	Error Verdict = "ERROR"
	Skip  Verdict = "SKIP"
	// Interrupted: the run ended before its duration (SIGINT, SIGTERM);
	// what it observed is cut short, so its expectations are not judged.
	Interrupted Verdict = "INTERRUPTED"
	// Observed: the scenario states no expectations; the run reports what
	// happened and judges nothing.
	Observed Verdict = "OBSERVED"
)

// Verdict returns the run's outcome.
func (r Run) Verdict() Verdict {
	switch {
	case len(r.Invalid) > 0:
		return Error
	case r.Skipped != "":
		return Skip
	case r.Result.Interrupted:
		return Interrupted
	case r.Result.Err != "":
		return Error
	case len(r.Mismatches) > 0:
		return Fail
	case r.Scenario != nil && len(r.Scenario.Expect) == 0:
		return Observed
	}
	return Pass
}

// Met reports whether the run counts as meeting its expectations: passed,
// or only observed.
func (v Verdict) Met() bool { return v == Pass || v == Observed }

// NewRun checks res against s's expectations and returns the run. An
// interrupted result is not checked: it did not run its whole call.
func NewRun(s *scenarios.Scenario, res harness.Result) Run {
	r := Run{Scenario: s, Result: res}
	if !res.Interrupted {
		r.Mismatches = s.Check(res)
	}
	return r
}

// InvalidRun is the run of a scenario file that could not be loaded.
func InvalidRun(file string, errs []*scenarios.Error) Run {
	return Run{File: file, Invalid: errs}
}

// Problem is a one-line account of why a run did not pass: its load
// errors, its run error, or why it was interrupted or skipped; "" for a
// run that passed, failed or was observed.
func (r Run) Problem() string {
	switch r.Verdict() {
	case Error:
		if len(r.Invalid) > 0 {
			msgs := make([]string, len(r.Invalid))
			for i, e := range r.Invalid {
				msgs[i] = e.Error()
			}
			return strings.Join(msgs, "; ")
		}
		return r.RunError()
	case Skip:
		return r.Skipped
	case Interrupted:
		return r.interruptedNote()
	}
	return ""
}

// RunError is the run's error placed in its scenario file (file, line and
// field of the part it names), or "" when the run had none.
func (r Run) RunError() string {
	switch {
	case r.Result.Err == "":
		return ""
	case r.Scenario == nil:
		return r.Result.Err
	}
	return r.Scenario.Locate(r.Result.Err).Error()
}

// interruptedNote says how far an interrupted run got, on its own clock.
func (r Run) interruptedNote() string {
	of := ""
	if r.Scenario != nil && r.Scenario.Spec.Duration > 0 {
		of = " of " + seconds(r.Scenario.Spec.Duration)
	}
	return fmt.Sprintf("interrupted after %s%s of call (%s clock); expectations not evaluated", seconds(r.Result.Duration), of, r.Result.Clock)
}

// Suite is the runs of one invocation and its wall time.
type Suite struct {
	Runs []Run
	// Wall is how long the whole invocation took on the machine's clock.
	Wall time.Duration
	// Interrupted is set when a signal ended the invocation early: runs in
	// flight are INTERRUPTED, runs not started SKIP.
	Interrupted bool
	// FullSeries keeps every second of every series in the JSON and HTML
	// reports; without it a series longer than MaxSeriesPoints is
	// summarised.
	FullSeries bool
}

// Counts counts the suite's runs by verdict.
func (s Suite) Counts() map[Verdict]int {
	counts := map[Verdict]int{}
	for _, r := range s.Runs {
		counts[r.Verdict()]++
	}
	return counts
}

// The files Write creates in its directory.
const (
	JUnitFile    = "junit.xml"
	JSONFile     = "results.json"
	MarkdownFile = "report.md"
)

// Writable creates dir if needed and checks that report files can be
// created in it, so that a bad output location is found before anything
// runs.
func Writable(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	f, err := os.CreateTemp(dir, ".icelab-writable-*")
	if err != nil {
		return fmt.Errorf("reports: %s is not writable: %w", dir, err)
	}
	name := f.Name()
	return errors.Join(f.Close(), os.Remove(name))
}

// Write creates dir if needed and writes the JUnit, JSON, Markdown and HTML
// reports of the suite into it.
func Write(dir string, suite Suite) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	runs := suite.Runs
	writers := []struct {
		name  string
		write func(io.Writer, Suite) error
	}{
		{JUnitFile, WriteJUnit},
		{JSONFile, WriteJSON},
		{MarkdownFile, WriteMarkdown},
		{HTMLFile, WriteHTML},
	}
	var errs []error
	for _, w := range writers {
		if err := writeFile(filepath.Join(dir, w.name), suite, w.write); err != nil {
			errs = append(errs, err)
		}
	}
	for _, r := range runs {
		if len(r.Result.Packets) == 0 {
			continue
		}
		path := filepath.Join(dir, PcapFile(r.name()))
		err := writeFile(path, Suite{Runs: []Run{r}}, func(w io.Writer, s Suite) error { return WritePcap(w, s.Runs[0].Result.Packets) })
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// PcapFile is the name of a scenario's capture file.
func PcapFile(scenario string) string {
	name := []byte(scenario)
	for i, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			name[i] = '_'
		}
	}
	return string(name) + ".pcapng"
}

func writeFile(path string, suite Suite, write func(io.Writer, Suite) error) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("reports: %s: %w", path, cerr)
		}
	}()
	bw := bufio.NewWriter(f)
	if err := write(bw, suite); err != nil {
		return fmt.Errorf("reports: %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("reports: %s: %w", path, err)
	}
	return nil
}

// name is the run's scenario name, or the result's when there is no
// scenario, or the file's when it could not be loaded.
func (r Run) name() string {
	switch {
	case r.Scenario != nil:
		return r.Scenario.Name
	case r.File != "" && r.Result.Name == "":
		return r.File
	}
	return r.Result.Name
}

// file is the scenario file the run came from, if known.
func (r Run) file() string {
	if r.Scenario != nil {
		return r.Scenario.File
	}
	return r.File
}

// Plural is n and the noun, with an s unless n is 1: "1 scenario",
// "2 scenarios".
func Plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
