package audit_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/icelab/icelab/archetypes"
	"github.com/icelab/icelab/audit"
	"github.com/icelab/icelab/harness"
	. "github.com/onsi/gomega"
)

// scripted is a Runner that answers each cell from a script instead of
// running a call: the outcomes of the n-th run of a spec, by the spec's
// name and the configuration's TURN domain (baseline and candidate differ
// in it), so the confirmation rules can be tested without timing.
type scripted struct {
	mu    sync.Mutex
	runs  map[string]int
	plan  func(name, domain string, n int) harness.Transport
	specs int
}

func (s *scripted) Run(specs []harness.Spec, _ int, _ func() bool, done func(int, harness.Result), _ ...harness.Option) {
	for i, spec := range specs {
		s.mu.Lock()
		key := spec.Name + "@" + spec.Node.Config.TURN.Domain
		n := s.runs[key]
		s.runs[key]++
		s.specs++
		s.mu.Unlock()
		tr := s.plan(spec.Name, spec.Node.Config.TURN.Domain, n)
		cr := harness.ClientResult{Transport: tr, Connected: tr != harness.NoTransport, MediaBothWays: tr != harness.NoTransport}
		if tr == harness.NoTransport {
			cr.Failure = "ICE never connected: no candidate pair succeeded; TCP to port 5349 dropped by firewall user-corp rule 1 (only-443) (3); failed to allocate on TURN client 203.0.113.4:3478 all retransmissions failed for Xomn5g3zeF9AyXWf"
		}
		done(i, harness.Result{Clock: harness.FakeClock, Clients: []harness.ClientResult{cr}})
	}
}

// The baseline is single-domain-443 (meet.example.com), the candidate
// dedicated-5349 (turn.example.com).
const baseDomain = "meet.example.com"

func compareScripted(t *testing.T, plan func(name, domain string, n int) harness.Transport) (audit.Comparison, *scripted) {
	t.Helper()
	base, err := audit.LoadDeployment("../deployments/single-domain-443.yaml", audit.Options{CA: testCA})
	if err != nil {
		t.Fatal(err)
	}
	cand, err := audit.LoadDeployment("../deployments/dedicated-5349.yaml", audit.Options{CA: testCA})
	if err != nil {
		t.Fatal(err)
	}
	r := &scripted{runs: map[string]int{}, plan: plan}
	cfg := audit.Config{Archetypes: []archetypes.Network{archetypes.HomeRouter(), archetypes.Corporate443Only(), archetypes.CGNAT()},
		Profiles: []archetypes.Profile{archetypes.Pion()}}
	return audit.Compare(r, base, cand, cfg, 3), r
}

