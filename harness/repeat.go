package harness

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Outcome is what a run came to for one client, in the terms that must be
// the same every time a spec runs: what carried the call, the candidate
// types of its final selected pair, whether it connected and recovered,
// where it failed and the state it ended in. Media figures are not part of
// it: they vary with timing by nature and are judged by bounds instead.
type Outcome struct {
	Transport Transport
	// Candidates are the types of the final selected pair's candidates,
	// the client's own first: "relay → host"; "none" if nothing was
	// selected.
	Candidates string
	Connected  bool
	Recovered  bool
	// FailureStage is where the call failed, if it did (see the
	// Failed... constants); NoFailure for a call that went as a call
	// should, or recovered.
	FailureStage FailureStage
	// FinalState is the last peer connection state.
	FinalState string
}

// FailureStage is where a client's call failed.
type FailureStage string

// Failure stages, in the order a call meets them.
const (
	// NoFailure: connected to the end with media both ways and flowing
	// at the end (after a recovery, if there was a failure).
	NoFailure FailureStage = "none"
	// FailedSignalling: the client never reached the node's signalling.
	FailedSignalling FailureStage = "signalling"
	// FailedICE: ICE never connected.
	FailedICE FailureStage = "ice"
	// FailedDTLS: ICE connected, but DTLS never did.
	FailedDTLS FailureStage = "dtls"
	// FailedConnect: ICE and DTLS connected, but the peer connection never
	// did.
	FailedConnect FailureStage = "peer connection"
	// FailedLost: the call connected and was lost for good (LostAt).
	FailedLost FailureStage = "lost"
	// FailedMedia: connected to the end, but media did not flow both ways
	// or had stopped by the end.
	FailedMedia FailureStage = "media"
)

// OutcomeOf is the outcome of one client's result.
func OutcomeOf(c *ClientResult) Outcome {
	o := Outcome{Transport: c.Transport, Candidates: "none", Connected: c.Connected, Recovered: c.Recovered,
		FailureStage: failureStage(c), FinalState: c.FinalState()}
	if o.Transport == "" {
		o.Transport = NoTransport
	}
	if c.Selected != nil {
		o.Candidates = c.Selected.Local.Type + " → " + c.Selected.Remote.Type
	}
	return o
}

func failureStage(c *ClientResult) FailureStage {
	reached := func(states []StateChange) bool {
		return slices.ContainsFunc(states, func(s StateChange) bool { return s.State == "connected" })
	}
	switch {
	case c.Peer == "" && !c.Signalling:
		return FailedSignalling
	case !c.Connected && !reached(c.ICEStates):
		return FailedICE
	case !c.Connected && !reached(c.DTLSStates):
		return FailedDTLS
	case !c.Connected:
		return FailedConnect
	case c.LostAt > 0:
		return FailedLost
	case !c.NoMediaExpected && !(c.MediaBothWays && c.MediaFlowingAtEnd):
		return FailedMedia
	}
	return NoFailure
}

