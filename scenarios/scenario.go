package scenarios

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/icelab/icelab/harness"
	"go.yaml.in/yaml/v3"
)

// Scenario is one loaded scenario file: the call to run and what should
// happen to each client.
type Scenario struct {
	// File is the path the scenario was loaded from (or the name given to
	// Parse).
	File string
	// Name names the scenario; it defaults to the file's base name.
	Name string
	// Report is the field report the scenario reproduces, in the words of
	// the person who reported it.
	Report string
	// Source says where the report comes from (a seed document, a ticket).
	Source string
	// Spec is the call, ready for harness.Run.
	Spec harness.Spec
	// Expect holds the expectations by client name; in a peer-to-peer
	// file, by result name ("alice→bob", harness.PeerResultName), each
	// peer's expectation copied to each of its connections.
	Expect map[string]Expectation
	// RealClock is true when the scenario needs the machine's clock: a
	// client does ICE-TCP, whose active side dials through the operating
	// system, so the run cannot happen inside a testing/synctest bubble.
	RealClock bool
	// Warnings are problems that do not stop the scenario from running,
	// such as a certificate file that does not cover turn.domain.
	Warnings []string

	// places locates the file's parts by the names run errors give them
	// ("lan corp", "client alice", "node", "faults[0]").
	places map[string]*Error
}

// place records where the parts named by keys are in the file.
func (s *Scenario) place(n *yaml.Node, field string, keys ...string) {
	if s.places == nil {
		s.places = map[string]*Error{}
	}
	for _, k := range keys {
		s.places[k] = &Error{File: s.File, Line: lineOf(n), Field: field}
	}
}

// Locate turns an error from running the scenario into an *Error at the
// part of the file it is about: harness and relay errors name a LAN
// ("lan corp: ..."), a host or client ("client alice ...", "host alice:
// ..."), the node ("node: ...", "relay media: ...") or a fault
// ("faults[0]: ..."). An error that names none of them is placed at the
// file as a whole.
func (s *Scenario) Locate(runErr string) *Error {
	var (
		best    *Error
		bestKey string
		at      = len(runErr) + 1
	)
	for key, e := range s.places {
		i := strings.Index(runErr, key+" ")
		if j := strings.Index(runErr, key+":"); j >= 0 && (i < 0 || j < i) {
			i = j
		}
		// The first name the error gives wins; at one place, the longest.
		if i >= 0 && (i == 0 || runErr[i-1] == ' ') && (i < at || i == at && len(key) > len(bestKey)) {
			best, bestKey, at = e, key, i
		}
	}
	if best == nil {
		return &Error{File: s.File, Msg: runErr}
	}
	return &Error{File: best.File, Line: best.Line, Field: best.Field, Msg: runErr}
}

// Expectation is what should happen to one client. Zero fields are not
// checked.
type Expectation struct {
	// Transports lists acceptable transports, each what carried the call
	// (even if it was lost later), "none" for a call that never
	// connected; empty means any.
	Transports []harness.Transport
	// Connected, if set, is whether the client connected at all.
	Connected *bool
	// LocalCandidates and RemoteCandidates list the acceptable candidate
	// types (host, srflx, prflx, relay) of the final selected pair's ends,
	// as the client sees them; "none" means no pair was selected, and an
	// empty list any type.
	LocalCandidates, RemoteCandidates []string
	// MediaBothWays, if set, is whether media flowed to and from the
	// client over the whole call: every publication reached the node and
	// every subscription the client, at some time.
	MediaBothWays *bool
	// FlowingAtEnd, if set, is whether all of that media was still
	// flowing when the call ended (media: {flowing_at_end: true}).
	FlowingAtEnd *bool
	// Quality bounds every RTP flow to and from the client, each measured
	// where it was received (media: {min_bitrate, max_loss, max_rtt,
	// max_jitter, max_freeze}).
	Quality QualityBounds
	// Ladder, if not nil, lists the preferences the media node's transport
	// ladder moved the client to, in order ("ICE/TCP", "TURN/TLS",
	// "none"); an empty list means it never moved.
	Ladder []string
	// Recovered, if set, is whether the client recovered from a failure.
	Recovered *bool
	// RecoverWithin bounds the time from the detected failure to recovery.
	RecoverWithin time.Duration
	// FailureContains must appear in the client's failure explanation
	// (case-insensitively).
	FailureContains string
	// FinalState is the last peer connection state ("connected",
	// "connecting", "failed", ...).
	FinalState string
}

// Mismatch is one expectation that a result did not meet.
type Mismatch struct {
	// Client is the client's name; "" for the run as a whole.
	Client string
	// Field is the expectation, as spelled in the file ("transport",
	// "candidates.local").
	Field    string
	Expected string
	Observed string
}

func (m Mismatch) String() string {
	who := m.Client
	if who == "" {
		who = "run"
	}
	return fmt.Sprintf("%s: %s: expected %s, observed %s", who, m.Field, m.Expected, m.Observed)
}

// Check compares res with the scenario's expectations and returns every
// mismatch, clients in file order; nil means the result is as expected.
func (s *Scenario) Check(res harness.Result) []Mismatch {
	var out []Mismatch
	if res.Err != "" {
		out = append(out, Mismatch{Field: "run", Expected: "a run", Observed: "error: " + res.Err})
	}
	for _, name := range s.expectOrder() {
		exp := s.Expect[name]
		c := res.Client(name)
		if c == nil {
			out = append(out, Mismatch{Client: name, Field: "client", Expected: "a result", Observed: "no result for this client"})
			continue
		}
		out = append(out, exp.check(name, c)...)
	}
	return out
}

