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
	value   func(c *harness.ClientResult) string
}

// clientColumns are the summary table's per-client columns, in order.
var clientColumns = []clientColumn{
	{"Client", func(c *harness.ClientResult) string { return cell(c.Name) }},
	{"Transport", func(c *harness.ClientResult) string { return transportOf(c) }},
	{"Candidates (local → remote)", candidates},
	{"Node's (or remote peer's) side", func(c *harness.ClientResult) string { return cell(nodeSide(c)) }},
	{"Connected", connected},
	{"Media both ways", func(c *harness.ClientResult) string { return cell(mediaBothWays(c)) }},
	{"Quality (worst flow)", quality},
	{"Failure detected at", failedAt},
	{"Recovered", recovered},
}

// WriteMarkdown writes the suite as a Markdown report: a summary table
// with a row per client, then each scenario's mismatches, failure reasons
// and timelines.
func WriteMarkdown(w io.Writer, s Suite) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# icelab report\n\n%s.\n\n", Summary(s))
	headings := []string{"Scenario", "Field report", "Clock"}
	for _, col := range clientColumns {
		headings = append(headings, col.heading)
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
		if len(r.Result.Clients) == 0 {
			// No client to show: the second column says why.
			cols := make([]string, len(clientColumns))
			cols[1] = cell(clip(r.Problem(), reportWidth))
			row(&b, append(append(first, cols...), string(r.Verdict()))...)
			continue
		}
		for i := range r.Result.Clients {
			c := &r.Result.Clients[i]
			cols, verdict := first, string(r.Verdict())
			if i > 0 {
				cols, verdict = []string{"", "", ""}, ""
			}
			for _, col := range clientColumns {
				cols = append(cols, col.value(c))
			}
			row(&b, append(cols, verdict)...)
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
		for _, m := range r.Mismatches {
			who := m.Client
			if who == "" {
				who = "run"
			}
			fmt.Fprintf(b, "- **%s** `%s`: expected %s, observed %s\n", who, m.Field, m.Expected, m.Observed)
		}
	}
	for i := range r.Result.Clients {
		c := &r.Result.Clients[i]
		fmt.Fprintf(b, "\n### %s\n\n%s\n", c.Name, clientSummary(c))
		if c.Failure != "" {
			fmt.Fprintf(b, "\nFailure: %s\n", c.Failure)
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
