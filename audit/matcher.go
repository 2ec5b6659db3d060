package audit

import (
	"fmt"
	"strings"

	"github.com/onsi/gomega/types"
)

// NotRegressFrom is a Gomega matcher over a Matrix: no cell of the actual
// matrix may regress from baseline (see Diff). Its failure message lists
// every regression with the old and new outcome.
//
//	Expect(audit.Run(runner, candidate, cfg)).To(audit.NotRegressFrom(baseline))
func NotRegressFrom(baseline Matrix) types.GomegaMatcher {
	return &regressionMatcher{baseline: baseline}
}

type regressionMatcher struct {
	baseline    Matrix
	regressions []Change
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
	m.regressions = Regressions(Diff(m.baseline, got))
	return len(m.regressions) == 0, nil
}

func (m *regressionMatcher) FailureMessage(any) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Expected no archetype to regress from %s, but %d cells did:\n", m.baseline.Deployment, len(m.regressions))
	for _, r := range m.regressions {
		fmt.Fprintf(&b, "  %s\n", r)
	}
	return b.String()
}

func (m *regressionMatcher) NegatedFailureMessage(any) string {
	return fmt.Sprintf("Expected some archetype to regress from %s, but none did", m.baseline.Deployment)
}
