package harness

import (
	"strings"
	"sync"
	"time"

	"github.com/icelab/icelab/harness/media"
	"github.com/icelab/icelab/harness/sfu"
	"github.com/pion/webrtc/v4"
)

// runState is what a run shares among its parts: its start, its media
// meter and one observer per client.
type runState struct {
	start time.Time
	// wallStart is start in Unix nanoseconds when the clock's times carry
	// no monotonic reading (a synctest bubble's), where time.Since takes
	// its slow path (an Add and an Equal per call; the media meters read
	// the clock for every packet); zero: time.Since.
	wallStart int64
	// seed is the spec's: whatever a run draws at random (an SDK's
	// reconnect jitter) repeats with it.
	seed  uint64
	meter *media.Meter
	// publishers is a test's replacement for what sends each published
	// track; nil: media.Publish.
	publishers publishers

	mu        sync.Mutex
	observers map[string]*observer
	faults    []AppliedFault
	drops     map[string]int
	// events wakes whoever waits for an event ("alice ice-connected").
	waiters []eventWaiter
	seen    map[string]time.Duration
}

type eventWaiter struct {
	event string
	fire  func()
}

func newRunState(seed uint64) *runState {
	r := &runState{start: time.Now(), seed: seed, observers: map[string]*observer{}, drops: map[string]int{}, seen: map[string]time.Duration{}}
	if r.start == r.start.Round(0) { // no monotonic reading to strip
		r.wallStart = r.start.UnixNano()
	}
	r.meter = media.NewMeter(r.since)
	return r
}

// since returns the offset of now from the start of the run.
func (r *runState) since() time.Duration {
	if r.wallStart != 0 {
		return time.Duration(time.Now().UnixNano() - r.wallStart)
	}
	return time.Since(r.start)
}

func (r *runState) observer(client string) *observer {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.observers[client]
	if o == nil {
		o = &observer{run: r, client: client}
		r.observers[client] = o
	}
	return o
}

// event records that something happened and fires its waiters.
func (r *runState) event(name string) {
	r.mu.Lock()
	if _, ok := r.seen[name]; ok {
		r.mu.Unlock()
		return
	}
	r.seen[name] = r.since()
	var fire []func()
	rest := r.waiters[:0]
	for _, w := range r.waiters {
		if w.event == name {
			fire = append(fire, w.fire)
		} else {
			rest = append(rest, w)
		}
	}
	r.waiters = rest
	r.mu.Unlock()
	for _, f := range fire {
		f()
	}
}

// on runs fire when event happens, at once if it already has.
func (r *runState) on(event string, fire func()) {
	r.mu.Lock()
	if _, ok := r.seen[event]; ok {
		r.mu.Unlock()
		fire()
		return
	}
	r.waiters = append(r.waiters, eventWaiter{event, fire})
	r.mu.Unlock()
}

func (r *runState) fault(name, what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = append(r.faults, AppliedFault{At: r.since(), Name: name, What: what})
}

func (r *runState) drop(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.drops[reason]++
}

// observer records one client's view of the call on the run's clock.
type observer struct {
	run    *runState
	client string
	// peer and remote are set on a peer's end of a peer-to-peer
	// connection: its peer and the remote peer.
	peer, remote string

	mu           sync.Mutex
	res          ClientResult
	failedOnce   bool
	sigFailedAt  time.Duration // the first signalling error
	attemptStart time.Duration
	// relayProtocols maps a local relay candidate's address to its
	// protocol to the relay, which pion reports only in stats.
	relayProtocols map[string]string
}

func (o *observer) at() time.Duration { return o.run.since() }

func (o *observer) signalling(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		if o.res.SignallingError == "" {
			o.res.SignallingError = err.Error()
			o.sigFailedAt = o.at()
		}
		return
	}
	if !o.res.Signalling {
		o.res.Signalling = true
		o.res.SignallingAt = o.at()
	}
}

func (o *observer) attempt(why, policy, node string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.attemptStart = o.at()
	o.res.Attempts = append(o.res.Attempts, Attempt{At: o.attemptStart, Why: why, Policy: policy, Node: node})
}

func (o *observer) localCandidate(c *webrtc.ICECandidate) {
	if c == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	cand := candidateOf(c)
	cand.At = o.at()
	o.res.LocalCandidates = append(o.res.LocalCandidates, cand)
}

