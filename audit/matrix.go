package audit

import (
	"fmt"
	"slices"
	"time"

	"github.com/icelab/icelab/harness"
)

// Matrix is an audit's result: one cell per archetype × profile.
type Matrix struct {
	// Deployment and Firewall name the files audited.
	Deployment string `json:"deployment"`
	Firewall   string `json:"firewall,omitempty"`
	// TLSProblem is the deployment's certificate problem, if any.
	TLSProblem string `json:"tls_problem,omitempty"`
	// Notes say what the audit assumed.
	Notes []string `json:"notes,omitempty"`
	Cells []Cell   `json:"cells"`
	// FakeWall and RealWall are the wall time of the fake-clock and the
	// real-clock cells, summed over the rounds (cells, certificate
	// attribution, confirmation); each round runs its fake-clock cells
	// first, then its real-clock cells.
	FakeWall time.Duration `json:"fake_wall_ns"`
	RealWall time.Duration `json:"real_wall_ns"`
	// Interrupted is set when the audit was stopped: its cells are not a
	// verdict.
	Interrupted bool `json:"interrupted,omitempty"`

	// specs are the cells' calls, and run how they ran, for re-running
	// a cell to confirm a change; a matrix built by hand has neither.
	specs []harness.Spec
	run   *runInfo
}

// runInfo is what re-running a matrix's cells needs.
type runInfo struct {
	r Runner
	d *Deployment
	c Config
}

// Cell is one archetype × profile: what a user of that network, with that
// client, gets from the deployment.
type Cell struct {
	Archetype string `json:"archetype"`
	Profile   string `json:"profile"`
	// Transport is the transport at the end of the call, or "none".
	Transport harness.Transport `json:"transport"`
	// Candidates are the selected pair's candidate types, client → node,
	// as pion reports them: a NATed client's local candidate is its host
	// base, not the srflx address the node sees.
	Candidates string `json:"candidates,omitempty"`
	// ConnectTime is the time to the first connected state.
	ConnectTime   time.Duration `json:"connect_ns"`
	MediaBothWays bool          `json:"media_both_ways"`
	// Faulted: the call failed at some point (or fell back); Recovered:
	// it connected again with media both ways.
	Faulted   bool `json:"faulted"`
	Recovered bool `json:"recovered"`
	// LostAt is when a call that connected left the connected state for
	// good, on its clock; zero when it ended connected or never connected.
	// A lost call fails, whatever carried it before; Transport says what
	// that was.
	LostAt time.Duration `json:"lost_at_ns,omitempty"`
	// Reason explains a failure, for a person: the harness's account,
	// with random TURN user names taken out.
	Reason string `json:"reason,omitempty"`
	// Cause is the failure's deciding fact in a few words ("TCP 5349
	// dropped by the corporate firewall"), or "" when it works.
	Cause string `json:"cause,omitempty"`
	// TLSDependent: the cell fails because of the certificate problem.
	TLSDependent bool `json:"tls_dependent,omitempty"`
	// Symptom names a known misconfiguration the cell shows, such as
	// "relay candidates but srflx expected" (rtc.use_external_ip false
	// behind a cloud's 1:1 NAT).
	Symptom string        `json:"symptom,omitempty"`
	Clock   harness.Clock `json:"clock"`
	Wall    time.Duration `json:"wall_ns"`
	// Error is set when the cell's call could not run at all.
	Error string `json:"error,omitempty"`
}

// Works reports whether the cell ended connected.
func (c Cell) Works() bool {
	return c.Transport != harness.NoTransport && c.Transport != "" && c.LostAt == 0
}

// Outcome is the cell's transport, or "fails: reason" (with "lost at …
// on TRANSPORT" for a call that connected and was lost for good).
func (c Cell) Outcome() string {
	if c.Works() {
		return string(c.Transport)
	}
	if c.LostAt > 0 {
		return fmt.Sprintf("fails: lost at %.1fs on %s: %s", c.LostAt.Seconds(), c.Transport, c.Reason)
	}
	return "fails: " + c.Reason
}

