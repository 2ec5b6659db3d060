package reports

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/icelab/icelab/harness"
)

// details renders a run for a person: verdict, mismatches, each client's
// outcome, failure and timeline, the faults applied and the drops.
func details(r Run) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n", r.name(), r.Verdict())
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
		for _, m := range r.Mismatches {
			fmt.Fprintf(&b, "  %s\n", m)
		}
	}
	for i := range r.Result.Clients {
		c := &r.Result.Clients[i]
		who := "client"
		if c.Peer != "" {
			who = "connection" // a peer's end of a peer-to-peer connection
		}
		fmt.Fprintf(&b, "\n%s %s: %s\n", who, c.Name, clientSummary(c))
		if c.Failure != "" {
			fmt.Fprintf(&b, "  failure: %s\n", c.Failure)
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

// clientSummary is one line: transport, pair, connect and recovery times.
func clientSummary(c *harness.ClientResult) string {
	parts := []string{"transport " + transportOf(c)}
	if c.Selected != nil {
		parts = append(parts, "pair "+c.Selected.String())
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
// and the client as it saw it, after any NAT.
func nodeSide(c *harness.ClientResult) string {
	if c.NodeSelected == nil {
		return "–"
	}
	if c.Remote != "" {
		// A peer-to-peer connection: the remote peer's end.
		return c.Remote + ": " + c.NodeSelected.Local.Type + " " + c.NodeSelected.Local.Address + " ← " + c.NodeSelected.Remote.Type + " " + c.NodeSelected.Remote.Address
	}
	return c.NodeSelected.Local.Type + " " + c.NodeSelected.Local.Address + " ← " + c.NodeSelected.Remote.Type + " " + c.NodeSelected.Remote.Address
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
// jitter and the longest freeze.
func quality(c *harness.ClientResult) string {
	var loss float64
	var rtt, jitter, freeze time.Duration
	flows := 0
	for _, m := range c.Media {
		q := m.Quality
		if q == nil {
			continue
		}
		flows++
		loss = max(loss, q.LossRate)
		rtt = max(rtt, q.RTTMean)
		jitter = max(jitter, q.Jitter)
		freeze = max(freeze, q.LongestFreeze)
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
