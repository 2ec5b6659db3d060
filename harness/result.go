package harness

import (
	"fmt"
	"strings"
	"time"

	"github.com/icelab/icelab/harness/media"
	"github.com/icelab/icelab/harness/sfu"
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
	// NoTransport: never connected. A call that connected and was lost
	// names what carried it, with LostAt.
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
	// Wall is how long the run took on the machine's clock.
	Wall    time.Duration
	Clients []ClientResult
	// Relay is the relay's counters at the end of the run.
	Relay RelayStats
	// Node is the media node's load over the call; zero in a peer-to-peer
	// call.
	Node NodeLoad `json:",omitempty"`
	// Faults lists the faults applied, when.
	Faults []AppliedFault
	// Traffic is what each cross-traffic flow carried.
	Traffic []TrafficResult `json:",omitempty"`
	// Drops counts packets the network dropped, by reason ("firewall
	// corp rule 1 (block-udp)", "nat: filtered ...").
	Drops map[string]int
	// Packets are the events about the packets Spec.Capture selected, with
	// their payloads: every place each was seen, in the order the packets
	// were first seen.
	Packets []vnet.Event `json:"-"`
	// Err is set when the run itself could not be built or run (bad
	// spec); it is not a connectivity failure.
	Err string
	// Interrupted: the run's context ended, or its stop function (WithStop)
	// said so, before the call had run its duration (Duration says how far
	// it got), or while it was being built. What the clients did until
	// then is recorded, but an outcome judged over the whole call (media
	// both ways, a failure to connect) is not the call's: do not judge
	// it against expectations.
	Interrupted bool `json:",omitempty"`
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
	// Bitrate is the relay's bandwidth: both directions' payload bits per
	// second, over the call.
	Bitrate float64 `json:",omitempty"`
}

