package reports

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     float64      `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     float64     `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name       string         `xml:"name,attr"`
	Classname  string         `xml:"classname,attr"`
	File       string         `xml:"file,attr,omitempty"`
	Line       int            `xml:"line,attr,omitempty"`
	Time       float64        `xml:"time,attr"`
	Properties *junitProps    `xml:"properties,omitempty"`
	Failure    *junitProblem  `xml:"failure,omitempty"`
	Error      *junitProblem  `xml:"error,omitempty"`
	Skipped    *junitSkipped  `xml:"skipped,omitempty"`
	SystemOut  *junitCharData `xml:"system-out,omitempty"`
}

type junitProps struct {
	Props []junitProp `xml:"property"`
}

type junitProp struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

type junitCharData struct {
	Text string `xml:",chardata"`
}

// WriteJUnit writes the suite as a JUnit XML document: one test case per
// scenario, whose failure message lists expected against observed and
// whose body holds each client's timeline. A file that could not be
// loaded and an interrupted run are errors (types "invalid" and
// "interrupted"); a scenario without expectations passes with the
// property verdict=OBSERVED. A scenario run more than once is one case,
// with properties runs, runs_met and outcomes, failing when any run did
// not meet its expectations, and the repeats' account in its body. Times
// are wall times in seconds: a case's is its (shown) run's, the suite's
// the whole invocation's.
func WriteJUnit(w io.Writer, s Suite) error {
	suite := junitSuite{Name: "icelab scenarios", Time: s.Wall.Seconds()}
	for _, r := range s.Runs {
		c := junitCase{
			Name:      r.name(),
			Classname: "icelab.scenarios",
			File:      r.file(),
			Time:      r.Result.Wall.Seconds(),
			SystemOut: &junitCharData{Text: details(r)},
		}
		v := r.Verdict()
		if r.Scenario != nil {
			c.Properties = &junitProps{Props: []junitProp{
				{"report", r.Scenario.Report},
				{"clock", string(r.Result.Clock)},
				{"duration", r.Result.Duration.String()},
				{"verdict", string(v)},
			}}
			if rep := r.Repeats; rep != nil {
				outcomes := "the same every run"
				if !rep.Stable() {
					outcomes = "differed"
				}
				c.Properties.Props = append(c.Properties.Props, junitProp{"runs", fmt.Sprint(rep.Runs)},
					junitProp{"runs_met", fmt.Sprint(rep.Met)}, junitProp{"outcomes", outcomes})
			}
		}
		if len(r.Invalid) > 0 {
			c.Line = r.Invalid[0].Line
		}
		switch v {
		case Skip:
			c.Skipped = &junitSkipped{Message: r.Skipped}
			suite.Skipped++
		case Error, Interrupted:
			typ := "run"
			switch {
			case v == Interrupted:
				typ = "interrupted"
			case len(r.Invalid) > 0:
				typ = "invalid"
			}
			c.Error = &junitProblem{Message: r.Problem(), Type: typ, Text: details(r)}
			suite.Errors++
		case Fail:
			msgs := make([]string, len(r.Mismatches))
			for i, m := range r.Mismatches {
				msgs[i] = m.String()
			}
			if rep := r.Repeats; rep != nil {
				msgs = []string{fmt.Sprintf("%d of %d runs did not meet the expectations", rep.Runs-rep.Met, rep.Runs)}
				for _, u := range rep.Unmet {
					msgs = append(msgs, u.String())
				}
			}
			c.Failure = &junitProblem{Message: strings.Join(msgs, "; "), Type: "expectation", Text: details(r)}
			suite.Failures++
		}
		suite.Tests++
		suite.Cases = append(suite.Cases, c)
	}
	doc := junitSuites{
		Name: "icelab", Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors,
		Skipped: suite.Skipped, Time: suite.Time, Suites: []junitSuite{suite},
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}
