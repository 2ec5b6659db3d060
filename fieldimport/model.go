package fieldimport

import (
	"fmt"
	"strings"
	"time"
)

// Certainty is how an inference stands to the evidence.
type Certainty string

// Certainties.
const (
	// Observed: the dump shows it directly.
	Observed Certainty = "observed"
	// Inferred: it follows from what the dump shows.
	Inferred Certainty = "inferred"
	// Assumed: the dump cannot show it; the choice is the conservative
	// one, and the alternatives are named.
	Assumed Certainty = "assumed"
)

// Aspect is a part of an outcome an inference bears on.
type Aspect string

// Aspects of an outcome.
const (
	AspectStage      Aspect = "stage"
	AspectTransport  Aspect = "transport"
	AspectCandidates Aspect = "candidates"
)

// Inference is one conclusion drawn from the evidence: what it put in
// the scenario, why, how sure it is, and what else it could be.
type Inference struct {
	// N numbers the inference in the scenario (1-based), so that a run
	// that does not reproduce the field can name the ones to revisit.
	N            int
	Certainty    Certainty
	What         string // what the scenario says because of it
	Because      string // the evidence, addresses anonymized
	Alternatives []string
	// Affects lists the parts of the outcome that depend on it.
	Affects []Aspect
}

// Comment renders the inference as the comment written beside what it
// produced.
func (in *Inference) Comment() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%d] %s: %s", in.N, in.Certainty, in.What)
	if in.Because != "" {
		b.WriteString(", because ")
		b.WriteString(in.Because)
	}
	b.WriteString(".")
	if len(in.Alternatives) > 0 {
		b.WriteString(" Alternatives: ")
		b.WriteString(strings.Join(in.Alternatives, "; "))
		b.WriteString(".")
	}
	return b.String()
}

// affects says whether the inference bears on a.
func (in *Inference) affects(a Aspect) bool {
	for _, x := range in.Affects {
		if x == a {
			return true
		}
	}
	return false
}

// plan is the scenario the inferences build, in the scenario file's
// vocabulary (scenarios/doc.go), each part with the inferences that
// produced it.
type plan struct {
	name, source, report string
	header               []string // the top comment's paragraphs
	lans                 []lanPlan
	node                 *nodePlan
	servers              []serverPlan
	client               endpointPlan
	peer                 *endpointPlan // the far end of a peer-to-peer call
	faults               []faultPlan
	duration             time.Duration
	durationWhy          []*Inference
	expect               expectPlan
}

type lanPlan struct {
	name, parent, prefix string
	why                  []*Inference // the LAN as a whole
	nat                  string       // a preset, or "" with natMap set
	natMapping           string       // a mapping behaviour over the preset
	natWhy               []*Inference
	firewall             []rulePlan
	archetype            string // set when the client's LANs match an archetype
}

// rulePlan is one firewall entry: a preset with its argument, or a rule.
type rulePlan struct {
	preset string
	ports  []int          // only-tcp-out's ports
	after  time.Duration  // udp-whack's
	rule   map[string]any // a rule's fields, written as a flow mapping
	why    []*Inference
}

type nodePlan struct {
	why        []*Inference
	configFile string
	turn       *turnPlan // nil with configFile
}

type turnPlan struct {
	enabled          bool
	domain           string
	udpPort, tlsPort int
	users            map[string]string
	tls              bool
}

type serverPlan struct {
	name string
	turn turnPlan // its reason is alice's ice_servers'
}

type endpointPlan struct {
	name         string
	lan          string
	why          []*Inference
	policy       string
	policyWhy    []*Inference
	networkTypes []string
	typesWhy     []*Inference
	iceServers   []iceServerPlan
	serversWhy   []*Inference
	servers      []string // a peer's servers: (nil: every server)
	publish      []string
	publishWhy   []*Inference
	fallback     string
	fallbackWhy  []*Inference
}

type iceServerPlan struct {
	urls               []string
	username, password string
}

type faultPlan struct {
	name   string
	event  string
	client string
	after  time.Duration
	kind   string
	target string
	rules  []string
	why    []*Inference
}

// expectPlan is the field outcome as an expectation of the scenario file.
type expectPlan struct {
	transports      []string
	connected       bool
	local, remote   []string
	finalState      string
	failureContains string
	why             []*Inference
}