func (o *observer) remoteCandidate(c Candidate) {
	o.mu.Lock()
	defer o.mu.Unlock()
	c.At = o.at()
	o.res.RemoteCandidates = append(o.res.RemoteCandidates, c)
}

func (o *observer) iceState(s webrtc.ICEConnectionState) {
	o.mu.Lock()
	o.res.ICEStates = append(o.res.ICEStates, StateChange{o.at(), s.String()})
	o.mu.Unlock()
	o.run.event(o.client + " ice-" + s.String())
}

func (o *observer) dtlsState(s webrtc.DTLSTransportState) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.res.DTLSStates = append(o.res.DTLSStates, StateChange{o.at(), s.String()})
}

// pcState records a peer connection state and derives connect, failure
// and recovery from it.
func (o *observer) pcState(s webrtc.PeerConnectionState) {
	o.mu.Lock()
	now := o.at()
	o.res.PeerConnectionStates = append(o.res.PeerConnectionStates, StateChange{now, s.String()})
	recovered := false
	switch s {
	case webrtc.PeerConnectionStateConnected:
		if n := len(o.res.Attempts); n > 0 {
			o.res.Attempts[n-1].Connected = true
		}
		if !o.res.Connected {
			o.res.Connected = true
			o.res.ConnectedAt = now
		}
		// Connecting after a detected failure is a recovery, whether the
		// failure cut a working call or a deadline ended an attempt.
		if o.failedOnce && !o.res.Recovered {
			o.res.Recovered = true
			o.res.RecoveredAt = now
			recovered = true
		}
	case webrtc.PeerConnectionStateDisconnected, webrtc.PeerConnectionStateFailed:
		o.detected()
	}
	o.mu.Unlock()
	if recovered {
		o.run.meter.MarkRecovery(o.client)
	}
	o.run.event(o.client + " " + s.String())
}

// left records that the endpoint hung up (a leave fault).
func (o *observer) left() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.res.LeftAt == 0 {
		o.res.LeftAt = o.at()
	}
}

// deadline records a connect deadline passing without a connection.
func (o *observer) deadline(what string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.detected()
	if o.res.Failure == "" {
		o.res.Failure = what
	}
}

func (o *observer) pair(p Pair) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.res.PairChanges = append(o.res.PairChanges, PairChange{o.at(), p})
	o.res.Selected = &p
	if n := len(o.res.Attempts); n > 0 {
		o.res.Attempts[n-1].Selected = &p
	}
}

func (o *observer) nodePair(p Pair) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.res.NodeSelected = &p
}

// signallingFailedAt is when signalling first failed; zero if it never did.
func (o *observer) signallingFailedAt() time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.sigFailedAt
}

func (o *observer) learnRelayProtocols(stats webrtc.StatsReport) {
	for _, s := range stats {
		if c, ok := s.(webrtc.ICECandidateStats); ok && c.RelayProtocol != "" {
			if o.relayProtocols == nil {
				o.relayProtocols = map[string]string{}
			}
			o.relayProtocols[hostPort(c.IP, int(c.Port))] = c.RelayProtocol
		}
	}
}

// checks records the candidate pairs an attempt's peer connection tried:
// the last attempt's at the end of the call (final), or, as a new attempt
// replaces it, the one before (final false). Candidates are labelled as
// Candidate.String labels them, with a relay candidate's protocol to its
// relay.
func (o *observer) checks(stats webrtc.StatsReport, final bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.learnRelayProtocols(stats)
	cands := map[string]string{}
	for _, s := range stats {
		if c, ok := s.(webrtc.ICECandidateStats); ok {
			cands[c.ID] = Candidate{Type: c.CandidateType.String(), Protocol: strings.ToLower(c.Protocol),
				Address: hostPort(c.IP, int(c.Port)), RelayProtocol: c.RelayProtocol}.String()
		}
	}
	var checks []PairCheck
	for _, s := range stats {
		if p, ok := s.(webrtc.ICECandidatePairStats); ok {
			checks = append(checks, PairCheck{Local: cands[p.LocalCandidateID], Remote: cands[p.RemoteCandidateID], State: string(p.State), Nominated: p.Nominated})
		}
	}
	i := len(o.res.Attempts) - 1
	if !final {
		i--
	}
	// pion forgets an agent's pairs when its ICE fails or restarts: a
	// later snapshot with fewer pairs does not replace an earlier one (the
	// one taken as ICE disconnected, say).
	if i >= 0 && len(checks) >= len(o.res.Attempts[i].Checks) {
		o.res.Attempts[i].Checks = checks
	}
	if final && len(checks) >= len(o.res.Checks) {
		o.res.Checks = checks
	}
}

