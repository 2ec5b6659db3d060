package harness

import (
	"fmt"
	"strings"
	"time"

	"github.com/icelab/icelab/vnet"
)

// Transport is how a client's media reaches the media node.
type Transport string

// The transports icelab tells apart.
const (
	ICEUDP  Transport = "ICE/UDP"
	ICETCP  Transport = "ICE/TCP"
	TURNUDP Transport = "TURN/UDP"
	TURNTCP Transport = "TURN/TCP"
	TURNTLS Transport = "TURN/TLS"
	// NoTransport: never connected.
	NoTransport Transport = "none"
)

// Clock says which clock a run used.
type Clock string

// Clocks.
const (
	// FakeClock: a testing/synctest bubble; timers cost no wall time.
	FakeClock Clock = "fake"
	// RealClock: the machine's clock, for runs with client ICE-TCP.
	RealClock Clock = "real"
)

// Result is what happened in one run. Times are offsets from the start of
// the run, on the run's clock.
type Result struct {
	Name     string
	Clock    Clock
	Duration time.Duration
	// Interrupted is set when the run ended before its duration because
	// its context ended or its stop function (WithStop) said so: what it
	// observed is cut short and must not be judged as a whole call.
	Interrupted bool
	// Wall is how long the run took on the machine's clock.
	Wall    time.Duration
	Clients []ClientResult
	// Relay is the relay's counters at the end of the run.
	Relay RelayStats
	// Faults lists the faults applied, when.
	Faults []AppliedFault
	// Drops counts packets the network dropped, by reason ("firewall
	// corp rule 1 (block-udp)", "nat: filtered ...").
	Drops map[string]int
	// Packets are the packets captured when Spec.Capture is set, in the
	// order their journeys ended, with their payloads.
	Packets []vnet.Event `json:"-"`
	// Err is set when the run itself could not be built or run (bad
	// spec); it is not a connectivity failure.
	Err string
}

// Client returns the named client's result, or nil.
func (r *Result) Client(name string) *ClientResult {
	for i := range r.Clients {
		if r.Clients[i].Name == name {
			return &r.Clients[i]
		}
	}
	return nil
}

// RelayStats is the relay's view of the run, summed over its relays.
type RelayStats struct {
	// Allocations counts allocations made during the run.
	Allocations int
	// ClientToPeer and PeerToClient count the datagrams relayed each way
	// and their payload bytes.
	ClientToPeerBytes, ClientToPeerPackets uint64
	PeerToClientBytes, PeerToClientPackets uint64
	// PacketsRelayed is both directions' packets.
	PacketsRelayed uint64
	AuthFailures   uint64
}

// AppliedFault is a fault and when it applied.
type AppliedFault struct {
	At   time.Duration
	Name string
	What string
}

// Candidate is one ICE candidate.
type Candidate struct {
	At            time.Duration `json:",omitempty"`
	Type          string        // host, srflx, prflx, relay
	Protocol      string        // udp, tcp
	Address       string        // ip:port
	RelayProtocol string        `json:",omitempty"` // udp, tcp, tls (relay only)
	TCPType       string        `json:",omitempty"` // active, passive (ICE-TCP only)
}

func (c Candidate) String() string {
	s := c.Type + "/" + c.Protocol
	if c.RelayProtocol != "" {
		s += "(" + c.RelayProtocol + ")"
	}
	return s + " " + c.Address
}

// Pair is a selected candidate pair as one end sees it.
type Pair struct {
	Local, Remote Candidate
}

func (p Pair) String() string { return p.Local.String() + " -> " + p.Remote.String() }

// PairChange is a change of the selected pair.
type PairChange struct {
	At   time.Duration
	Pair Pair
}

// StateChange is one entry of a state timeline.
type StateChange struct {
	At    time.Duration
	State string
}

// PairCheck is a candidate pair that ICE tried and how far it got.
type PairCheck struct {
	Local, Remote string
	State         string
	Nominated     bool
}

