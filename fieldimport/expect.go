package fieldimport

import (
	"fmt"
	"slices"
	"strings"
)

// This file is the one place that turns the field outcome into the
// scenario's expect: block, in the vocabulary of scenarios/doc.go:
// transport (what carried the call; none for a call that never
// connected), connected, candidates, final_state and failure_contains.

// expectation writes alice's expectation: the outcome the dump shows.
func (im *importer) expectation() {
	o, e := im.o, im.e
	x := expectPlan{connected: o.Connected()}
	for _, t := range o.Transports {
		x.transports = append(x.transports, string(t))
	}
	outcome := im.infer(Observed, "alice's call "+o.Summary(), im.outcomeEvidence(), nil)
	x.why = append(x.why, outcome)
	if o.Connected() {
		x.local, x.remote = []string{o.Local}, []string{o.Remote}
		direct := o.Local != "relay" && o.Remote != "relay"
		if direct && (o.Local == "srflx" || o.Local == "prflx") && e.Format != PionGetStats {
			// Chromium labels its end of a direct pair by the address
			// the far end saw (its host address hidden by mDNS); pion
			// labels it host (issue 26).
			x.local = append(x.local, "host")
			x.why = append(x.why, im.infer(Inferred, "candidates.local accepts host besides "+o.Local,
				"a browser reports its end of a direct pair as "+o.Local+" where icelab's pion client, sending from the same socket, reports host", nil, AspectCandidates))
		}
		if im.p2p && (o.Remote == "srflx" || o.Remote == "prflx") {
			x.remote = appendNew([]string{"srflx", "prflx"}, o.Remote)
			x.why = append(x.why, im.infer(Inferred, "candidates.remote accepts srflx and prflx",
				"which of the two a peer's reflexive address is known as depends on whether its checks or its signalled candidate arrive first", nil, AspectCandidates))
		}
		if !im.p2p && o.Remote == "prflx" {
			x.remote = append(x.remote, "host")
		}
	}
	switch {
	case o.Stage == StageDTLS && o.FinalState != "":
		x.why = append(x.why, im.infer(Inferred, "final_state is not expected",
			"after ICE connects and DTLS does not, the state depends on the implementation's DTLS timers (browsers give up, pion's DTLS has no deadline and stays connecting), not on the network", nil))
	case o.FinalState == "connected" || o.FinalState == "disconnected" || o.FinalState == "failed":
		x.finalState = o.FinalState
	default:
		if o.FinalState != "" {
			x.why = append(x.why, im.infer(Inferred, "final_state is not expected",
				fmt.Sprintf("the dump ends with the peer connection %s, a state whose length depends on the implementation's timers, not the network", o.FinalState), nil))
		}
	}
	switch o.Stage {
	case StageICE:
		x.failureContains = "ICE never connected"
	case StageDTLS:
		x.failureContains = "DTLS"
	}
	im.p.expect = x
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// outcomeEvidence says what in the dump shows the outcome.
func (im *importer) outcomeEvidence() string {
	e, o := im.e, im.o
	var parts []string
	var states []string
	timed := !e.StatesDerived || e.Snapshots > 1
	for _, s := range e.States {
		if d, ok := e.Since(s.At); ok && timed {
			states = append(states, fmt.Sprintf("%s at %.1f s", s.State, d.Seconds()))
		} else {
			states = append(states, s.State)
		}
	}
	src := "its connection states"
	if e.StatesDerived {
		src = "its ICE and DTLS states in the stats"
	}
	if len(states) > 0 {
		parts = append(parts, src+": "+listOf(states, 6))
	}
	if o.Connected() && e.Selected != nil && e.Selected.Local != nil && e.Selected.Remote != nil {
		p := e.Selected
		parts = append(parts, "the selected pair "+im.describeCandidate(p.Local, sideLocal)+" ↔ "+im.describeCandidate(p.Remote, sideRemote))
	}
	if !o.Connected() {
		var tried []string
		for _, p := range e.Pairs {
			tried = append(tried, p.State)
		}
		if len(tried) > 0 {
			parts = append(parts, fmt.Sprintf("%s, %s", plural(len(tried), "candidate pair"), countStates(tried)))
		}
	}
	return strings.Join(parts, "; ")
}

// countStates renders "3 failed, 1 in-progress".
func countStates(states []string) string {
	n := map[string]int{}
	var order []string
	for _, s := range states {
		if n[s] == 0 {
			order = append(order, s)
		}
		n[s]++
	}
	out := make([]string, len(order))
	for i, s := range order {
		out[i] = fmt.Sprintf("%d %s", n[s], s)
	}
	return strings.Join(out, ", ")
}

// plural renders "1 candidate pair", "3 candidate pairs".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
