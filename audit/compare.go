package audit

import (
	"fmt"
	"strings"

	"github.com/icelab/icelab/harness"
)

// DefaultConfirm is how many times a cell whose outcome differs between
// baseline and candidate is run again on each side before the change is
// reported.
const DefaultConfirm = 3

// DefaultRealParallel bounds the real-clock cells an audit runs at once:
// one configuration's browser column (17 archetypes) and its baseline's
// interleaved, so that a comparison's real-clock cells run in a single
// wave. Measured on a 2-core machine beside two busy CPU hogs, a browser
// cell's time to connect stays within its deadlines at this bound (see the
// README).
const DefaultRealParallel = 34

// Verdict is what re-running a changed cell confirmed.
type Verdict string

// Verdicts of a changed cell. Each re-run pairs one baseline call with one
// candidate call, started together.
const (
	// Regressed: the candidate was worse than the baseline in every pair.
	Regressed Verdict = "regressed"
	// Improved: the candidate was better than the baseline in every pair.
	Improved Verdict = "improved"
	// Unstable: some pairs showed the change and some did not; the cell
	// depends on timing or load, not (only) on the configuration.
	Unstable Verdict = "unstable"
)

// Confirmation is a changed cell run again, Runs times on each side.
type Confirmation struct {
	Verdict Verdict `json:"verdict"`
	Runs    int     `json:"runs"`
	// Reproduced counts the pairs that showed the change first seen.
	Reproduced int `json:"reproduced"`
	// Baseline and Candidate are the re-runs' outcomes, in pair order.
	Baseline  []string `json:"baseline"`
	Candidate []string `json:"candidate"`
}

// String reads "regressed 3/3", "improved 3/3" or "unstable (2/3)".
func (c Confirmation) String() string {
	if c.Verdict == Unstable {
		return fmt.Sprintf("unstable (%d/%d)", c.Reproduced, c.Runs)
	}
	return fmt.Sprintf("%s %d/%d", c.Verdict, c.Reproduced, c.Runs)
}

// Comparison is a candidate audited against its baseline, every change
// confirmed.
type Comparison struct {
	Baseline  Matrix `json:"baseline"`
	Candidate Matrix `json:"candidate"`
	// Changes are the cells that differed, each with its Confirmation.
	Changes []Change `json:"changes"`
	// Confirm is how many times each changed cell ran again per side.
	Confirm int `json:"confirm"`
}

// Interrupted reports whether either audit was stopped.
func (c Comparison) Interrupted() bool { return c.Baseline.Interrupted || c.Candidate.Interrupted }

// Confirmed keeps the changes whose re-runs gave verdict v.
func (c Comparison) Confirmed(v Verdict) []Change {
	var out []Change
	for _, ch := range c.Changes {
		if ch.Verdict() == v {
			out = append(out, ch)
		}
	}
	return out
}

// Compare audits baseline and candidate with the same cells and confirms
// every change by running the cell again confirm times on each side (0
// means DefaultConfirm). The two configurations' cells are interleaved,
// fake-clock cells first, so that both meet the same load at the same
// time and a real-clock cell never shares the cores with fake-clock ones.
func Compare(r Runner, baseline, candidate *Deployment, c Config, confirm int) Comparison {
	c = c.withDefaults()
	if confirm <= 0 {
		confirm = DefaultConfirm
	}
	cmp := Comparison{Baseline: baseline.newMatrix(r, c), Candidate: candidate.newMatrix(r, c), Confirm: confirm}
	var jobs []job
	for i := range cmp.Candidate.Cells {
		jobs = append(jobs, baseline.cellJob(&cmp.Baseline, i, c), candidate.cellJob(&cmp.Candidate, i, c))
	}
	w := schedule(r, jobs, c)
	cmp.Baseline.addWall(w)
	cmp.Candidate.addWall(w)
	// Both certificates' attribution in one round, interleaved like the
	// cells.
	if tls := interleave(baseline.tlsJobs(&cmp.Baseline), candidate.tlsJobs(&cmp.Candidate)); len(tls) > 0 {
		quiet := c
		quiet.Progress = nil
		w := schedule(r, tls, quiet)
		cmp.Baseline.addWall(w)
		cmp.Candidate.addWall(w)
	}
	if cmp.Interrupted() {
		return cmp
	}
	cmp.Changes = Diff(cmp.Baseline, cmp.Candidate)
	if c.Confirming != nil && len(cmp.Changes) > 0 {
		c.Confirming(cmp.Changes)
	}
	w = confirmChanges(r, &cmp.Baseline, &cmp.Candidate, cmp.Changes, c, confirm)
	cmp.Baseline.addWall(w)
	cmp.Candidate.addWall(w)
	return cmp
}

