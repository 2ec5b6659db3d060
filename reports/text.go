package reports

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/icelab/icelab/harness"
)

// details renders a run for a person: verdict, the repeats' account,
// mismatches, each client's outcome, failure (once), attempts with the
// pairs each tried, media per flow and timeline, the faults applied and
// the drops.
func details(r Run) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n", r.name(), r.Verdict())
	if rep := r.Repeats; rep != nil {
		fmt.Fprintf(&b, "%s\n", rep.Tally())
		for _, l := range rep.Lines() {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	if r.Scenario != nil && r.Scenario.Report != "" {
		fmt.Fprintf(&b, "field report: %s\n", r.Scenario.Report)
	}
	if len(r.Invalid) > 0 {
		b.WriteString("the scenario file could not be loaded:\n")
		for _, e := range r.Invalid {
			fmt.Fprintf(&b, "  %s\n", e)
		}
		return b.String()
	}
	if r.Skipped != "" {
		fmt.Fprintf(&b, "skipped: %s\n", r.Skipped)
		return b.String()
	}
	if r.Result.Interrupted {
		fmt.Fprintf(&b, "%s\n", r.interruptedNote())
	}
	if r.Verdict() == Observed {
		b.WriteString("no expectations: what happened is reported, nothing is judged\n")
	}
	if r.Result.Err != "" {
		fmt.Fprintf(&b, "run error: %s\n", r.RunError())
	}
	if len(r.Mismatches) > 0 {
		b.WriteString("\nexpected vs observed:\n")
		for _, m := range shownMismatches(r) {
			fmt.Fprintf(&b, "  %s\n", m)
		}
	}
	l := newLabels(r.Result)
	for i := range r.Result.Clients {
		c := &r.Result.Clients[i]
		who := "client"
		if c.Peer != "" {
			who = "connection" // a peer's end of a peer-to-peer connection
		}
		fmt.Fprintf(&b, "\n%s %s: %s\n", who, c.Name, clientSummary(c, l))
		if c.Failure != "" {
			fmt.Fprintf(&b, "  %s: %s\n", strings.ToLower(reasonLabel(reasonKind(r, c.Name))), c.Failure)
		}
		for _, line := range attemptLines(c, l) {
			fmt.Fprintf(&b, "  %s\n", line)
		}
		for _, s := range ladderSteps(c) {
			fmt.Fprintf(&b, "  ladder %s\n", s)
		}
		for _, s := range iceConfigsSent(c) {
			fmt.Fprintf(&b, "  ice config %s\n", s)
		}
		for _, m := range c.Media {
			fmt.Fprintf(&b, "  media %s: %s\n", flowName(m), flowSummary(m))
			if len(m.Streams) > 1 {
				for j, st := range m.Streams {
					fmt.Fprintf(&b, "    %s: %s\n", streamName(j, len(m.Streams), st), qualitySummary(&st.Quality))
				}
			}
		}
		if tl := c.Timeline(); tl != "" {
			b.WriteString("  timeline:\n")
			for line := range strings.Lines(tl) {
				b.WriteString("  " + line)
			}
		}
	}
	if len(r.Result.Faults) > 0 {
		b.WriteString("\nfaults:\n")
		for _, f := range r.Result.Faults {
			fmt.Fprintf(&b, "  %9.3fs  %s: %s\n", f.At.Seconds(), f.Name, f.What)
		}
	}
	if drops := sortedDrops(r.Result.Drops); len(drops) > 0 {
		b.WriteString("\ndropped by the network:\n")
		for _, d := range drops {
			fmt.Fprintf(&b, "  %6d  %s\n", d.count, d.reason)
		}
	}
	return b.String()
}

// attemptLines are the client's attempts, each with the candidate pairs it
// tried: "attempt 2 at 8.10s: ice failed: reconnect preferring tcp
// [policy …], connected, selected …" and a line per pair.
func attemptLines(c *harness.ClientResult, l labels) []string {
	var out []string
	for i, a := range c.Attempts {
		line := fmt.Sprintf("attempt %d at %s: %s [%s]", i+1, seconds(a.At), a.Why, a.Policy)
		if a.Connected {
			line += ", connected"
		}
		if a.Selected != nil {
			line += ", selected " + l.pair(a.Selected)
		}
		if note := pairsNote(c, i); note != "" {
			line += "; pairs tried: " + note
		}
		out = append(out, line)
		for _, p := range l.checks(a.Checks) {
			nom := ""
			if p.Nominated {
				nom = ", nominated"
			}
			out = append(out, fmt.Sprintf("  pair %s -> %s: %s%s", p.Local, p.Remote, p.State, nom))
		}
	}
	return out
}

// clientSummary is one line: transport, pair, connect and recovery times.
func clientSummary(c *harness.ClientResult, l labels) string {
	parts := []string{"transport " + transportOf(c)}
	if c.Selected != nil {
		parts = append(parts, "pair "+l.pair(c.Selected))
	}
	if c.Connected {
		parts = append(parts, "connected at "+seconds(c.ConnectedAt))
	} else {
		parts = append(parts, "never connected")
	}
	if c.FailedAt > 0 {
		parts = append(parts, "failure detected at "+seconds(c.FailedAt))
	}
	if c.Recovered {
		parts = append(parts, fmt.Sprintf("recovered at %s (after %s)", seconds(c.RecoveredAt), seconds(c.RecoveryTime())))
	}
	parts = append(parts, "final state "+c.FinalState())
	return strings.Join(parts, ", ")
}

// transportOf says what carried the call and what it ended on: "ICE/UDP",
// "ICE/UDP, lost at 16.5 s", "none".
func transportOf(c *harness.ClientResult) string {
	s := c.TransportSummary()
	if s == "" {
		s = string(harness.NoTransport)
	}
	if c.Route != "" {
		// A peer-to-peer connection: say what each end used.
		s += "; " + c.Route
	}
	return s
}

// nodeSide is the media node's end of the selected pair: its own candidate
// and the client as it saw it, after any NAT, each labelled as everywhere
// else.
func nodeSide(c *harness.ClientResult, l labels) string {
	if c.NodeSelected == nil {
		return "–"
	}
	side := l.candidate(c.NodeSelected.Local) + " ← " + l.candidate(c.NodeSelected.Remote)
	if c.Remote != "" {
		// A peer-to-peer connection: the remote peer's end.
		return c.Remote + ": " + side
	}
	return side
}

// mediaBothWays is the whole-call judgement with the outages on the way.
func mediaBothWays(c *harness.ClientResult) string {
	if c.NoMediaExpected {
		return "n/a (nothing published or subscribed)"
	}
	s := yesNo(c.MediaBothWays)
	if len(c.Outages) > 0 {
		parts := make([]string, len(c.Outages))
		for i, o := range c.Outages {
			parts[i] = o.String()
		}
		s += "; outages " + strings.Join(parts, ", ")
	}
	return s
}

// quality is the worst of the client's RTP flows: loss, mean round trip,
// jitter and the longest freeze; a flow that received nothing has none of
// these, and is named instead.
func quality(c *harness.ClientResult) string {
	var loss float64
	var rtt, jitter, freeze time.Duration
	var nothing []string
	flows := 0
	for _, m := range c.Media {
		q := m.Quality
		if q == nil {
			continue
		}
		if q.NothingReceived {
			nothing = append(nothing, fmt.Sprintf("%s (sent %d)", flowName(m), q.Sent))
			continue
		}
		flows++
		loss = max(loss, q.LossRate)
		rtt = max(rtt, q.RTTMean)
		jitter = max(jitter, q.Jitter)
		freeze = max(freeze, q.LongestFreeze)
	}
	if len(nothing) > 0 {
		return "nothing received on " + strings.Join(nothing, ", ")
	}
	if flows == 0 {
		return "–"
	}
	s := fmt.Sprintf("loss %.1f%%, jitter %d ms", loss*100, jitter.Milliseconds())
	if rtt > 0 {
		s += fmt.Sprintf(", rtt %d ms", rtt.Milliseconds())
	}
	if freeze > 0 {
		s += fmt.Sprintf(", freeze %.1fs", freeze.Seconds())
	}
	return s
}

func seconds(d time.Duration) string {
	return fmt.Sprintf("%.2fs", d.Seconds())
}

type drop struct {
	reason string
	count  int
}

func sortedDrops(m map[string]int) []drop {
	out := make([]drop, 0, len(m))
	for k, v := range m {
		out = append(out, drop{k, v})
	}
	slices.SortFunc(out, func(a, b drop) int {
		return cmp.Or(cmp.Compare(b.count, a.count), cmp.Compare(a.reason, b.reason))
	})
	return out
}
