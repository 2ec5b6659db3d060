package reports

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/icelab/icelab/harness"
)

// reportWidth bounds the field report quoted in the summary table.
const reportWidth = 90

// clientColumn is one per-client column of the summary table: its heading
// and what a client's row shows in it. A new column is one entry here.
type clientColumn struct {
	heading string
	value   func(c *harness.ClientResult, l labels) string
}

// clientColumns are the summary table's per-client columns, in order.
var clientColumns = []clientColumn{
	{"Client", func(c *harness.ClientResult, _ labels) string { return cell(c.Name) }},
	{"Transport", func(c *harness.ClientResult, _ labels) string { return transportOf(c) }},
	{"Candidates (local → remote)", func(c *harness.ClientResult, _ labels) string { return candidates(c) }},
	{"Node's (or remote peer's) side", func(c *harness.ClientResult, l labels) string { return cell(nodeSide(c, l)) }},
	{"Connected", func(c *harness.ClientResult, _ labels) string { return connected(c) }},
	{"Media both ways", func(c *harness.ClientResult, _ labels) string { return cell(mediaBothWays(c)) }},
	{"Quality (worst flow)", func(c *harness.ClientResult, _ labels) string { return cell(quality(c)) }},
	{"Failure detected at", func(c *harness.ClientResult, _ labels) string { return failedAt(c) }},
	{"Recovered", func(c *harness.ClientResult, _ labels) string { return recovered(c) }},
}

// WriteMarkdown writes the suite as a Markdown report: a summary table
// with a row per client (and, when scenarios ran more than once, the runs
// that met their expectations), then each scenario's repeats, mismatches,
// failure reasons (each once), attempts with the pairs they tried, media
// per flow as sent against received, and timelines.
func WriteMarkdown(w io.Writer, s Suite) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# icelab report\n\n%s.\n\n", Summary(s))
	repeated := slices.ContainsFunc(s.Runs, func(r Run) bool { return r.Repeats != nil })
	headings := []string{"Scenario", "Field report", "Clock"}
	for _, col := range clientColumns {
		headings = append(headings, col.heading)
	}
	if repeated {
		headings = append(headings, "Runs met")
	}
	headings = append(headings, "Verdict")
	row(&b, headings...)
	row(&b, slices.Repeat([]string{"---"}, len(headings))...)
	for _, r := range s.Runs {
		report := ""
		if r.Scenario != nil {
			report = r.Scenario.Report
		}
		first := []string{link(r.name()), cell(clip(report, reportWidth)), string(r.Result.Clock)}
		last := []string{string(r.Verdict())}
		if repeated {
			met := "–"
			if r.Repeats != nil {
				met = fmt.Sprintf("%d/%d", r.Repeats.Met, r.Repeats.Runs)
				if !r.Repeats.Stable() {
					met += ", outcomes differed"
				}
			}
			last = append([]string{met}, last...)
		}
		if len(r.Result.Clients) == 0 {
			// No client to show: the second column says why.
			cols := make([]string, len(clientColumns))
			cols[1] = cell(clip(r.Problem(), reportWidth))
			row(&b, append(append(first, cols...), last...)...)
			continue
		}
		l := newLabels(r.Result)
		for i := range r.Result.Clients {
			c := &r.Result.Clients[i]
			cols, end := first, last
			if i > 0 {
				cols, end = []string{"", "", ""}, make([]string, len(last))
			}
			for _, col := range clientColumns {
				cols = append(cols, col.value(c, l))
			}
			row(&b, append(cols, end...)...)
		}
	}
	for _, r := range s.Runs {
		writeSection(&b, r)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeSection(b *strings.Builder, r Run) {
	fmt.Fprintf(b, "\n## %s\n\n**%s**", r.name(), r.Verdict())
	if len(r.Invalid) > 0 {
		b.WriteString("\n\nThe scenario file could not be loaded:\n\n")
		for _, e := range r.Invalid {
			fmt.Fprintf(b, "- `%s`\n", e)
		}
		return
	}
	if r.Scenario != nil {
		if r.Scenario.File != "" {
			fmt.Fprintf(b, " · `%s`", r.Scenario.File)
		}
		if r.Scenario.Source != "" {
			fmt.Fprintf(b, " · %s", r.Scenario.Source)
		}
		if r.Scenario.Report != "" {
			fmt.Fprintf(b, "\n\n> %s", strings.ReplaceAll(r.Scenario.Report, "\n", "\n> "))
		}
	}
	b.WriteString("\n")
	if r.Skipped != "" {
		fmt.Fprintf(b, "\nSkipped: %s\n", r.Skipped)
		return
	}
	if rep := r.Repeats; rep != nil {
		fmt.Fprintf(b, "\n%s.\n", strings.ToUpper(rep.Tally()[:1])+rep.Tally()[1:])
		if lines := rep.Lines(); len(lines) > 0 {
			b.WriteString("\n")
			for _, l := range lines {
				fmt.Fprintf(b, "- %s\n", l)
			}
		}
	}
	if r.Result.Interrupted {
		fmt.Fprintf(b, "\nInterrupted: %s.\n", r.interruptedNote())
	}
	if r.Verdict() == Observed {
		b.WriteString("\nNo expectations: what happened is reported, nothing is judged.\n")
	}
	if r.Result.Err != "" {
		fmt.Fprintf(b, "\nThe run did not happen: %s\n", r.RunError())
	}
	if len(r.Mismatches) > 0 {
		b.WriteString("\nExpected vs observed:\n\n")
		for _, m := range shownMismatches(r) {
			who := m.Client
			if who == "" {
				who = "run"
			}
			fmt.Fprintf(b, "- **%s** `%s`: expected %s, observed %s\n", who, m.Field, m.Expected, m.Observed)
		}
	}
	l := newLabels(r.Result)
	for i := range r.Result.Clients {
		c := &r.Result.Clients[i]
		fmt.Fprintf(b, "\n### %s\n\n%s\n", c.Name, clientSummary(c, l))
		if c.Failure != "" {
			fmt.Fprintf(b, "\n%s: %s\n", reasonLabel(reasonKind(r, c.Name)), c.Failure)
		}
		if lines := attemptLines(c, l); len(lines) > 0 {
			b.WriteString("\nAttempts and the candidate pairs each tried:\n\n")
			for _, line := range lines {
				if rest, ok := strings.CutPrefix(line, "  "); ok {
					fmt.Fprintf(b, "  - `%s`\n", rest)
				} else {
					fmt.Fprintf(b, "- %s\n", line)
				}
			}
		}
		if steps := ladderSteps(c); len(steps) > 0 {
			b.WriteString("\nThe media node's transport ladder (LiveKit's):\n\n")
			for _, s := range steps {
				fmt.Fprintf(b, "- %s\n", s)
			}
		}
		if sent := iceConfigsSent(c); len(sent) > 0 {
			b.WriteString("\nICE configurations the node sent:\n\n")
			for _, s := range sent {
				fmt.Fprintf(b, "- %s\n", s)
			}
		}
		if len(c.Media) > 0 {
			b.WriteString("\nMedia, sent against received:\n\n")
			for _, m := range c.Media {
				fmt.Fprintf(b, "- %s: %s\n", flowName(m), flowSummary(m))
				if len(m.Streams) > 1 {
					for j, st := range m.Streams {
						fmt.Fprintf(b, "  - %s: %s\n", streamName(j, len(m.Streams), st), qualitySummary(&st.Quality))
					}
				}
			}
		}
		if tl := c.Timeline(); tl != "" {
			fmt.Fprintf(b, "\n```\n%s```\n", tl)
		}
	}
	if len(r.Result.Faults) > 0 {
		b.WriteString("\nFaults:\n\n")
		for _, f := range r.Result.Faults {
			fmt.Fprintf(b, "- %s %s: %s\n", seconds(f.At), f.Name, f.What)
		}
	}
	if drops := sortedDrops(r.Result.Drops); len(drops) > 0 {
		b.WriteString("\nDropped by the network:\n\n")
		for i, d := range drops {
			if i == 8 {
				fmt.Fprintf(b, "- … %d more reasons\n", len(drops)-i)
				break
			}
			fmt.Fprintf(b, "- %d × %s\n", d.count, d.reason)
		}
	}
}

// Summary counts the suite's runs by verdict in one sentence, with the
// invocation's wall time.
func Summary(s Suite) string {
	counts := s.Counts()
	parts := []string{
		fmt.Sprintf("%d passed", counts[Pass]),
		fmt.Sprintf("%d failed", counts[Fail]),
		Plural(counts[Error], "error"),
		fmt.Sprintf("%d skipped", counts[Skip]),
	}
	if n := counts[Observed]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d observed without expectations", n))
	}
	if n := counts[Interrupted]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d interrupted", n))
	}
	runs, met, unstable := 0, 0, 0
	for _, r := range s.Runs {
		if r.Repeats != nil {
			runs, met = runs+r.Repeats.Runs, met+r.Repeats.Met
			if !r.Repeats.Stable() {
				unstable++
			}
		}
	}
	if runs > 0 {
		parts = append(parts, fmt.Sprintf("%d of %s met expectations", met, Plural(runs, "run")), fmt.Sprintf("%d with outcomes that differed between runs", unstable))
	}
	sum := fmt.Sprintf("%s: %s in %s of wall time", Plural(len(s.Runs), "scenario"), strings.Join(parts, ", "), seconds(s.Wall))
	if s.Interrupted {
		sum += "; interrupted by a signal, so runs cut short or not started are not evaluated"
	}
	return sum
}

