package fieldimport

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/icelab/icelab/harness"
)

// Stage is how far a call got.
type Stage string

// Stages, in the order a call passes them.
const (
	// StageICE: no candidate pair ever succeeded.
	StageICE Stage = "ice"
	// StageDTLS: ICE connected, the DTLS handshake never completed.
	StageDTLS Stage = "dtls"
	// StageLost: the call connected, then was lost and had not
	// connected again when the dump ends.
	StageLost Stage = "lost"
	// StageConnected: connected, and still connected when the dump ends.
	StageConnected Stage = "connected"
)

func (s Stage) String() string {
	switch s {
	case StageICE:
		return "never connected: ICE found no working candidate pair"
	case StageDTLS:
		return "ICE connected but DTLS never completed"
	case StageLost:
		return "connected, then lost"
	}
	return "connected"
}

// Outcome is what happened to a call, in the terms icelab reports: what
// the field dump shows, or what a run observed.
type Outcome struct {
	Stage Stage
	// Transports is what carried the call: one, or the ones the dump
	// cannot tell apart (a remote relay candidate whose relay protocol
	// only the far end knows); [none] for a call that never connected.
	Transports []harness.Transport
	// Local and Remote are the candidate types of the pair that carried
	// the call, as this end sees it; "none" when none did.
	Local, Remote string
	// Pair describes the selected pair (anonymized), for messages.
	Pair string
	// ConnectedAt and LostAt are when the call connected and was lost,
	// from the start of the dump; zero when unknown or not so.
	ConnectedAt, LostAt time.Duration
	// FinalState is the peer connection's last state before the page
	// closed it; "" when unknown.
	FinalState string
}

// Connected says whether the call connected at all.
func (o Outcome) Connected() bool { return o.Stage == StageConnected || o.Stage == StageLost }

// TransportText renders the transports: "TURN/TLS", "TURN/UDP or TURN/TCP".
func (o Outcome) TransportText() string {
	s := make([]string, len(o.Transports))
	for i, t := range o.Transports {
		s[i] = string(t)
	}
	return strings.Join(s, " or ")
}

// Summary says the outcome in one line: "connected over TURN/TLS (relay
// ↔ host)".
func (o Outcome) Summary() string {
	switch o.Stage {
	case StageConnected:
		return fmt.Sprintf("connected over %s (%s ↔ %s)", o.TransportText(), o.Local, o.Remote)
	case StageLost:
		return fmt.Sprintf("connected over %s (%s ↔ %s), then lost", o.TransportText(), o.Local, o.Remote)
	}
	return o.Stage.String()
}

// FieldOutcome reads from the evidence what happened in the field.
func FieldOutcome(e *Evidence) Outcome {
	o := Outcome{Local: "none", Remote: "none", Transports: []harness.Transport{harness.NoTransport}}
	connected := false
	var connectedAt, lostAt time.Time
	for _, s := range e.States {
		switch s.State {
		case "connected":
			if !connected {
				connectedAt = s.At
			}
			connected, lostAt = true, time.Time{}
		case "disconnected", "failed", "connecting", "new":
			if connected && lostAt.IsZero() {
				lostAt = s.At
			}
		}
	}
	final := ""
	for _, s := range e.States {
		if s.State != "closed" {
			final = s.State
		}
	}
	o.FinalState = final
	iceUp := slices.ContainsFunc(e.ICEStates, func(s StateChange) bool { return s.State == "connected" || s.State == "completed" }) ||
		slices.ContainsFunc(e.Pairs, func(p *Pair) bool { return p.State == "succeeded" })
	switch {
	case connected && final == "connected":
		o.Stage = StageConnected
	case connected:
		o.Stage = StageLost
	case iceUp:
		o.Stage = StageDTLS
	default:
		o.Stage = StageICE
	}
	if d, ok := e.Since(connectedAt); ok && connected {
		o.ConnectedAt = d
	}
	if d, ok := e.Since(lostAt); ok && o.Stage == StageLost {
		o.LostAt = d
	}
	if o.Connected() && e.Selected != nil && e.Selected.Local != nil && e.Selected.Remote != nil {
		p := e.Selected
		o.Local, o.Remote = p.Local.Type, p.Remote.Type
		o.Transports = transportOf(p)
	}
	return o
}

// transportOf names what a pair carries the call over, as icelab's
// results name it: the local relay's protocol to its server; for a
// direct pair to a remote relay, the far end's (which only it knows);
// otherwise ICE over the pair's protocol.
func transportOf(p *Pair) []harness.Transport {
	switch {
	case p.Local.Type == "relay":
		switch relayProtocolOf(p.Local) {
		case "tls":
			return []harness.Transport{harness.TURNTLS}
		case "tcp":
			return []harness.Transport{harness.TURNTCP}
		}
		return []harness.Transport{harness.TURNUDP}
	case p.Remote.Type == "relay":
		return []harness.Transport{harness.TURNUDP, harness.TURNTCP, harness.TURNTLS}
	case p.Local.Protocol == "tcp":
		return []harness.Transport{harness.ICETCP}
	}
	return []harness.Transport{harness.ICEUDP}
}

// relayProtocolOf is how a local relay candidate reached its server: the
// candidate's relayProtocol, else its URL's.
func relayProtocolOf(c *Candidate) string {
	if c.RelayProtocol != "" {
		return c.RelayProtocol
	}
	if s, ok := parseICEURL(c.URL); ok {
		return s.relayProtocol()
	}
	return "udp"
}
