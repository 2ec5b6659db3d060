package audit

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Report is what the renderers show: the audited matrix and, with a
// baseline, the comparison, judged by the gate FailOn.
type Report struct {
	// Matrix is the audited (candidate) matrix.
	Matrix Matrix
	// Comparison is set when the audit had a baseline; its Candidate is
	// Matrix.
	Comparison *Comparison
	// FailOn is the gate: Regressed fails on confirmed regressions only,
	// Unstable on unstable cells too. Zero means Regressed.
	FailOn Verdict
}

// Failing lists the changes that fail the gate.
func (r Report) Failing() []Change {
	if r.Comparison == nil || r.Comparison.Interrupted() {
		return nil
	}
	var out []Change
	for _, ch := range r.Comparison.Changes {
		if r.fails(ch) {
			out = append(out, ch)
		}
	}
	return out
}

// NotRun lists the cells, of the matrix or its baseline, whose call could
// not run at all (the deployment could not be built): no verdict, and an
// audit with such cells passes nothing. Cells cut short by an interruption
// are not listed.
func (r Report) NotRun() []Cell {
	var out []Cell
	ms := []Matrix{r.Matrix}
	if r.Comparison != nil {
		ms = append(ms, r.Comparison.Baseline)
	}
	for _, m := range ms {
		for _, c := range m.Cells {
			if c.Error != "" && c.Error != "interrupted" {
				out = append(out, c)
			}
		}
	}
	return out
}

func (r Report) fails(ch Change) bool {
	v := ch.Verdict()
	return v == Regressed || (v == Unstable && r.FailOn == Unstable)
}

// VerdictWords defines, once, the words every report uses.
var VerdictWords = []struct{ Word, Meaning string }{
	{"ICE/UDP … TURN/TLS", "connected; the transport that carried the call when it ended, and the time to first connect. Cheapest first: ICE/UDP < ICE/TCP < TURN/UDP < TURN/TCP < TURN/TLS."},
	{"fails", "not connected when the call ended: it never connected, or it was lost and not back; the cause is the deciding fact, the details below have the whole account."},
	{"recovered", "the call broke (a fault, a failed attempt) and was connected again, media both ways, when it ended."},
	{"lost at T on TRANSPORT", "a kind of fails: the call connected over TRANSPORT, then left the connected state at T and was not back when it ended (35 s after it began, on its clock). A call that broke and came back reads recovered instead."},
	{"regressed K/K", "the cell is worse with the candidate (fails, or a costlier transport, or media no longer both ways) in each of K re-runs, each a baseline call and a candidate call started together. Fails the gate."},
	{"improved K/K", "better with the candidate in each of K re-runs."},
	{"unstable (n/K)", "the change showed in n of K re-runs only: the cell depends on timing or load as much as on the configuration. Fails the gate only with --fail-on unstable (or --strict)."},
}

// cellText is a cell in a line: "ICE/UDP 0.74s", "ICE/TCP 11.5s,
// recovered", "fails: CAUSE".
func cellText(c Cell) string {
	if c.Error != "" {
		return "not run: " + c.Error
	}
	if !c.Works() {
		if c.LostAt > 0 {
			return fmt.Sprintf("fails: lost at %.1fs on %s: %s", c.LostAt.Seconds(), c.Transport, c.causeOr("no reason given"))
		}
		return "fails: " + c.causeOr("no reason given")
	}
	s := string(c.Transport)
	if c.ConnectTime > 0 {
		s += fmt.Sprintf(" %.2fs", c.ConnectTime.Seconds())
	}
	if c.Faulted && c.Recovered {
		s += ", recovered"
	}
	if !c.MediaBothWays {
		s += ", media not both ways: " + c.causeOr("no reason given")
	}
	return s
}

// headline is the report's verdict in a line.
func (r Report) headline() string {
	m := r.Matrix
	if m.Interrupted {
		return "INTERRUPTED: the audit was stopped; cells cut short are not a verdict."
	}
	works := 0
	for _, c := range m.Cells {
		if c.Works() {
			works++
		}
	}
	s := fmt.Sprintf("%d of %d cells connect.", works, len(m.Cells))
	if n := len(r.NotRun()); n > 0 {
		return fmt.Sprintf("ERROR: %d cells could not run (see the details): no verdict. %s", n, s)
	}
	if r.Comparison == nil {
		return s
	}
	cmp := r.Comparison
	n := func(v Verdict) int { return len(cmp.Confirmed(v)) }
	verdict := "PASS"
	if len(r.Failing()) > 0 {
		verdict = "FAIL"
	}
	gate := "confirmed regressions"
	if r.FailOn == Unstable {
		gate = "confirmed regressions and unstable cells"
	}
	return fmt.Sprintf("%s against %s: %d regressed, %d unstable, %d improved (each change re-run %d times per side; the gate fails on %s). %s",
		verdict, cmp.Baseline.Deployment, n(Regressed), n(Unstable), n(Improved), cmp.Confirm, gate, s)
}