// Media is the traffic of one track (or data channel) in one direction.
type Media struct {
	Track     string // "alice/audio", "alice/data"
	Kind      string // audio, video, data
	Direction string // sent, received
	Packets   uint64
	Bytes     uint64
	// AfterRecovery counts what flowed after the last recovery, if any.
	AfterRecoveryPackets uint64
}

// Attempt is one connection attempt of a client: the first, or a
// reconnect by its fallback policy.
type Attempt struct {
	At        time.Duration
	Why       string // "initial", "ice failed: restart", "dtls deadline: reconnect preferring tcp", ...
	Policy    string // the ICE transport policy and network types used
	Node      string
	Connected bool
	Selected  *Pair `json:",omitempty"`
}

// ClientResult is one client's view of the call, joined with the media
// node's view of that client.
type ClientResult struct {
	Name string
	// Signalling is whether and when the client reached the node's
	// signalling endpoint, and the error if not.
	Signalling           bool
	SignallingAt         time.Duration
	SignallingError      string `json:",omitempty"`
	Transport            Transport
	Selected             *Pair `json:",omitempty"` // the client's end, final
	NodeSelected         *Pair `json:",omitempty"` // the node's end, final
	PairChanges          []PairChange
	LocalCandidates      []Candidate
	RemoteCandidates     []Candidate
	Checks               []PairCheck
	ICEStates            []StateChange
	DTLSStates           []StateChange
	PeerConnectionStates []StateChange
	Attempts             []Attempt
	// GatherErrors are what pion reported about candidates it could not
	// gather: an unresolvable TURN name, a refused or untrusted TLS
	// connection, a refused allocation.
	GatherErrors []string `json:",omitempty"`
	Media        []Media

	Connected bool
	// ConnectedAt is the time to connect: peer connection connected.
	ConnectedAt time.Duration
	// FailedAt is when the failure was detected (ICE disconnected or
	// failed, or a DTLS deadline), after a fault or during connect.
	FailedAt time.Duration
	// Recovered: connected again after a failure, with media both ways.
	Recovered   bool
	RecoveredAt time.Duration
	// MediaBothWays: media flowed from the client and to it (after
	// recovery, if there was one).
	MediaBothWays bool
	// Failure explains what went wrong, for a person.
	Failure string `json:",omitempty"`
}

// RecoveryTime is how long recovery took from the detected failure.
func (c *ClientResult) RecoveryTime() time.Duration {
	if !c.Recovered {
		return 0
	}
	return c.RecoveredAt - c.FailedAt
}

// FinalState returns the last peer connection state.
func (c *ClientResult) FinalState() string {
	if len(c.PeerConnectionStates) == 0 {
		return "new"
	}
	return c.PeerConnectionStates[len(c.PeerConnectionStates)-1].State
}

// Timeline renders the client's states, pair changes and attempts in time
// order, one per line, for failure messages and reports.
func (c *ClientResult) Timeline() string {
	type line struct {
		at   time.Duration
		text string
	}
	var lines []line
	for _, s := range c.ICEStates {
		lines = append(lines, line{s.At, "ice " + s.State})
	}
	for _, s := range c.DTLSStates {
		lines = append(lines, line{s.At, "dtls " + s.State})
	}
	for _, s := range c.PeerConnectionStates {
		lines = append(lines, line{s.At, "pc " + s.State})
	}
	for _, p := range c.PairChanges {
		lines = append(lines, line{p.At, "selected " + p.Pair.String()})
	}
	for _, a := range c.Attempts {
		lines = append(lines, line{a.At, "attempt: " + a.Why + " [" + a.Policy + "]"})
	}
	// stable insertion sort by time
	for i := 1; i < len(lines); i++ {
		for j := i; j > 0 && lines[j].at < lines[j-1].at; j-- {
			lines[j], lines[j-1] = lines[j-1], lines[j]
		}
	}
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%9.3fs  %s\n", l.at.Seconds(), l.text)
	}
	return b.String()
}