// NodeLoad is what the media node carried, from the meters: the RTP its
// participants' publications brought in (each packet once) and what it
// forwarded to their subscribers, over the call. A packet the node sent
// and the network lost counts as sent (PacketsOut) but not in BytesOut,
// which counts what arrived.
type NodeLoad struct {
	Publications, Subscriptions int
	PacketsIn, BytesIn          uint64
	PacketsOut, BytesOut        uint64
	// BitrateIn and BitrateOut are BytesIn and BytesOut in bits per
	// second over the call.
	BitrateIn, BitrateOut float64
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

// PairCheck is a candidate pair that ICE tried and how far it got; its
// candidates are labelled as Candidate.String labels them.
type PairCheck struct {
	Local, Remote string
	State         string
	Nominated     bool
}

// Media is one flow of a client's call: one of its publications where
// the media node (or the remote peer) received it, one of its
// subscriptions where it arrived, or its data channel's messages; with what
// its sender sent and, for RTP, one entry per stream (SSRC) that carried
// it. See media.FlowStats.
type Media = media.FlowStats

// StreamStats is one RTP stream of a flow: its own statistics, never mixed
// with another stream's.
type StreamStats = media.StreamStats

// Quality is an RTP flow's (or stream's) quality, judged against what its
// sender sent; see media.Quality.
type Quality = media.Quality

// Second is one second of a flow's quality.
type Second = media.Second

// Outage is a time during which media that had been flowing did not; see
// media.Outage.
type Outage = media.Outage

// LadderStep is one decision of the media node's transport ladder, when.
type LadderStep struct {
	At time.Duration
	sfu.LadderEvent
}

// ICEConfigSent is an ICE configuration the node sent a client, when.
type ICEConfigSent struct {
	At time.Duration
	sfu.SentICEConfig
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
	// Checks are the candidate pairs this attempt's peer connection tried
	// (an ICE restart's attempt shares its peer connection with the one
	// before).
	Checks []PairCheck `json:",omitempty"`
}

// ClientResult is one client's view of the call, joined with the media
// node's view of that client.
type ClientResult struct {
	Name string
	// Peer and Remote are set on a peer-to-peer call's results, one per
	// end of each connection: Name is "peer→remote" (PeerResultName),
	// and the fields below are Peer's view of its connection to Remote,
	// with "the node" read as Remote.
	Peer   string `json:",omitempty"`
	Remote string `json:",omitempty"`
	// Route describes a peer-to-peer connection's selected pair at both
	// ends: "direct: srflx ↔ prflx", "relayed: relay(TURN/UDP) ↔ srflx",
	// "relayed: relay(TURN/UDP) ↔ relay(TURN/TLS)"; local end first.
	Route string `json:",omitempty"`
	// Signalling is whether and when the client reached the node's
	// signalling endpoint, and the error if not.
	Signalling      bool
	SignallingAt    time.Duration
	SignallingError string `json:",omitempty"`
	// Transport is what carried the call: the transport of the last pair
	// selected while the client was connected, even if the connection was
	// lost later (see ConnectedAt and LostAt, and TransportSummary for all
	// three in one phrase). NoTransport only if it never connected.
	Transport Transport
	// LostAt is when the client's connection last left the connected
	// state without connecting again by the end of the call; zero if it
	// ended connected or never connected.
	LostAt time.Duration `json:",omitempty"`
	// LeftAt is when the client hung up (a leave fault): what it carried
	// until then is no failure. Zero if it never left.
	LeftAt time.Duration `json:",omitempty"`
	// Selected is the client's end of the selected pair, final;
	// NodeSelected is the media node's end of the same pair (its local
	// candidate is the node's, its remote the client as the node saw it,
	// after any NAT).
	Selected             *Pair `json:",omitempty"`
	NodeSelected         *Pair `json:",omitempty"`
	PairChanges          []PairChange
	LocalCandidates      []Candidate
	RemoteCandidates     []Candidate
	Checks               []PairCheck
	ICEStates            []StateChange
	DTLSStates           []StateChange
	PeerConnectionStates []StateChange
	Attempts             []Attempt
	// Ladder is what the media node's transport ladder (LiveKit's) did
	// about the client: each failure it saw and whether it stepped, and
	// why; ICEConfigs the ICE configurations the node sent it, on join and
	// on every resume. Both are empty for clients of the legacy signalling
	// (fallback policies other than livekit).
	Ladder     []LadderStep    `json:",omitempty"`
	ICEConfigs []ICEConfigSent `json:",omitempty"`
	// GatherErrors are what pion reported about candidates it could not
	// gather: an unresolvable TURN name, a refused or untrusted TLS
	// connection, a refused allocation.
	GatherErrors []string `json:",omitempty"`
	Media        []Media

	Connected bool
	// ConnectedAt is the time to connect: peer connection connected.
	ConnectedAt time.Duration
	// FailedAt is when the failure was detected: ICE disconnected or
	// failed, a connect deadline, a failed attempt or signalling, after a
	// fault or during connect. It is set whenever Failure is; a failure
	// judged only from the whole call (never connected, media missing)
	// is detected at the end of the call.
	FailedAt time.Duration
	// Recovered: connected again after a failure, with media both ways.
	Recovered   bool
	RecoveredAt time.Duration
	// MediaBothWays: over the whole call, every publication reached the
	// node and every subscription (and the data channel's echo) reached
	// the client. Outages on the way are listed in Outages; whether they
	// all still flowed when the call ended is MediaFlowingAtEnd.
	MediaBothWays bool
	// MediaFlowingAtEnd: every flow MediaBothWays judges carried packets
	// and none had stopped for good (an ongoing outage) by the end of the
	// call.
	MediaFlowingAtEnd bool
	// NoMediaExpected: the client neither publishes nor subscribes to
	// anything, so media is not judged (MediaBothWays is false, and that
	// is no failure).
	NoMediaExpected bool `json:",omitempty"`
	// Outages are the times media stopped, in time order: when any of the
	// flows MediaBothWays judges was silent for more than a second after
	// it had started, merged across flows. The last is Ongoing if media
	// had not flowed again by the end of the call.
	Outages []Outage `json:",omitempty"`
	// Failure explains what went wrong, for a person.
	Failure string `json:",omitempty"`
}

// RecoveryTime is how long recovery took by the connection states: from
// the detected failure (FailedAt) to connected again. It is shorter than
// the outage a user heard, which began when media stopped, before the
// failure was detected; see MediaRecoveryTime.
func (c *ClientResult) RecoveryTime() time.Duration {
	if !c.Recovered {
		return 0
	}
	return c.RecoveredAt - c.FailedAt
}

// MediaOutage returns the outage the failure fell in: the first that ended
// at or after FailedAt and began at or before it. Nil when there is none:
// no failure, or media had not flowed before it (a failed connect).
func (c *ClientResult) MediaOutage() *Outage {
	if c.FailedAt == 0 {
		return nil
	}
	for i := range c.Outages {
		if o := &c.Outages[i]; o.Start <= c.FailedAt && o.End >= c.FailedAt {
			return o
		}
	}
	return nil
}

// MediaRecoveryTime is how long media was out around the failure: from when
// it stopped to when it flowed again. Zero when it never flowed again, or
// when there was no such outage (see MediaOutage).
func (c *ClientResult) MediaRecoveryTime() time.Duration {
	o := c.MediaOutage()
	if o == nil || o.Ongoing {
		return 0
	}
	return o.Duration()
}

// TransportSummary says in one phrase what carried the call and how it
// ended: "ICE/UDP", "ICE/UDP, lost at 16.5 s", or "none" for a client that
// never connected.
func (c *ClientResult) TransportSummary() string {
	if c.Transport == "" {
		return string(NoTransport)
	}
	if c.LeftAt > 0 && c.Transport != NoTransport {
		return fmt.Sprintf("%s, left at %.1f s", c.Transport, c.LeftAt.Seconds())
	}
	if c.LostAt > 0 {
		return fmt.Sprintf("%s, lost at %.1f s", c.Transport, c.LostAt.Seconds())
	}
	return string(c.Transport)
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