// confirmChanges runs each changed cell again k times on both sides, in
// pairs started together, and sets each change's Confirmation. Matrices
// that cannot be re-run (built by hand, or read back from JSON) leave
// their changes unconfirmed.
func confirmChanges(r Runner, base, cand *Matrix, changes []Change, c Config, k int) wall {
	if base.run == nil || cand.run == nil || len(changes) == 0 {
		return wall{}
	}
	c.Progress = nil
	type rerun struct{ base, cand []Cell }
	reruns := make([]rerun, len(changes))
	var jobs []job
	for j := range k {
		for i, ch := range changes {
			bi, ci := base.index(ch.Archetype, ch.Profile), cand.index(ch.Archetype, ch.Profile)
			if bi < 0 || ci < 0 {
				continue
			}
			if j == 0 {
				reruns[i] = rerun{base: make([]Cell, k), cand: make([]Cell, k)}
			}
			for _, side := range []struct {
				m     *Matrix
				at    int
				cells []Cell
			}{{base, bi, reruns[i].base}, {cand, ci, reruns[i].cand}} {
				d := side.m.run.d
				cells := side.cells
				cell := &cells[j]
				*cell = Cell{Archetype: ch.Archetype, Profile: ch.Profile, Transport: harness.NoTransport, Error: "interrupted"}
				jobs = append(jobs, job{spec: side.m.specs[side.at], done: func(res harness.Result) {
					*cell = Cell{Archetype: ch.Archetype, Profile: ch.Profile}
					cell.fill(res, d)
				}})
			}
		}
	}
	w := schedule(r, jobs, c)
	if w.interrupted {
		base.Interrupted, cand.Interrupted = true, true
		return w
	}
	for i := range changes {
		rr := reruns[i]
		if rr.base == nil {
			continue
		}
		conf := &Confirmation{Runs: k}
		for j := range k {
			conf.Baseline = append(conf.Baseline, rr.base[j].Outcome())
			conf.Candidate = append(conf.Candidate, rr.cand[j].Outcome())
			if kind, _ := compareCells(rr.base[j], rr.cand[j]); kind == changes[i].Kind && rr.base[j].Error == "" && rr.cand[j].Error == "" {
				conf.Reproduced++
			}
		}
		switch {
		case conf.Reproduced < k:
			conf.Verdict = Unstable
		case changes[i].Kind == Regression:
			conf.Verdict = Regressed
		default:
			conf.Verdict = Improved
		}
		changes[i].Confirmed = conf
	}
	return w
}

// interleave is a[0], b[0], a[1], b[1], …, then the longer's rest.
func interleave(a, b []job) []job {
	out := make([]job, 0, len(a)+len(b))
	for i := 0; i < len(a) || i < len(b); i++ {
		if i < len(a) {
			out = append(out, a[i])
		}
		if i < len(b) {
			out = append(out, b[i])
		}
	}
	return out
}

// index is the position of the named cell in m, or -1.
func (m *Matrix) index(archetype, profile string) int {
	for i := range m.Cells {
		if m.Cells[i].Archetype == archetype && m.Cells[i].Profile == profile {
			return i
		}
	}
	return -1
}

// compareCells says whether n is a regression or an improvement on o, and
// why in a line; "" when neither.
func compareCells(o, n Cell) (ChangeKind, string) {
	from, to := o.short(), n.short()
	switch {
	case n.cost() > o.cost():
		return Regression, from + " → " + to
	case n.cost() < o.cost():
		return Improvement, from + " → " + to
	case o.MediaBothWays && !n.MediaBothWays:
		return Regression, fmt.Sprintf("%s: media both ways → not (%s)", to, n.causeOr("no reason given"))
	case !o.MediaBothWays && n.MediaBothWays:
		return Improvement, to + ": media now flows both ways"
	}
	return "", ""
}

// short is the cell's transport, or "fails (cause)".
func (c Cell) short() string {
	if c.Works() {
		return string(c.Transport)
	}
	if c.LostAt > 0 {
		return fmt.Sprintf("lost (%s, then %s)", c.Transport, c.causeOr("no reason given"))
	}
	return "fails (" + c.causeOr("no reason given") + ")"
}

func (c Cell) causeOr(def string) string {
	switch {
	case c.Cause != "":
		return c.Cause
	case c.Reason != "":
		return firstClause(c.Reason)
	}
	return def
}

// firstClause is s up to its first "; ".
func firstClause(s string) string {
	if i := strings.Index(s, "; "); i > 0 {
		return s[:i]
	}
	return s
}
