package reports

import (
	"fmt"
	"strings"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/harness/media"
	"github.com/icelab/icelab/scenarios"
)

// What every human-readable format shows the same way: a failure's
// headline, a reason once, one label per candidate, a flow as sent against
// received.

// headline is the first clause of a failure reason, which the harness
// builds as the failure and then its evidence, joined by "; ": "ICE never
// connected: no candidate pair succeeded".
func headline(failure string) string {
	h, _, _ := strings.Cut(failure, "; ")
	return h
}

// Reason kinds: how a client's failure reads in a run's verdict.
const (
	// reasonUnmet: the run did not meet its expectations; the failure is
	// why, or part of it.
	reasonUnmet = "unmet"
	// reasonExpected: the run met expectations that name the client, so
	// the failure is what the scenario expected.
	reasonExpected = "expected"
	// reasonObserved: nothing judged the client: a scenario without
	// expectations for it.
	reasonObserved = "observed"
)

// reasonKind says how client's failure reads in run r.
func reasonKind(r Run, client string) string {
	if !r.Verdict().Met() {
		return reasonUnmet
	}
	if r.Scenario != nil {
		if _, ok := r.Scenario.Expect[client]; ok {
			return reasonExpected
		}
		if c := r.Result.Client(client); c != nil && c.Peer != "" {
			// A peer's expectation covers each of its connections.
			if _, ok := r.Scenario.Expect[c.Peer]; ok {
				return reasonExpected
			}
		}
	}
	return reasonObserved
}

// reasonLabel is what a failure is called in the reports.
func reasonLabel(kind string) string {
	switch kind {
	case reasonExpected:
		return "Failed, as expected"
	case reasonObserved:
		return "Failed (not judged)"
	}
	return "Failure"
}

// shownMismatches are the run's mismatches as the reports list them, where
// each client's failure is printed once, on its own: the note "(failure:
// …)" that scenarios adds to an observation is replaced by a pointer to it.
func shownMismatches(r Run) []scenarios.Mismatch {
	out := make([]scenarios.Mismatch, len(r.Mismatches))
	for i, m := range r.Mismatches {
		out[i] = m
		c := r.Result.Client(m.Client)
		if c == nil || c.Failure == "" {
			continue
		}
		note := fmt.Sprintf(" (failure: %s)", c.Failure)
		if obs, ok := strings.CutSuffix(m.Observed, note); ok {
			out[i].Observed = obs + " (see " + m.Client + "'s failure)"
		} else if m.Observed == fmt.Sprintf("failure %q", c.Failure) {
			out[i].Observed = m.Client + "'s failure"
		}
	}
	return out
}

// Reasons are why a run did not meet its expectations, one line each, as
// a terminal shows them: each mismatch, then the failure of each client a
// mismatch points to, once ("alice's failure: …").
func (r Run) Reasons() []string {
	var out, failures []string
	seen := map[string]bool{}
	for _, m := range shownMismatches(r) {
		out = append(out, m.String())
		c := r.Result.Client(m.Client)
		if c != nil && c.Failure != "" && !seen[c.Name] && strings.Contains(m.Observed, c.Name+"'s failure") {
			seen[c.Name] = true
			failures = append(failures, c.Name+"'s failure: "+c.Failure)
		}
	}
	return append(out, failures...)
}

// gatherNotInFailure are the gather errors the client's failure does not
// already quote.
func gatherNotInFailure(c *harness.ClientResult) []string {
	var out []string
	for _, e := range c.GatherErrors {
		if !strings.Contains(c.Failure, e) {
			out = append(out, e)
		}
	}
	return out
}

// labels gives each candidate of a run one label, the one
// harness.Candidate.String gives it where it is known best: a relay
// candidate's protocol to its relay is known only to the end that gathered
// it, so the other end's view of it ("relay/udp 203.0.113.3:30001") is
// labelled as its owner's ("relay/udp(tls) 203.0.113.3:30001").
type labels map[string]string

func newLabels(res harness.Result) labels {
	l := labels{}
	for _, c := range res.Clients {
		for _, cand := range c.LocalCandidates {
			if cand.RelayProtocol == "" {
				continue
			}
			plain := cand
			plain.RelayProtocol = ""
			l[plain.String()] = cand.String()
		}
	}
	return l
}

// of relabels a label made by harness.Candidate.String.
func (l labels) of(label string) string {
	if full, ok := l[label]; ok {
		return full
	}
	return label
}

func (l labels) candidate(c harness.Candidate) string { return l.of(c.String()) }

func (l labels) pair(p *harness.Pair) string {
	if p == nil {
		return ""
	}
	return l.candidate(p.Local) + " -> " + l.candidate(p.Remote)
}

func (l labels) checks(cs []harness.PairCheck) []harness.PairCheck {
	out := make([]harness.PairCheck, len(cs))
	for i, c := range cs {
		c.Local, c.Remote = l.of(c.Local), l.of(c.Remote)
		out[i] = c
	}
	return out
}

// pairsNote says why attempt i of c lists no candidate pairs: the harness
// reads them from pion's stats, which an ICE restart clears and which pion
// empties when ICE fails, so "none" would be a claim the result cannot
// make. "" when the attempt lists pairs.
func pairsNote(c *harness.ClientResult, i int) string {
	if len(c.Attempts[i].Checks) > 0 {
		return ""
	}
	if i+1 < len(c.Attempts) && restartsICE(c.Attempts[i+1]) {
		return "not recorded: the ICE restart that followed cleared pion's record of them"
	}
	if n := len(c.ICEStates); i+1 == len(c.Attempts) && n > 0 && c.ICEStates[n-1].State == "failed" {
		return "not recorded: pion forgets its candidate pairs when ICE fails, before the end of the call, when they are read"
	}
	return "none"
}