// changeLine is a change in one line: "regressed 3/3 corporate-443-only /
// browser: TURN/TLS → fails (…)".
func changeLine(ch Change) string {
	v := string(ch.Verdict()) + " (not confirmed)"
	if ch.Confirmed != nil {
		v = ch.Confirmed.String()
	}
	return fmt.Sprintf("%s  %s / %s: %s", v, ch.Archetype, ch.Profile, ch.Why)
}

// grid is the matrix as rows of archetypes and columns of profiles.
type grid struct {
	profiles []string
	rows     []gridRow
	details  []detail
}

type gridRow struct {
	archetype string
	cells     []gridCell
}

type gridCell struct {
	text   string
	works  bool
	change string // the change's verdict, if the cell changed
	note   int    // its detail's number, 0 for none
}

type detail struct {
	n          int
	name, text string
}

func makeGrid(m Matrix, cmp *Comparison) grid {
	var g grid
	prof := map[string]int{}
	arch := map[string]int{}
	for _, c := range m.Cells {
		if _, ok := prof[c.Profile]; !ok {
			prof[c.Profile] = len(g.profiles)
			g.profiles = append(g.profiles, c.Profile)
		}
	}
	for _, c := range m.Cells {
		i, ok := arch[c.Archetype]
		if !ok {
			i = len(g.rows)
			arch[c.Archetype] = i
			g.rows = append(g.rows, gridRow{archetype: c.Archetype, cells: make([]gridCell, len(g.profiles))})
		}
		gc := gridCell{text: cellText(c), works: c.Works() && c.MediaBothWays}
		if cmp != nil {
			for _, ch := range cmp.Changes {
				if ch.Archetype == c.Archetype && ch.Profile == c.Profile {
					gc.change = string(ch.Verdict())
					if ch.Confirmed != nil {
						gc.change = ch.Confirmed.String()
					}
				}
			}
		}
		var text []string
		if c.Reason != "" {
			text = append(text, c.Reason)
		}
		if c.Symptom != "" {
			text = append(text, "symptom: "+c.Symptom)
		}
		if len(text) > 0 {
			gc.note = len(g.details) + 1
			g.details = append(g.details, detail{n: gc.note, name: c.Archetype + " / " + c.Profile, text: strings.Join(text, "; ")})
		}
		g.rows[i].cells[prof[c.Profile]] = gc
	}
	return g
}

