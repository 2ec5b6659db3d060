package reports

import (
	"encoding/json"
	"io"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/scenarios"
)

// jsonReport is the JSON document: every run with its full result. The
// spec is left out: it holds the relay's private key.
type jsonReport struct {
	Runs []jsonRun `json:"runs"`
}

type jsonRun struct {
	Scenario   jsonScenario                     `json:"scenario"`
	Verdict    Verdict                          `json:"verdict"`
	Skipped    string                           `json:"skipped,omitempty"`
	Mismatches []scenarios.Mismatch             `json:"mismatches"`
	Expect     map[string]scenarios.Expectation `json:"expect,omitempty"`
	Result     harness.Result                   `json:"result"`
}

type jsonScenario struct {
	File      string        `json:"file,omitempty"`
	Name      string        `json:"name"`
	Report    string        `json:"report,omitempty"`
	Source    string        `json:"source,omitempty"`
	RealClock bool          `json:"real_clock"`
	Duration  time.Duration `json:"duration_ns,omitempty"`
}

// WriteJSON writes runs as one JSON document with each harness.Result in
// full (durations in nanoseconds).
func WriteJSON(w io.Writer, runs []Run) error {
	doc := jsonReport{Runs: make([]jsonRun, 0, len(runs))}
	for _, r := range runs {
		jr := jsonRun{
			Verdict:    r.Verdict(),
			Skipped:    r.Skipped,
			Mismatches: r.Mismatches,
			Result:     r.Result,
		}
		if jr.Mismatches == nil {
			jr.Mismatches = []scenarios.Mismatch{}
		}
		if s := r.Scenario; s != nil {
			jr.Scenario = jsonScenario{File: s.File, Name: s.Name, Report: s.Report, Source: s.Source, RealClock: s.RealClock, Duration: s.Spec.Duration}
			jr.Expect = s.Expect
		} else {
			jr.Scenario.Name = r.Result.Name
		}
		doc.Runs = append(doc.Runs, jr)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
