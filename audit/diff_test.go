package audit_test

import (
	"strings"
	"testing"

	"github.com/icelab/icelab/audit"
	"github.com/icelab/icelab/harness"
	. "github.com/onsi/gomega"
)

func cell(arch string, tr harness.Transport, media bool) audit.Cell {
	c := audit.Cell{Archetype: arch, Profile: "browser", Transport: tr, MediaBothWays: media}
	if tr == harness.NoTransport {
		c.Reason = "ICE never connected; TCP to port 5349 dropped by firewall"
		c.Cause = "TCP 5349 dropped by the corporate firewall"
	}
	return c
}

// TestDiff proves the cost order and the regression rules: connected →
// fails and a costlier transport regress, the reverse improves, an
// unchanged cell is not a change, and the matcher names the regressions.
// Matrices built by hand cannot be re-run: their changes are unconfirmed.
func TestDiff(t *testing.T) {
	old := audit.Matrix{Deployment: "old.yaml", Cells: []audit.Cell{
		cell("a", harness.TURNTLS, true), cell("b", harness.ICEUDP, true), cell("c", harness.TURNUDP, true),
		cell("d", harness.ICETCP, true), cell("e", harness.ICEUDP, true), cell("f", harness.NoTransport, false),
	}}
	cand := audit.Matrix{Deployment: "new.yaml", Cells: []audit.Cell{
		cell("a", harness.NoTransport, false), cell("b", harness.TURNUDP, true), cell("c", harness.ICEUDP, true),
		cell("d", harness.ICETCP, true), cell("e", harness.ICEUDP, false), cell("f", harness.NoTransport, false),
	}}
	changes := audit.Diff(old, cand)
	var got []string
	for _, c := range changes {
		got = append(got, c.String())
	}
	want := []string{
		"a/browser regressed (not confirmed): TURN/TLS → fails (TCP 5349 dropped by the corporate firewall)",
		"b/browser regressed (not confirmed): ICE/UDP → TURN/UDP",
		"c/browser improved (not confirmed): TURN/UDP → ICE/UDP",
		"e/browser regressed (not confirmed): ICE/UDP: media both ways → not (no reason given)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	g := NewWithT(t)
	g.Expect(old).To(audit.NotRegressFrom(old))
	m := audit.NotRegressFrom(old)
	ok, err := m.Match(cand)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ok).To(BeFalse())
	g.Expect(m.FailureMessage(cand)).To(ContainSubstring("a/browser regressed (not confirmed): TURN/TLS → fails"))
	_, err = m.Match(audit.Matrix{Interrupted: true, Cells: cand.Cells})
	g.Expect(err).To(MatchError(ContainSubstring("interrupted")))
}