// expectOrder is the clients with expectations, in the order of the spec's
// clients.
func (s *Scenario) expectOrder() []string {
	var names []string
	for _, c := range s.Spec.Clients {
		if _, ok := s.Expect[c.Name]; ok {
			names = append(names, c.Name)
		}
	}
	for _, n := range mapKeys(s.Expect) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

func (e Expectation) check(name string, c *harness.ClientResult) []Mismatch {
	var out []Mismatch
	add := func(field, expected, observed string) {
		out = append(out, Mismatch{Client: name, Field: field, Expected: expected, Observed: observed})
	}
	if len(e.Transports) > 0 && !slices.Contains(e.Transports, c.Transport) {
		want := make([]string, len(e.Transports))
		for i, t := range e.Transports {
			want[i] = string(t)
		}
		add("transport", strings.Join(want, " or "), observedTransport(c))
	}
	if e.Connected != nil && *e.Connected != c.Connected {
		add("connected", fmt.Sprint(*e.Connected), fmt.Sprint(c.Connected)+failureNote(c))
	}
	local, remote := "none", "none"
	if c.Selected != nil {
		local, remote = c.Selected.Local.Type, c.Selected.Remote.Type
	}
	if len(e.LocalCandidates) > 0 && !slices.Contains(e.LocalCandidates, local) {
		add("candidates.local", strings.Join(e.LocalCandidates, " or "), local+pairNote(c))
	}
	if len(e.RemoteCandidates) > 0 && !slices.Contains(e.RemoteCandidates, remote) {
		add("candidates.remote", strings.Join(e.RemoteCandidates, " or "), remote+pairNote(c))
	}
	if e.MediaBothWays != nil && *e.MediaBothWays != c.MediaBothWays {
		add("media.both_ways", fmt.Sprint(*e.MediaBothWays), fmt.Sprint(c.MediaBothWays)+mediaNote(c))
	}
	if e.FlowingAtEnd != nil && *e.FlowingAtEnd != c.MediaFlowingAtEnd {
		add("media.flowing_at_end", fmt.Sprint(*e.FlowingAtEnd), fmt.Sprint(c.MediaFlowingAtEnd)+mediaNote(c))
	}
	out = append(out, e.Quality.check(name, c)...)
	if e.Ladder != nil {
		var moved []string
		for _, s := range c.Ladder {
			if s.Moved {
				moved = append(moved, s.To)
			}
		}
		if !slices.Equal(moved, e.Ladder) {
			add("ladder", "steps "+ladderList(e.Ladder), "steps "+ladderList(moved)+ladderNote(c))
		}
	}
	if e.Recovered != nil && *e.Recovered != c.Recovered {
		add("recovered", fmt.Sprint(*e.Recovered), fmt.Sprint(c.Recovered)+failureNote(c))
	}
	if e.RecoverWithin > 0 {
		switch {
		case !c.Recovered:
			add("recover_within", "recovery within "+e.RecoverWithin.String(), "no recovery"+failureNote(c))
		case c.RecoveryTime() > e.RecoverWithin:
			add("recover_within", "recovery within "+e.RecoverWithin.String(), "recovery after "+c.RecoveryTime().String())
		}
	}
	if e.FailureContains != "" && !strings.Contains(strings.ToLower(c.Failure), strings.ToLower(e.FailureContains)) {
		obs := "no failure"
		if c.Failure != "" {
			obs = fmt.Sprintf("failure %q", c.Failure)
		}
		add("failure_contains", fmt.Sprintf("a failure mentioning %q", e.FailureContains), obs)
	}
	if e.FinalState != "" && e.FinalState != c.FinalState() {
		add("final_state", e.FinalState, c.FinalState())
	}
	return out
}

func ladderList(steps []string) string {
	if len(steps) == 0 {
		return "[] (no step)"
	}
	return "[" + strings.Join(steps, ", ") + "]"
}

// ladderNote says what the ladder saw, each decision with its reason.
func ladderNote(c *harness.ClientResult) string {
	if len(c.Ladder) == 0 {
		return " (the node reported no ladder decision)"
	}
	var parts []string
	for _, s := range c.Ladder {
		parts = append(parts, fmt.Sprintf("%.1f s %s: %s", s.At.Seconds(), s.Trigger, s.Why))
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

func observedTransport(c *harness.ClientResult) string {
	t := string(c.Transport)
	if t == "" {
		t = string(harness.NoTransport)
	}
	return t + failureNote(c)
}

func failureNote(c *harness.ClientResult) string {
	if c.Failure == "" {
		return ""
	}
	return fmt.Sprintf(" (failure: %s)", c.Failure)
}

func pairNote(c *harness.ClientResult) string {
	if c.Selected == nil {
		return ""
	}
	return " (" + c.Selected.String() + ")"
}

func mediaNote(c *harness.ClientResult) string {
	var parts []string
	for _, m := range c.Media {
		parts = append(parts, fmt.Sprintf("%s %s %d of %d", m.Track, m.Direction, m.Packets, m.Sent))
	}
	if len(parts) == 0 {
		return " (no media counted)"
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