// Markdown writes the report: the verdict, the changes one line each, a
// table of archetypes × profiles, the verdict words, then the details.
func Markdown(w io.Writer, r Report) error {
	m := r.Matrix
	var b strings.Builder
	fmt.Fprintf(&b, "# icelab audit: %s\n\n", m.Deployment)
	fmt.Fprintf(&b, "**%s**\n\n", esc(r.headline()))
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
	if cmp := r.Comparison; cmp != nil && !cmp.Interrupted() {
		if len(cmp.Changes) == 0 {
			b.WriteString("No cell changed against the baseline.\n\n")
		} else {
			b.WriteString("## Changes against the baseline\n\n")
			for _, ch := range cmp.Changes {
				line := esc(changeLine(ch))
				if r.fails(ch) {
					line = "**" + line + "**"
				}
				fmt.Fprintf(&b, "- %s\n", line)
				if c := ch.Confirmed; c != nil && c.Verdict == Unstable {
					fmt.Fprintf(&b, "  - re-runs, baseline: %s; candidate: %s\n", esc(strings.Join(shortAll(c.Baseline), ", ")), esc(strings.Join(shortAll(c.Candidate), ", ")))
				}
			}
			b.WriteString("\n")
		}
	}
	g := makeGrid(m, r.Comparison)
	b.WriteString("| archetype | " + strings.Join(g.profiles, " | ") + " |\n|---|" + strings.Repeat("---|", len(g.profiles)) + "\n")
	for _, row := range g.rows {
		fmt.Fprintf(&b, "| %s |", row.archetype)
		for _, c := range row.cells {
			t := esc(c.text)
			if c.change != "" {
				t = "**" + c.change + "** " + t
			}
			if c.note > 0 {
				t += fmt.Sprintf(" [%d]", c.note)
			}
			fmt.Fprintf(&b, " %s |", t)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n## Verdict words\n\n")
	for _, v := range VerdictWords {
		fmt.Fprintf(&b, "- **%s**: %s\n", v.Word, v.Meaning)
	}
	if len(g.details) > 0 {
		b.WriteString("\n## Details\n\n")
		for _, d := range g.details {
			fmt.Fprintf(&b, "%d. %s: %s\n", d.n, d.name, esc(d.text))
		}
	}
	fmt.Fprintf(&b, "\n%d cells; wall time %s for the fake-clock cells, then %s for the real-clock cells.\n",
		len(m.Cells), m.FakeWall.Round(10*time.Millisecond), m.RealWall.Round(10*time.Millisecond))
	_, err := io.WriteString(w, b.String())
	return err
}

// shortAll is outcomes with a failure's account cut to its first clause.
func shortAll(outcomes []string) []string {
	out := make([]string, len(outcomes))
	for i, o := range outcomes {
		out[i] = firstClause(o)
	}
	return out
}

// esc keeps a table cell on one line and its pipes literal.
func esc(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

// jsonReport is the JSON document.
type jsonReport struct {
	Verdict  string    `json:"verdict"`
	FailOn   Verdict   `json:"fail_on,omitempty"`
	Matrix   Matrix    `json:"matrix"`
	Baseline *Matrix   `json:"baseline,omitempty"`
	Changes  *[]Change `json:"changes,omitempty"`
	Confirm  int       `json:"confirm,omitempty"`
	Words    []string  `json:"verdict_words"`
}

// JSON writes the report as indented JSON: the verdict line, the matrix
// and, with a baseline, the baseline and the confirmed changes. Durations
// are in nanoseconds (keys ending _ns).
func JSON(w io.Writer, r Report) error {
	j := jsonReport{Verdict: r.headline(), Matrix: r.Matrix}
	for _, v := range VerdictWords {
		j.Words = append(j.Words, v.Word+": "+v.Meaning)
	}
	if cmp := r.Comparison; cmp != nil {
		j.Baseline, j.Confirm, j.FailOn = &cmp.Baseline, cmp.Confirm, r.failOn()
		changes := cmp.Changes
		if changes == nil {
			changes = []Change{}
		}
		j.Changes = &changes
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(j)
}

func (r Report) failOn() Verdict {
	if r.FailOn == "" {
		return Regressed
	}
	return r.FailOn
}

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
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
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// JUnit writes one test case per cell (classname the archetype, name the
// profile). A case fails when its change fails the gate: a confirmed
// regression, or with FailOn Unstable an unstable cell. Its output is the
// cell's outcome either way, so a cell that fails to connect without a
// baseline is reported, not failed: the exit status and the report agree.
func JUnit(w io.Writer, r Report) error {
	m := r.Matrix
	s := junitSuite{Name: "icelab audit " + m.Deployment, Tests: len(m.Cells)}
	var total time.Duration
	failing := r.Failing()
	for _, c := range m.Cells {
		total += c.Wall
		out := cellText(c)
		if c.Reason != "" {
			out += "\n" + c.Reason
		}
		tc := junitCase{Name: c.Profile, Classname: c.Archetype, Time: fmt.Sprintf("%.3f", c.Wall.Seconds()), SystemOut: out}
		for _, ch := range failing {
			if ch.Archetype == c.Archetype && ch.Profile == c.Profile {
				text := ch.Why
				if cf := ch.Confirmed; cf != nil {
					text += fmt.Sprintf("\nre-runs, baseline: %s\nre-runs, candidate: %s", strings.Join(cf.Baseline, " | "), strings.Join(cf.Candidate, " | "))
				}
				tc.Failure = &junitFailure{Message: changeLine(ch), Type: string(ch.Verdict()), Text: text}
				s.Failures++
			}
		}
		if c.Error != "" {
			tc.Skipped = &junitFailure{Message: c.Reason}
			s.Skipped++
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

// htmlPage is the HTML report, in the run report's look (reports/html.tmpl:
// the Okabe–Ito colours, each with a word).
var htmlPage = template.Must(template.New("audit").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>icelab audit: {{.Deployment}}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: .5em 0 1em; }
th, td { border: 1px solid #ccc; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
.works { color: #0072B2; } .fails { color: #D55E00; }
.change { font-weight: bold; } .gate { color: #D55E00; font-weight: bold; }
.headline { font-weight: bold; } ol.details li { margin-bottom: .4em; }
</style>
</head>
<body>
<h1>icelab audit: {{.Deployment}}</h1>
<p class="headline">{{.Headline}}</p>
{{if .Firewall}}<p>Node firewall: {{.Firewall}}</p>{{end}}
{{if .TLSProblem}}<p class="fails">TLS problem: {{.TLSProblem}}</p>{{end}}
{{if .Notes}}<ul>{{range .Notes}}<li>note: {{.}}</li>{{end}}</ul>{{end}}
{{if .Compared}}{{if .Changes}}<h2>Changes against the baseline</h2>
<ul>{{range .Changes}}<li{{if .Fails}} class="gate"{{end}}>{{.Line}}{{if .Reruns}}<br><small>{{.Reruns}}</small>{{end}}</li>{{end}}</ul>
{{else}}<p>No cell changed against the baseline.</p>{{end}}{{end}}
<table>
<tr><th>archetype</th>{{range .Profiles}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr><td>{{.Archetype}}</td>{{range .Cells}}<td class="{{if .Works}}works{{else}}fails{{end}}">{{if .Change}}<span class="change">{{.Change}}</span> {{end}}{{.Text}}{{if .Note}} <a href="#d{{.Note}}">[{{.Note}}]</a>{{end}}</td>{{end}}</tr>
{{end}}</table>
<h2>Verdict words</h2>
<dl>{{range .Words}}<dt><b>{{.Word}}</b></dt><dd>{{.Meaning}}</dd>{{end}}</dl>
{{if .Details}}<h2>Details</h2>
<ol class="details">{{range .Details}}<li id="d{{.N}}"><b>{{.Name}}</b>: {{.Text}}</li>{{end}}</ol>{{end}}
<p>{{.Timing}}</p>
</body>
</html>
`))

// HTML writes the report as one self-contained page: the same account
// as Markdown.
func HTML(w io.Writer, r Report) error {
	m := r.Matrix
	g := makeGrid(m, r.Comparison)
	type hCell struct {
		Text, Change string
		Works        bool
		Note         int
	}
	type hRow struct {
		Archetype string
		Cells     []hCell
	}
	type hChange struct {
		Line, Reruns string
		Fails        bool
	}
	type hDetail struct {
		N          int
		Name, Text string
	}
	data := struct {
		Deployment, Firewall, TLSProblem, Headline, Timing string
		Notes, Profiles                                    []string
		Compared                                           bool
		Changes                                            []hChange
		Rows                                               []hRow
		Words                                              any
		Details                                            []hDetail
	}{Deployment: m.Deployment, Firewall: m.Firewall, TLSProblem: m.TLSProblem, Headline: r.headline(),
		Notes: m.Notes, Profiles: g.profiles, Words: VerdictWords,
		Timing: fmt.Sprintf("%d cells; wall time %s for the fake-clock cells, then %s for the real-clock cells.",
			len(m.Cells), m.FakeWall.Round(10*time.Millisecond), m.RealWall.Round(10*time.Millisecond))}
	if cmp := r.Comparison; cmp != nil && !cmp.Interrupted() {
		data.Compared = true
		for _, ch := range cmp.Changes {
			hc := hChange{Line: changeLine(ch), Fails: r.fails(ch)}
			if c := ch.Confirmed; c != nil && c.Verdict == Unstable {
				hc.Reruns = "re-runs, baseline: " + strings.Join(shortAll(c.Baseline), ", ") + "; candidate: " + strings.Join(shortAll(c.Candidate), ", ")
			}
			data.Changes = append(data.Changes, hc)
		}
	}
	for _, row := range g.rows {
		hr := hRow{Archetype: row.archetype}
		for _, c := range row.cells {
			hr.Cells = append(hr.Cells, hCell{Text: c.text, Change: c.change, Works: c.works, Note: c.note})
		}
		data.Rows = append(data.Rows, hr)
	}
	for _, d := range g.details {
		data.Details = append(data.Details, hDetail{N: d.n, Name: d.name, Text: d.text})
	}
	return htmlPage.Execute(w, data)
}

// Write writes audit.md, audit.html, audit.json and junit.xml to dir,
// creating it.
func Write(dir string, r Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("audit: reports: %w", err)
	}
	files := []struct {
		name  string
		write func(io.Writer, Report) error
	}{
		{"audit.md", Markdown},
		{"audit.html", HTML},
		{"audit.json", JSON},
		{"junit.xml", JUnit},
	}
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		out, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("audit: report %s: %w", path, err)
		}
		werr := f.write(out, r)
		cerr := out.Close()
		if werr != nil || cerr != nil {
			return fmt.Errorf("audit: report %s: %w", path, errors.Join(werr, cerr))
		}
	}
	return nil
}

// Summary is the cell in a line, as the table shows it: "ICE/UDP 0.74s",
// "ICE/TCP 11.5s, recovered", "fails: CAUSE".
func (c Cell) Summary() string { return cellText(c) }
