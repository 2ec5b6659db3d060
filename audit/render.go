package audit

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Markdown writes the matrix as a Markdown table, with changes against a
// baseline above it when changes is not nil.
func Markdown(w io.Writer, m Matrix, changes []Change) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# icelab audit: %s\n\n", m.Deployment)
	if m.Firewall != "" {
		fmt.Fprintf(&b, "Node firewall: %s\n\n", m.Firewall)
	}
	if m.TLSProblem != "" {
		fmt.Fprintf(&b, "**TLS problem:** %s\n\n", esc(m.TLSProblem))
	}
	for _, n := range m.Notes {
		fmt.Fprintf(&b, "- note: %s\n", esc(n))
	}
	if len(m.Notes) > 0 {
		b.WriteString("\n")
	}
	if m.Interrupted {
		b.WriteString("**Interrupted:** the audit was stopped; cells cut short are not a verdict.\n\n")
	}
	if changes != nil {
		if len(changes) == 0 {
			b.WriteString("No cell changed against the baseline.\n\n")
		} else {
			b.WriteString("## Changes against the baseline\n\n| | archetype | profile | change |\n|---|---|---|---|\n")
			for _, c := range changes {
				kind := string(c.Kind)
				if c.Kind == Regression {
					kind = "**regression**"
				}
				fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", kind, c.Archetype, c.Profile, esc(c.Why))
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("| archetype | profile | transport | time to connect | media both ways | recovered | clock |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, c := range m.Cells {
		outcome := esc(c.Outcome())
		if c.Symptom != "" {
			outcome += "; **symptom:** " + esc(c.Symptom)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", c.Archetype, c.Profile, outcome,
			connectTime(c), media(c), recovered(c), c.Clock)
	}
	fmt.Fprintf(&b, "\n%d cells; wall time %s for the fake-clock cells, %s for the real-clock cells (run side by side).\n",
		len(m.Cells), m.FakeWall.Round(10*time.Millisecond), m.RealWall.Round(10*time.Millisecond))
	_, err := io.WriteString(w, b.String())
	return err
}

func connectTime(c Cell) string {
	if c.ConnectTime == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2fs", c.ConnectTime.Seconds())
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// media says whether media flowed both ways; for a call that was lost,
// that it did so only until then.
func media(c Cell) string {
	if c.MediaBothWays && !c.Works() {
		return "yes, until lost"
	}
	return yesNo(c.MediaBothWays)
}

func recovered(c Cell) string {
	switch {
	case !c.Faulted:
		return "—"
	case c.Recovered:
		return "yes"
	}
	return "no"
}

// esc keeps a table cell on one line and its pipes literal.
func esc(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

// report is the JSON document: the matrix and, with a baseline, the
// changes.
type report struct {
	Matrix   Matrix    `json:"matrix"`
	Baseline *Matrix   `json:"baseline,omitempty"`
	Changes  *[]Change `json:"changes,omitempty"`
}

// JSON writes the matrix (and the baseline and changes, when given) as
// indented JSON.
func JSON(w io.Writer, m Matrix, baseline *Matrix, changes []Change) error {
	r := report{Matrix: m, Baseline: baseline}
	if baseline != nil {
		if changes == nil {
			changes = []Change{}
		}
		r.Changes = &changes
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitFailure `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// JUnit writes one test case per cell (classname the archetype, name the
// profile). A case fails when its cell regressed against the baseline; its
// output is the cell's outcome either way, so a cell that fails to connect
// without a baseline is reported, not failed: the exit status and the
// report agree.
func JUnit(w io.Writer, m Matrix, changes []Change) error {
	s := junitSuite{Name: "icelab audit " + m.Deployment, Tests: len(m.Cells)}
	var total time.Duration
	for _, c := range m.Cells {
		total += c.Wall
		tc := junitCase{Name: c.Profile, Classname: c.Archetype, Time: fmt.Sprintf("%.3f", c.Wall.Seconds()),
			SystemOut: fmt.Sprintf("%s; time to connect %s; media both ways %s; recovered %s; clock %s",
				c.Outcome(), connectTime(c), media(c), recovered(c), c.Clock)}
		for _, ch := range changes {
			if ch.Kind == Regression && ch.Archetype == c.Archetype && ch.Profile == c.Profile {
				tc.Failure = &junitFailure{Message: "regression: " + ch.Why, Text: ch.Why}
				s.Failures++
			}
		}
		if c.Error != "" {
			tc.Skipped = &junitFailure{Message: c.Reason}
		}
		s.Cases = append(s.Cases, tc)
	}
	s.Time = fmt.Sprintf("%.3f", total.Seconds())
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(junitSuites{Suites: []junitSuite{s}}); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// Write writes audit.md, audit.json and junit.xml to dir, creating it.
// baseline and changes are nil without a baseline.
func Write(dir string, m Matrix, baseline *Matrix, changes []Change) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("audit: reports: %w", err)
	}
	files := []struct {
		name  string
		write func(io.Writer) error
	}{
		{"audit.md", func(w io.Writer) error { return Markdown(w, m, changes) }},
		{"audit.json", func(w io.Writer) error { return JSON(w, m, baseline, changes) }},
		{"junit.xml", func(w io.Writer) error { return JUnit(w, m, changes) }},
	}
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		out, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("audit: report %s: %w", path, err)
		}
		werr := f.write(out)
		cerr := out.Close()
		if werr != nil || cerr != nil {
			return fmt.Errorf("audit: report %s: %w", path, errors.Join(werr, cerr))
		}
	}
	return nil
}
