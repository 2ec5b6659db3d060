package fieldimport

import (
	"fmt"
	"slices"
	"strings"

	"github.com/icelab/icelab/harness"
)

// RunOutcome reads what a run did to a client in the terms of a field
// outcome: how far the call got, what carried it, the candidate types of
// the pair that did, and the last state.
func RunOutcome(c *harness.ClientResult) Outcome {
	o := Outcome{Local: "none", Remote: "none", Transports: []harness.Transport{harness.NoTransport}, FinalState: c.FinalState()}
	iceUp := slices.ContainsFunc(c.ICEStates, func(s harness.StateChange) bool { return s.State == "connected" || s.State == "completed" })
	switch {
	case c.Connected && o.FinalState == "connected":
		o.Stage = StageConnected
	case c.Connected:
		o.Stage = StageLost
	case iceUp:
		o.Stage = StageDTLS
	default:
		o.Stage = StageICE
	}
	if c.Connected {
		o.Transports = []harness.Transport{c.Transport}
		if c.Selected != nil {
			o.Local, o.Remote = c.Selected.Local.Type, c.Selected.Remote.Type
			o.Pair = c.Selected.String()
		}
		o.ConnectedAt = c.ConnectedAt
		o.LostAt = c.LostAt
	}
	return o
}

// Verdict says whether a run reproduced the field outcome and, if not,
// what differs and which inferences to revisit.
type Verdict struct {
	Reproduced  bool
	Field, Run  Outcome
	Differences []string
	// Revisit are the inferences the differing parts depend on, those
	// the dump could not show first.
	Revisit []*Inference
}

// Compare judges a run's result for the dumped endpoint against the
// field outcome: the stage the call reached, what carried it, and the
// candidate types of the pair that did (each accepted as the scenario's
// expectation accepts them).
func (im *Import) Compare(c *harness.ClientResult) Verdict {
	v := Verdict{Field: im.Outcome, Run: RunOutcome(c)}
	var aspects []Aspect
	differ := func(a Aspect, format string, args ...any) {
		v.Differences = append(v.Differences, fmt.Sprintf(format, args...))
		if !slices.Contains(aspects, a) {
			aspects = append(aspects, a)
		}
	}
	f, r := v.Field, v.Run
	if f.Stage != r.Stage {
		differ(AspectStage, "stage: the field %s, icelab %s", f.Stage, r.Stage)
		if f.Connected() != r.Connected() {
			// Whether a call connects at all rests on what could carry it.
			aspects = append(aspects, AspectTransport)
		}
	}
	if f.Connected() && r.Connected() {
		if !slices.Contains(f.Transports, r.Transports[0]) {
			differ(AspectTransport, "transport: the field %s, icelab %s", f.TransportText(), r.Transports[0])
		}
		if !slices.Contains(im.accept.local, r.Local) {
			differ(AspectCandidates, "local candidate: the field %s, icelab %s", strings.Join(im.accept.local, " or "), r.Local)
		}
		if !slices.Contains(im.accept.remote, r.Remote) {
			differ(AspectCandidates, "remote candidate: the field %s, icelab %s", strings.Join(im.accept.remote, " or "), r.Remote)
		}
	}
	v.Reproduced = len(v.Differences) == 0
	if v.Reproduced {
		return v
	}
	for _, c := range []Certainty{Assumed, Inferred} {
		for _, in := range im.Inferences {
			if in.Certainty != c || slices.Contains(v.Revisit, in) {
				continue
			}
			if slices.ContainsFunc(aspects, in.affects) {
				v.Revisit = append(v.Revisit, in)
			}
		}
	}
	return v
}

// String renders the verdict for a person, one line per fact.
func (v Verdict) String() string {
	var b strings.Builder
	if v.Reproduced {
		fmt.Fprintf(&b, "reproduced: the field %s; icelab %s\n", v.Field.Summary(), v.Run.Summary())
		return b.String()
	}
	fmt.Fprintf(&b, "not reproduced: the field %s; icelab %s\n", v.Field.Summary(), v.Run.Summary())
	for _, d := range v.Differences {
		fmt.Fprintf(&b, "  %s\n", d)
	}
	if len(v.Revisit) > 0 {
		b.WriteString("revisit, most doubtful first:\n")
		for _, in := range v.Revisit {
			fmt.Fprintf(&b, "  [%d] %s: %s\n", in.N, in.Certainty, in.What)
		}
	}
	return b.String()
}