// outcomeFields are the parts of an Outcome that repeats compare, each
// with its name and how a value reads.
var outcomeFields = []struct {
	name  string
	value func(Outcome) string
}{
	{"transport", func(o Outcome) string { return string(o.Transport) }},
	{"candidates", func(o Outcome) string { return o.Candidates }},
	{"connected", func(o Outcome) string { return yesNo(o.Connected) }},
	{"recovered", func(o Outcome) string { return yesNo(o.Recovered) }},
	{"failure stage", func(o Outcome) string { return string(o.FailureStage) }},
	{"final state", func(o Outcome) string { return o.FinalState }},
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (o Outcome) String() string {
	parts := make([]string, len(outcomeFields))
	for i, f := range outcomeFields {
		parts[i] = f.name + " " + f.value(o)
	}
	return strings.Join(parts, ", ")
}

// Variation is one part of one client's outcome that was not the same in
// every run: each value it took, in the order first seen, with the runs
// that saw it.
type Variation struct {
	// Client names the client (or the end of a peer-to-peer connection);
	// empty for the run as a whole (Field "run error").
	Client string
	// Field is the part of the Outcome: "transport", "candidates",
	// "connected", "recovered", "failure stage", "final state"; or "run
	// error" when some runs could not be built or run.
	Field  string
	Values []Seen
}

// Seen is one value a varying outcome took, and in which runs.
type Seen struct {
	Value string
	// Runs are the runs that saw it, numbered from 1 in the order the
	// results were given.
	Runs []int
}

func (v Variation) String() string {
	values := make([]string, len(v.Values))
	for i, s := range v.Values {
		values[i] = s.String()
	}
	field := v.Field
	if v.Client != "" {
		field = v.Client + " " + field
	}
	return field + ": " + strings.Join(values, ", ")
}

// String is the value and its runs: "TURN/TLS in runs 2, 5".
func (s Seen) String() string { return s.Value + " in " + runList(s.Runs) }

// runList names runs: "run 3", "runs 2, 5, 9", or "12 runs" when there
// are more than five.
func runList(runs []int) string {
	switch {
	case len(runs) == 1:
		return "run " + strconv.Itoa(runs[0])
	case len(runs) > 5:
		return strconv.Itoa(len(runs)) + " runs"
	}
	s := make([]string, len(runs))
	for i, r := range runs {
		s[i] = strconv.Itoa(r)
	}
	return "runs " + strings.Join(s, ", ")
}

// Vary compares the results of runs of the same spec and returns every
// part of an outcome that differed between them: per client, in the order
// clients first appear, and per field in Outcome's order. A client missing
// from a run counts as one that never connected. Interrupted results did
// not run their whole call and are left out; the run numbers still count
// them.
func Vary(results []Result) []Variation {
	var names []string
	for _, r := range results {
		for _, c := range r.Clients {
			if !slices.Contains(names, c.Name) {
				names = append(names, c.Name)
			}
		}
	}
	var out []Variation
	add := func(client, field string, value func(r *Result) string) {
		v := Variation{Client: client, Field: field}
		for i := range results {
			r := &results[i]
			if r.Interrupted {
				continue
			}
			val := value(r)
			j := slices.IndexFunc(v.Values, func(s Seen) bool { return s.Value == val })
			if j < 0 {
				v.Values = append(v.Values, Seen{Value: val})
				j = len(v.Values) - 1
			}
			v.Values[j].Runs = append(v.Values[j].Runs, i+1)
		}
		if len(v.Values) > 1 {
			out = append(out, v)
		}
	}
	add("", "run error", func(r *Result) string {
		if r.Err == "" {
			return "none"
		}
		return r.Err
	})
	for _, name := range names {
		for _, f := range outcomeFields {
			add(name, f.name, func(r *Result) string {
				c := r.Client(name)
				if c == nil {
					c = &ClientResult{Name: name, Transport: NoTransport}
				}
				return f.value(OutcomeOf(c))
			})
		}
	}
	return out
}

// Repeated is the runs of one spec, repeated, and what varied between
// them.
type Repeated struct {
	Results []Result
	Varied  []Variation
}

// Stable reports whether every run came to the same outcome.
func (r Repeated) Stable() bool { return len(r.Varied) == 0 }

// String says in a few lines how many runs there were and what varied:
// "20 runs, the same outcome every time", or one line per variation.
func (r Repeated) String() string {
	if r.Stable() {
		return fmt.Sprintf("%d runs, the same outcome every time", len(r.Results))
	}
	lines := []string{fmt.Sprintf("%d runs, outcomes differed:", len(r.Results))}
	for _, v := range r.Varied {
		lines = append(lines, "  "+v.String())
	}
	return strings.Join(lines, "\n")
}

// RepeatT runs spec n times, one after another, each as RunT runs it, and
// returns every result and what varied between them. The spec must be
// reusable: a Node.Relay of its own serves only one run.
//
//	rep := harness.RepeatT(t, spec, 20)
//	Expect(rep.Varied).To(BeEmpty(), rep.String())
func RepeatT(t *testing.T, spec Spec, n int, opts ...Option) Repeated {
	t.Helper()
	rep := Repeated{Results: make([]Result, 0, n)}
	for range n {
		rep.Results = append(rep.Results, RunT(t, spec, opts...))
	}
	rep.Varied = Vary(rep.Results)
	return rep
}
