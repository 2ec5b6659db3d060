package reports

import (
	"fmt"
	"slices"
	"strings"

	"github.com/icelab/icelab/harness"
)

// Repeats is how the runs of a scenario that ran more than once went
// (icelab run --repeat N): how many met its expectations, what differed
// between them, and each expectation some of them did not meet.
type Repeats struct {
	// Runs is how many runs there were; Met how many met the scenario's
	// expectations (passed, or were only observed).
	Runs, Met int
	// Shown is the run whose result the report shows, numbered from 1:
	// the first that did not meet the expectations, or else the first.
	Shown int
	// Varied is every part of a client's outcome that differed between
	// the runs (harness.Vary): transport, candidate types, connected,
	// recovered, failure stage, final state.
	Varied []harness.Variation
	// Unmet is each expectation some runs did not meet, with what those
	// runs observed.
	Unmet []Unmet
	// Verdicts is each run's verdict, in run order.
	Verdicts []Verdict
}

// Unmet is one expectation (a client's field and what it expected) that
// some runs did not meet, with each observation and the runs that made it.
type Unmet struct {
	Client, Field, Expected string
	Observed                []harness.Seen
}

func (u Unmet) String() string {
	who := u.Client
	if who == "" {
		who = "run"
	}
	obs := make([]string, len(u.Observed))
	for i, o := range u.Observed {
		obs[i] = o.String()
	}
	return fmt.Sprintf("%s: %s: expected %s, observed %s", who, u.Field, u.Expected, strings.Join(obs, "; "))
}

// Stable reports whether every run came to the same outcome.
func (r *Repeats) Stable() bool { return len(r.Varied) == 0 }

// Tally is the repeats in a phrase: "20/20 runs met, the same outcome every
// run", "17/20 runs met, outcomes differed".
func (r *Repeats) Tally() string {
	s := fmt.Sprintf("%d/%d runs met", r.Met, r.Runs)
	if r.Stable() {
		return s + ", the same outcome every run"
	}
	return s + ", outcomes differed"
}

// Lines are what a person reads about the repeats beyond the tally: each
// outcome that differed, then each expectation some runs did not meet,
// then which run the report shows.
func (r *Repeats) Lines() []string {
	var out []string
	for _, v := range r.Varied {
		out = append(out, "differed: "+v.String())
	}
	for _, u := range r.Unmet {
		out = append(out, "not met: "+u.String())
	}
	if r.Met < r.Runs {
		out = append(out, fmt.Sprintf("shown: run %d of %d", r.Shown, r.Runs))
	}
	return out
}

// Repeat folds the runs of one scenario, in run order, into one Run: the
// first that did not meet its expectations (or else the first), with
// Repeats saying how all of them went. Its verdict is therefore FAIL (or
// ERROR, INTERRUPTED, SKIP) when any run did not meet the expectations.
// One run is returned as it is.
func Repeat(runs []Run) Run {
	switch len(runs) {
	case 0:
		return Run{}
	case 1:
		return runs[0]
	}
	rep := &Repeats{Runs: len(runs), Shown: 1}
	results := make([]harness.Result, len(runs))
	shown := -1
	for i, r := range runs {
		v := r.Verdict()
		rep.Verdicts = append(rep.Verdicts, v)
		results[i] = r.Result
		if r.Skipped != "" {
			// Not run: it took no part in the call's outcomes.
			results[i].Interrupted = true
		}
		if v.Met() {
			rep.Met++
		} else if shown < 0 {
			shown = i
		}
		for _, m := range r.Mismatches {
			j := slices.IndexFunc(rep.Unmet, func(u Unmet) bool {
				return u.Client == m.Client && u.Field == m.Field && u.Expected == m.Expected
			})
			if j < 0 {
				rep.Unmet = append(rep.Unmet, Unmet{Client: m.Client, Field: m.Field, Expected: m.Expected})
				j = len(rep.Unmet) - 1
			}
			u := &rep.Unmet[j]
			k := slices.IndexFunc(u.Observed, func(s harness.Seen) bool { return s.Value == m.Observed })
			if k < 0 {
				u.Observed = append(u.Observed, harness.Seen{Value: m.Observed})
				k = len(u.Observed) - 1
			}
			u.Observed[k].Runs = append(u.Observed[k].Runs, i+1)
		}
	}
	rep.Varied = harness.Vary(results)
	if shown < 0 {
		shown = 0
	}
	rep.Shown = shown + 1
	out := runs[shown]
	out.Repeats = rep
	return out
}
