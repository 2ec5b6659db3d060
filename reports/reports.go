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

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/scenarios"
)

// Run is one scenario's run: the scenario, what happened, and how that
// compared with the scenario's expectations.
type Run struct {
	Scenario   *scenarios.Scenario
	Result     harness.Result
	Mismatches []scenarios.Mismatch
	// Skipped, when set, says why the scenario was not run; Result is then
	// empty.
	Skipped string
}

// Verdict is a run's outcome.
type Verdict string

// Verdicts.
const (
	Pass Verdict = "PASS"
	Fail Verdict = "FAIL"
	// Error: the run itself could not be built or run (Result.Err).
	Error Verdict = "ERROR"
	Skip  Verdict = "SKIP"
)

// Verdict returns the run's outcome.
func (r Run) Verdict() Verdict {
	switch {
	case r.Skipped != "":
		return Skip
	case r.Result.Err != "":
		return Error
	case len(r.Mismatches) > 0:
		return Fail
	}
	return Pass
}

// NewRun checks res against s's expectations and returns the run.
func NewRun(s *scenarios.Scenario, res harness.Result) Run {
	return Run{Scenario: s, Result: res, Mismatches: s.Check(res)}
}

// The files Write creates in its directory.
const (
	JUnitFile    = "junit.xml"
	JSONFile     = "results.json"
	MarkdownFile = "report.md"
)

// Write creates dir if needed and writes the JUnit, JSON, Markdown and HTML
// reports of runs into it.
func Write(dir string, runs []Run) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	writers := []struct {
		name  string
		write func(io.Writer, []Run) error
	}{
		{JUnitFile, WriteJUnit},
		{JSONFile, WriteJSON},
		{MarkdownFile, WriteMarkdown},
		{HTMLFile, WriteHTML},
	}
	var errs []error
	for _, w := range writers {
		if err := writeFile(filepath.Join(dir, w.name), runs, w.write); err != nil {
			errs = append(errs, err)
		}
	}
	for _, r := range runs {
		if len(r.Result.Packets) == 0 {
			continue
		}
		path := filepath.Join(dir, PcapFile(r.name()))
		err := writeFile(path, []Run{r}, func(w io.Writer, runs []Run) error { return WritePcap(w, runs[0].Result.Packets) })
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

func writeFile(path string, runs []Run, write func(io.Writer, []Run) error) (err error) {
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
	if err := write(bw, runs); err != nil {
		return fmt.Errorf("reports: %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("reports: %s: %w", path, err)
	}
	return nil
}

// name is the run's scenario name, or the result's when there is no
// scenario.
func (r Run) name() string {
	if r.Scenario != nil {
		return r.Scenario.Name
	}
	return r.Result.Name
}
