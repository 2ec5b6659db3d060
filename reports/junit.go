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

// WriteJUnit writes runs as a JUnit XML document: one test case per
// scenario, whose failure message lists expected against observed and
// whose body holds each client's timeline.
func WriteJUnit(w io.Writer, runs []Run) error {
	suite := junitSuite{Name: "icelab scenarios"}
	for _, r := range runs {
		c := junitCase{
			Name:      r.name(),
			Classname: "icelab.scenarios",
			Time:      r.Result.Wall.Seconds(),
			SystemOut: &junitCharData{Text: details(r)},
		}
		if r.Scenario != nil {
			c.File = r.Scenario.File
			c.Properties = &junitProps{Props: []junitProp{
				{"report", r.Scenario.Report},
				{"clock", string(r.Result.Clock)},
				{"duration", r.Result.Duration.String()},
			}}
		}
		switch r.Verdict() {
		case Skip:
			c.Skipped = &junitSkipped{Message: r.Skipped}
			suite.Skipped++
		case Error:
			c.Error = &junitProblem{Message: r.Result.Err, Type: "run", Text: details(r)}
			suite.Errors++
		case Fail:
			msgs := make([]string, len(r.Mismatches))
			for i, m := range r.Mismatches {
				msgs[i] = m.String()
			}
			c.Failure = &junitProblem{Message: strings.Join(msgs, "; "), Type: "expectation", Text: details(r)}
			suite.Failures++
		}
		suite.Tests++
		suite.Time += c.Time
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