// costOrder ranks transports, cheapest first: direct before relayed
// (RFC 8445 §5.1.2.1 type preferences), UDP before TCP (RFC 6544), TURN/TLS
// last (TLS over TCP, RFC 8656 §3.1).
var costOrder = []harness.Transport{harness.ICEUDP, harness.ICETCP, harness.TURNUDP, harness.TURNTCP, harness.TURNTLS}

// cost ranks a cell: its transport's place in costOrder, failing last.
func (c Cell) cost() int {
	if i := slices.Index(costOrder, c.Transport); i >= 0 && c.Works() {
		return i
	}
	return len(costOrder)
}

// Cell returns the named cell, or nil.
func (m *Matrix) Cell(archetype, profile string) *Cell {
	for i := range m.Cells {
		if m.Cells[i].Archetype == archetype && m.Cells[i].Profile == profile {
			return &m.Cells[i]
		}
	}
	return nil
}

// ChangeKind says what a change does to users.
type ChangeKind string

// Change kinds.
const (
	Regression  ChangeKind = "regression"
	Improvement ChangeKind = "improvement"
	// Changed: different, neither better nor worse (a new reason).
	Changed ChangeKind = "changed"
)

// Change is a cell that differs between a baseline and a candidate.
type Change struct {
	Archetype string     `json:"archetype"`
	Profile   string     `json:"profile"`
	Kind      ChangeKind `json:"kind"`
	Old       Cell       `json:"old"`
	New       Cell       `json:"new"`
	// Why says what changed, in a line: old → new.
	Why string `json:"why"`
	// Confirmed is the cell run again on both sides; nil when the
	// matrices could not be re-run (see Compare).
	Confirmed *Confirmation `json:"confirmed,omitempty"`
}

// Verdict is the confirmed verdict, or the kind's (Regressed, Improved)
// when the change was not confirmed.
func (c Change) Verdict() Verdict {
	switch {
	case c.Confirmed != nil:
		return c.Confirmed.Verdict
	case c.Kind == Regression:
		return Regressed
	case c.Kind == Improvement:
		return Improved
	}
	return Unstable
}

// String reads "corporate-443-only/browser regressed 3/3: TURN/TLS → fails
// (…)".
func (c Change) String() string {
	v := string(c.Verdict()) + " (not confirmed)"
	if c.Confirmed != nil {
		v = c.Confirmed.String()
	}
	return fmt.Sprintf("%s/%s %s: %s", c.Archetype, c.Profile, v, c.Why)
}

// Diff compares a candidate matrix with its baseline, cell by cell. A
// regression is a cell that connected and now fails, that lands on a
// costlier transport (ICE/UDP < ICE/TCP < TURN/UDP < TURN/TCP < TURN/TLS),
// or whose media no longer flows both ways; an improvement is the reverse.
// Cells in only one matrix, and cells that could not run, are not
// compared. Diff runs nothing: its changes are unconfirmed (Compare
// confirms them).
func Diff(baseline, candidate Matrix) []Change {
	var out []Change
	for _, n := range candidate.Cells {
		o := baseline.Cell(n.Archetype, n.Profile)
		if o == nil || o.Error != "" || n.Error != "" {
			continue
		}
		kind, why := compareCells(*o, n)
		if kind == "" {
			continue
		}
		out = append(out, Change{Archetype: n.Archetype, Profile: n.Profile, Kind: kind, Old: *o, New: n, Why: why})
	}
	return out
}

// Regressions keeps the changes whose verdict is Regressed: confirmed
// regressions, and unconfirmed ones.
func Regressions(changes []Change) []Change {
	var out []Change
	for _, c := range changes {
		if c.Verdict() == Regressed {
			out = append(out, c)
		}
	}
	return out
}