// pionLog keeps what pion's ICE agent said about candidates it could not
// gather, once each.
func (o *observer) pionLog(msg string) {
	if !gatherProblem(msg) {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, m := range o.res.GatherErrors {
		if m == msg {
			return
		}
	}
	o.res.GatherErrors = append(o.res.GatherErrors, msg)
}

// finalFailure replaces any earlier reason: it is the one that ended the
// client's attempts.
func (o *observer) finalFailure(reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.detected()
	o.res.Failure = reason
}

// failure records an attempt's failure, detected now, unless an earlier
// one is recorded.
func (o *observer) failure(reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.detected()
	if o.res.Failure == "" {
		o.res.Failure = reason
	}
}

// detected records that a failure was detected now, if none was before.
// The caller holds o.mu.
func (o *observer) detected() {
	if !o.failedOnce {
		o.failedOnce = true
		o.res.FailedAt = o.at()
	}
}

func (o *observer) result() ClientResult {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := o.res
	r.Name, r.Peer, r.Remote = o.client, o.peer, o.remote
	fill := func(c *Candidate) {
		if c.Type == "relay" && c.RelayProtocol == "" {
			c.RelayProtocol = o.relayProtocols[c.Address]
		}
	}
	r.LocalCandidates = append([]Candidate(nil), r.LocalCandidates...)
	for i := range r.LocalCandidates {
		fill(&r.LocalCandidates[i])
	}
	r.PairChanges = append([]PairChange(nil), r.PairChanges...)
	for i := range r.PairChanges {
		fill(&r.PairChanges[i].Pair.Local)
	}
	r.GatherErrors = append([]string(nil), r.GatherErrors...)
	r.Attempts = append([]Attempt(nil), r.Attempts...)
	for i, a := range r.Attempts {
		if a.Selected != nil {
			p := *a.Selected
			fill(&p.Local)
			r.Attempts[i].Selected = &p
		}
	}
	if r.Selected != nil {
		p := *r.Selected
		fill(&p.Local)
		r.Selected = &p
	}
	return r
}

func candidateOf(c *webrtc.ICECandidate) Candidate {
	cand := Candidate{
		Type:     c.Typ.String(),
		Protocol: strings.ToLower(c.Protocol.String()),
		Address:  hostPort(c.Address, int(c.Port)),
		TCPType:  c.TCPType,
	}
	return cand
}

func pairOf(p *webrtc.ICECandidatePair) Pair {
	if p == nil {
		return Pair{}
	}
	return Pair{Local: candidateOf(p.Local), Remote: candidateOf(p.Remote)}
}

// transportOf names the transport of a client's selected pair.
func transportOf(p *Pair) Transport {
	if p == nil {
		return NoTransport
	}
	if p.Local.Type == "relay" {
		switch p.Local.RelayProtocol {
		case "tls":
			return TURNTLS
		case "tcp":
			return TURNTCP
		}
		return TURNUDP
	}
	if p.Local.Protocol == "tcp" {
		return ICETCP
	}
	if p.Remote.Type == "relay" {
		// The node's own relay candidate: the client sends straight to
		// the relay's allocation over UDP.
		return TURNUDP
	}
	return ICEUDP
}

// SelectedPair records the media node's end of a client's selected pair
// (sfu.Observer).
func (r *runState) SelectedPair(client string, p *webrtc.ICECandidatePair) {
	r.observer(client).nodePair(pairOf(p))
}

// Ladder records a decision of the node's transport ladder for a client
// (sfu.Observer).
func (r *runState) Ladder(client string, e sfu.LadderEvent) {
	o := r.observer(client)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.res.Ladder = append(o.res.Ladder, LadderStep{At: o.at(), LadderEvent: e})
}

// ICEConfig records the ICE configuration the node sent a client
// (sfu.Observer).
func (r *runState) ICEConfig(client string, c sfu.SentICEConfig) {
	o := r.observer(client)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.res.ICEConfigs = append(o.res.ICEConfigs, ICEConfigSent{At: o.at(), SentICEConfig: c})
}