// TestConfirmation proves the rule a CI gate rests on: a cell whose
// outcome differs is run again three times on each side; a change seen in
// every pair is "regressed 3/3" and fails the gate, one seen in some pairs
// is "unstable (n/3)", listed with its re-runs' outcomes, and fails the
// gate only with FailOn Unstable; a difference no re-run shows again is
// "unstable (0/3)". Unchanged cells are not run again.
func TestConfirmation(t *testing.T) {
	g := NewWithT(t)
	cmp, r := compareScripted(t, func(name, domain string, n int) harness.Transport {
		switch {
		case name == "corporate-443-only/pion" && domain != baseDomain:
			return harness.NoTransport // a real regression: every run
		case name == "home-router/pion" && domain != baseDomain && n != 2:
			return harness.TURNUDP // flaky: runs 0, 1 and 3 of 4 (first run and 2 of 3 re-runs)
		case name == "cgnat/pion" && domain != baseDomain && n == 0:
			return harness.ICETCP // once, never again
		case name == "corporate-443-only/pion":
			return harness.TURNTLS
		}
		return harness.ICEUDP
	})
	g.Expect(r.specs).To(Equal(6 + 3*2*3)) // 3 cells × 2 sides, then 3 changed cells × 3 pairs
	var got []string
	for _, ch := range cmp.Changes {
		got = append(got, ch.String())
	}
	g.Expect(got).To(ConsistOf(
		"home-router/pion unstable (2/3): ICE/UDP → TURN/UDP",
		"corporate-443-only/pion regressed 3/3: TURN/TLS → fails (TCP 5349 dropped by the corporate firewall (only-443))",
		"cgnat/pion unstable (0/3): ICE/UDP → ICE/TCP",
	))
	g.Expect(cmp.Confirmed(audit.Regressed)).To(HaveLen(1))
	unstable := cmp.Confirmed(audit.Unstable)
	g.Expect(unstable).To(HaveLen(2))
	g.Expect(unstable[0].Confirmed.Candidate).To(Equal([]string{"TURN/UDP", "ICE/UDP", "TURN/UDP"}))

	rep := audit.Report{Matrix: cmp.Candidate, Comparison: &cmp}
	g.Expect(rep.Failing()).To(HaveLen(1))
	rep.FailOn = audit.Unstable
	g.Expect(rep.Failing()).To(HaveLen(3))

	var md, junit, html, js bytes.Buffer
	rep.FailOn = audit.Regressed
	g.Expect(audit.Markdown(&md, rep)).To(Succeed())
	g.Expect(audit.JUnit(&junit, rep)).To(Succeed())
	g.Expect(audit.HTML(&html, rep)).To(Succeed())
	g.Expect(audit.JSON(&js, rep)).To(Succeed())
	g.Expect(md.String()).To(ContainSubstring("**FAIL against ../deployments/single-domain-443.yaml: 1 regressed, 2 unstable, 0 improved"))
	g.Expect(md.String()).To(ContainSubstring("- **regressed 3/3  corporate-443-only / pion: TURN/TLS → fails (TCP 5349 dropped by the corporate firewall (only-443))**"))
	g.Expect(md.String()).To(ContainSubstring("- unstable (2/3)  home-router / pion: ICE/UDP → TURN/UDP\n  - re-runs, baseline: ICE/UDP, ICE/UDP, ICE/UDP; candidate: TURN/UDP, ICE/UDP, TURN/UDP"))
	g.Expect(md.String()).To(ContainSubstring("| corporate-443-only | **regressed 3/3** fails: TCP 5349 dropped by the corporate firewall (only-443) [1] |"))
	g.Expect(md.String()).To(ContainSubstring("- **unstable (n/K)**: "))
	for _, out := range []string{md.String(), junit.String(), html.String(), js.String()} {
		g.Expect(out).NotTo(ContainSubstring("Xomn5g3zeF9AyXWf"), "a random TURN user name")
	}
	g.Expect(strings.Count(junit.String(), "<failure ")).To(Equal(1))
	g.Expect(junit.String()).To(ContainSubstring(`type="regressed"`))
	g.Expect(html.String()).To(ContainSubstring(`<span class="change">regressed 3/3</span>`))
	g.Expect(js.String()).To(ContainSubstring(`"verdict": "regressed"`))
}

// TestSelfComparisonIsClean proves a configuration compared with itself
// reports nothing when its cells answer the same, and runs nothing again.
func TestSelfComparisonIsClean(t *testing.T) {
	g := NewWithT(t)
	cmp, r := compareScripted(t, func(string, string, int) harness.Transport { return harness.ICEUDP })
	g.Expect(cmp.Changes).To(BeEmpty())
	g.Expect(r.specs).To(Equal(6))
	g.Expect(audit.Report{Matrix: cmp.Candidate, Comparison: &cmp}.Failing()).To(BeEmpty())
}

// TestMatcherConfirms proves NotRegressFrom confirms as the command does:
// a flaky cell does not fail the match unless Strict, a steady regression
// does, with its verdict in the message.
func TestMatcherConfirms(t *testing.T) {
	g := NewWithT(t)
	base, err := audit.LoadDeployment("../deployments/single-domain-443.yaml", audit.Options{CA: testCA})
	g.Expect(err).NotTo(HaveOccurred())
	cand, err := audit.LoadDeployment("../deployments/dedicated-5349.yaml", audit.Options{CA: testCA})
	g.Expect(err).NotTo(HaveOccurred())
	cfg := audit.Config{Archetypes: []archetypes.Network{archetypes.HomeRouter()}, Profiles: []archetypes.Profile{archetypes.Pion()}}
	flaky := &scripted{runs: map[string]int{}, plan: func(_, domain string, n int) harness.Transport {
		if domain != baseDomain && n%2 == 0 {
			return harness.TURNUDP
		}
		return harness.ICEUDP
	}}
	b, c := audit.Run(flaky, base, cfg), audit.Run(flaky, cand, cfg)
	g.Expect(c).To(audit.NotRegressFrom(b))
	g.Expect(c).NotTo(audit.NotRegressFrom(b, audit.Strict()))

	steady := &scripted{runs: map[string]int{}, plan: func(_, domain string, _ int) harness.Transport {
		if domain != baseDomain {
			return harness.NoTransport
		}
		return harness.ICEUDP
	}}
	b, c = audit.Run(steady, base, cfg), audit.Run(steady, cand, cfg)
	m := audit.NotRegressFrom(b)
	ok, err := m.Match(c)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ok).To(BeFalse())
	g.Expect(m.FailureMessage(c)).To(ContainSubstring("home-router/pion regressed 3/3: ICE/UDP → fails (TCP 5349 dropped by the corporate firewall (only-443))"))
}