func row(b *strings.Builder, cols ...string) {
	b.WriteString("| " + strings.Join(cols, " | ") + " |\n")
}

// cell makes text safe inside a table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "\r", "")
	s = strings.ReplaceAll(s, "\n", " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

// link points at the scenario's section.
func link(name string) string {
	anchor := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		case r == ' ':
			return '-'
		}
		return -1
	}, name)
	return fmt.Sprintf("[%s](#%s)", cell(name), anchor)
}

func clip(s string, n int) string {
	r := []rune(strings.Join(strings.Fields(s), " "))
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n-1]) + "…"
}

func candidates(c *harness.ClientResult) string {
	if c.Selected == nil {
		return "–"
	}
	return c.Selected.Local.Type + " → " + c.Selected.Remote.Type
}

func connected(c *harness.ClientResult) string {
	if !c.Connected {
		return "no"
	}
	return "yes, " + seconds(c.ConnectedAt)
}

func failedAt(c *harness.ClientResult) string {
	if c.FailedAt == 0 {
		return "–"
	}
	return seconds(c.FailedAt)
}

// recovered gives both recovery figures: from when media stopped to when
// it flowed again (what a user heard), and from the detected failure to
// connected again (the ICE states).
func recovered(c *harness.ClientResult) string {
	switch {
	case c.Recovered:
		s := "yes"
		if m := c.MediaRecoveryTime(); m > 0 {
			s += ", media back after " + seconds(m)
		}
		return s + ", connected again " + seconds(c.RecoveryTime()) + " after the failure was detected"
	case c.FailedAt > 0:
		return "no"
	}
	return "–"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
