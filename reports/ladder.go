package reports

import (
	"fmt"
	"strings"
	"time"

	"github.com/icelab/icelab/harness"
)

// How every human-readable format shows a media node's transport ladder
// (LiveKit's: harness/sfu) for a client: each decision, when and why, and
// each ICE configuration the node sent.

// ladderStep is one decision of the ladder as the reports show it.
type ladderStep struct {
	At      time.Duration
	Trigger string
	// Step is "none → TURN/TLS", "stays at none" when a decision left the
	// ladder where it was, or "no step" for an event that does not decide
	// (the node closing a participant that did not resume).
	Step string
	Why  string
	// RTTs are the round trips the decision knew: "signalling 30 ms,
	// media 30 ms", or "" when it knew none.
	RTTs string
}

// ladderSteps are c's ladder decisions in order.
func ladderSteps(c *harness.ClientResult) []ladderStep {
	out := make([]ladderStep, 0, len(c.Ladder))
	for _, s := range c.Ladder {
		step := "no step"
		if s.From != "" {
			step = "stays at " + s.From
		}
		if s.Moved {
			step = orNone(s.From) + " → " + orNone(s.To)
		}
		out = append(out, ladderStep{At: s.At, Trigger: s.Trigger, Step: step, Why: s.Why, RTTs: rttPair(s.SignallingRTT, s.MediaRTT)})
	}
	return out
}

// String is the step on one line: "26.23 s: its peer connection failed:
// none → TURN/TLS (short-lived connection; signalling RTT 30 ms, media RTT
// 30 ms)".
func (s ladderStep) String() string {
	why := s.Why
	if s.RTTs != "" {
		why = strings.TrimPrefix(why+"; "+s.RTTs, "; ")
	}
	line := fmt.Sprintf("%.2f s: %s: %s", s.At.Seconds(), s.Trigger, s.Step)
	if why != "" {
		line += " (" + why + ")"
	}
	return line
}

// rttPair names the round trips a ladder decision knew.
func rttPair(signalling, media time.Duration) string {
	var parts []string
	if signalling > 0 {
		parts = append(parts, fmt.Sprintf("signalling RTT %d ms", signalling.Milliseconds()))
	}
	if media > 0 {
		parts = append(parts, fmt.Sprintf("media RTT %d ms", media.Milliseconds()))
	}
	return strings.Join(parts, ", ")
}

func orNone(pref string) string {
	if pref == "" {
		return "none"
	}
	return pref
}

// iceConfigSent is an ICE configuration the node sent, as the reports show
// it.
type iceConfigSent struct {
	At         time.Duration
	Why        string
	Preference string
	// Policy is "relay only" when the node told the client to force relay,
	// "all" otherwise.
	Policy  string
	Servers string
}

// iceConfigsSent are the ICE configurations the node sent c, in order.
func iceConfigsSent(c *harness.ClientResult) []iceConfigSent {
	out := make([]iceConfigSent, 0, len(c.ICEConfigs))
	for _, s := range c.ICEConfigs {
		policy := "all"
		if s.ForceRelay {
			policy = "relay only"
		}
		servers := strings.Join(s.Servers, ", ")
		if servers == "" {
			servers = "no ICE servers"
		}
		out = append(out, iceConfigSent{At: s.At, Why: s.Why, Preference: orNone(s.Preference), Policy: policy, Servers: servers})
	}
	return out
}

// String is the configuration on one line: "0.08 s, join: preference
// none, policy all: turn:…, turns:…".
func (s iceConfigSent) String() string {
	return fmt.Sprintf("%.2f s, %s: preference %s, policy %s: %s", s.At.Seconds(), s.Why, s.Preference, s.Policy, s.Servers)
}