// restartsICE reports whether an attempt restarts ICE on the peer
// connection of the one before: an ICE restart ("ice failed: ICE restart
// 1"), or a LiveKit client's resume ("resume after: …"), which is one.
func restartsICE(a harness.Attempt) bool {
	return strings.Contains(a.Why, "ICE restart") || strings.HasPrefix(a.Why, "resume")
}

// flowName names a flow: its track and where it was measured.
func flowName(m harness.Media) string { return m.Track + " " + m.Direction }

// flowSummary is a flow as sent against received: "sent 1500, received
// 1490, lost 3 (0.2%), 7 in flight, jitter up to 4 ms, round trip 82 ms",
// "sent 1500, nothing received", "sent 300 messages, received 298".
func flowSummary(m harness.Media) string {
	if m.Quality == nil {
		if m.Packets == 0 && m.Sent > 0 {
			return fmt.Sprintf("sent %s, nothing received", Plural(int(m.Sent), "message"))
		}
		return fmt.Sprintf("sent %s, received %d", Plural(int(m.Sent), "message"), m.Packets)
	}
	return qualitySummary(m.Quality)
}

// qualitySummary is an RTP flow's or stream's quality as sent against
// received; one that received nothing has no loss, jitter or bitrate.
func qualitySummary(q *harness.Quality) string {
	if q.NothingReceived {
		return fmt.Sprintf("sent %d, nothing received", q.Sent)
	}
	s := fmt.Sprintf("sent %d, received %d, lost %d (%.1f%%)", q.Sent, q.Packets, q.Lost, q.LossRate*100)
	if q.LostLate > 0 {
		// Lost to the receiver, not on its link: see media.Second.LostLate.
		s += fmt.Sprintf(", %d of them sent out of order", q.LostLate)
	}
	if q.InFlight > 0 {
		s += fmt.Sprintf(", %d in flight at the end", q.InFlight)
	}
	s += fmt.Sprintf(", jitter up to %d ms", q.Jitter.Milliseconds())
	if q.RTTMean > 0 {
		s += fmt.Sprintf(", round trip %d ms (highest %d ms)", q.RTTMean.Milliseconds(), q.RTT.Milliseconds())
	}
	s += fmt.Sprintf(", mean %.0f kbit/s", q.Bitrate/1e3)
	if q.FramesReceived > 0 {
		s += fmt.Sprintf(", %d frames shown", q.FramesDecoded)
		if q.FramesDropped > 0 {
			s += fmt.Sprintf(" (%d complete ones dropped)", q.FramesDropped)
		}
	}
	if n := len(q.Freezes); n > 0 {
		s += fmt.Sprintf(", %s (longest %.1f s)", Plural(n, "freeze"), q.LongestFreeze.Seconds())
	}
	if q.Grade != "" {
		s += fmt.Sprintf(", connection quality %s at worst", q.Grade)
		if n := len(q.Grades); n > 0 && q.Grades[n-1].Grade != q.Grade {
			s += fmt.Sprintf(" (%s at the end)", q.Grades[n-1].Grade)
		}
	}
	if q.PaddingPackets > 0 {
		s += fmt.Sprintf(", %s of padding (%d B, not media)", Plural(int(q.PaddingPackets), "packet"), q.PaddingBytes)
	}
	if a := adaptSummary(q); a != "" {
		s += "; " + a
	}
	if q.Simulcast {
		s += "; simulcast layer forwarded: " + q.LayerCourse()
	}
	return s
}

// adaptSummary says how a sender that follows a congestion controller's
// target moved it: "sender's target 279 kbit/s at 0 s, lowest 351 kbit/s
// at 27 s, highest 1.50 Mbit/s at 23 s, 1.50 Mbit/s at the end"; empty for
// a flow whose sender follows none.
func adaptSummary(q *harness.Quality) string {
	if !q.Adaptive {
		return ""
	}
	var first, last, low, high *media.Second
	for i := range q.Seconds {
		sec := &q.Seconds[i]
		if sec.Target == 0 {
			continue
		}
		if first == nil {
			first = sec
		}
		last = sec
		if low == nil || sec.Target < low.Target {
			low = sec
		}
		if high == nil || sec.Target > high.Target {
			high = sec
		}
	}
	if first == nil {
		return ""
	}
	kbps := func(bps uint64) string { return media.FormatBitrate(float64(bps)) }
	at := func(s *media.Second) string { return fmt.Sprintf("%g s", s.At.Seconds()) }
	return fmt.Sprintf("sender's target %s at %s, lowest %s at %s, highest %s at %s, %s at the end",
		kbps(first.Target), at(first), kbps(low.Target), at(low), kbps(high.Target), at(high), kbps(last.Target))
}

// streamName names one of a flow's streams for a person: "stream 2 of 2
// (SSRC 0x1a2b3c4d), 16.4 s to 40.0 s".
func streamName(i, n int, s harness.StreamStats) string {
	name := fmt.Sprintf("stream %d of %d (SSRC %#08x)", i+1, n, s.SSRC)
	if s.Quality.Packets > 0 {
		name += fmt.Sprintf(", %.1f s to %.1f s", s.First.Seconds(), s.Last.Seconds())
	}
	return name
}
