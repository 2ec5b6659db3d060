package audit

import (
	"fmt"
	"strings"

	"github.com/onsi/gomega/types"
)

// MatchOption tunes NotRegressFrom.
type MatchOption func(*regressionMatcher)

// ConfirmRuns sets how many times each changed cell runs again on each
// side (default DefaultConfirm); 0 judges the matrices as they are, every
// change counting as found.
func ConfirmRuns(k int) MatchOption { return func(m *regressionMatcher) { m.confirm = k } }

// Strict fails on unstable cells too, not only on confirmed regressions.
func Strict() MatchOption { return func(m *regressionMatcher) { m.strict = true } }

// NotRegressFrom is a Gomega matcher over a Matrix: no cell of the actual
// matrix may regress from baseline (see Diff). As `icelab audit
// --baseline` does, it confirms a regression before it reports one: every
// cell whose outcome differs runs again ConfirmRuns times on both sides
// (pairs started together, with the runner and deployments the two
// matrices came from), and only a cell that regressed in every pair fails
// the match; an unstable one fails it only with Strict. Matrices not made
// by Run (built by hand, read from JSON) cannot be re-run: their changes
// count as found. Its failure message lists every regression with its old
// and new outcome and the re-runs' verdict.
//
//	Expect(audit.Run(runner, candidate, cfg)).To(audit.NotRegressFrom(baseline))
func NotRegressFrom(baseline Matrix, opts ...MatchOption) types.GomegaMatcher {
	m := &regressionMatcher{baseline: baseline, confirm: DefaultConfirm}
	for _, o := range opts {
		o(m)
	}
	return m
}

type regressionMatcher struct {
	baseline Matrix
	confirm  int
	strict   bool
	failing  []Change
	unstable []Change
}

func (m *regressionMatcher) Match(actual any) (bool, error) {
	var got Matrix
	switch a := actual.(type) {
	case Matrix:
		got = a
	case *Matrix:
		if a == nil {
			return false, fmt.Errorf("NotRegressFrom: expected a Matrix, got a nil *Matrix")
		}
		got = *a
	default:
		return false, fmt.Errorf("NotRegressFrom: expected an audit.Matrix, got %T", actual)
	}
	if got.Interrupted || m.baseline.Interrupted {
		return false, fmt.Errorf("NotRegressFrom: an interrupted audit is not a verdict")
	}
	if len(got.Cells) == 0 {
		return false, fmt.Errorf("NotRegressFrom: the matrix has no cells")
	}
	changes := Diff(m.baseline, got)
	if m.baseline.run != nil && got.run != nil && m.confirm > 0 {
		base := m.baseline
		w := confirmChanges(got.run.r, &base, &got, changes, got.run.c, m.confirm)
		if w.interrupted {
			return false, fmt.Errorf("NotRegressFrom: interrupted while confirming %d changed cells", len(changes))
		}
	}
	m.failing, m.unstable = nil, nil
	for _, c := range changes {
		switch c.Verdict() {
		case Regressed:
			m.failing = append(m.failing, c)
		case Unstable:
			m.unstable = append(m.unstable, c)
		}
	}
	if m.strict {
		m.failing = append(m.failing, m.unstable...)
	}
	return len(m.failing) == 0, nil
}

func (m *regressionMatcher) FailureMessage(any) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Expected no archetype to regress from %s, but %d cells did:\n", m.baseline.Deployment, len(m.failing))
	for _, r := range m.failing {
		fmt.Fprintf(&b, "  %s\n", r)
		if r.Confirmed != nil && r.Confirmed.Verdict == Unstable {
			fmt.Fprintf(&b, "    re-runs: baseline %s; candidate %s\n", strings.Join(r.Confirmed.Baseline, ", "), strings.Join(r.Confirmed.Candidate, ", "))
		}
	}
	return b.String()
}

func (m *regressionMatcher) NegatedFailureMessage(any) string {
	return fmt.Sprintf("Expected some archetype to regress from %s, but none did", m.baseline.Deployment)
}
