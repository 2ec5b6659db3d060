package harness

import (
	"context"
	"errors"
	"fmt"
	"github.com/icelab/icelab/harness/internal/pcclose"
	"sync"
	"sync/atomic"

	"github.com/icelab/icelab/harness/media"
	"github.com/icelab/icelab/harness/sfu"
	"github.com/pion/webrtc/v4"
)

// peer is one peer of a peer-to-peer call: a host and its ends, one per
// other peer.
type peer struct {
	endpoint
	// spec is the peer's whole spec; endpoint.spec is its ClientSpec.
	spec    PeerSpec
	run     *runState
	servers []webrtc.ICEServer
	ends    []*peerEnd
	// muted stops the peer's RTP on every connection (a mute fault).
	muted atomic.Bool
}

// peerEnd is one peer's end of its connection to another: a pion peer
// connection with the peer's connect options, its media, and the observer
// whose result is the end's ClientResult. Signalling between the two ends
// of a pair is out of band: in-process calls, as an application's own
// channel would carry offers, answers and candidates.
type peerEnd struct {
	// guard keeps GetStats and Close of a peer connection apart.
	guard   pcclose.Guard
	peer    *peer
	remote  *peer
	other   *peerEnd // the remote's end of the same connection
	name    string
	offerer bool
	obs     *observer

	mu   sync.Mutex
	pc   *webrtc.PeerConnection
	est  media.Estimator // pc's congestion controller; nil: none
	pcs  []*webrtc.PeerConnection
	open bool // the remote description is set: candidates may be added
	// queue holds the remote's candidates until then.
	queue    []webrtc.ICECandidateInit
	closing  bool
	left     bool // this end's peer hung up (a leave fault)
	restarts int
	wg       sync.WaitGroup
	// restart wakes the offerer's loop to restart ICE.
	restart chan struct{}
}

// end adds p's end of its connection to remote.
func (p *peer) end(remote *peer, offerer bool) *peerEnd {
	name := PeerResultName(p.spec.Name, remote.spec.Name)
	e := &peerEnd{peer: p, remote: remote, name: name, offerer: offerer, obs: p.run.observer(name), restart: make(chan struct{}, 1)}
	e.obs.peer, e.obs.remote = p.spec.Name, remote.spec.Name
	p.ends = append(p.ends, e)
	return e
}

// spawn runs f on a goroutine close waits for, unless close has begun.
func (e *peerEnd) spawn(f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closing {
		return
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		f()
	}()
}

// networkTypes is what the peer gathers on: its spec's UDP types (udp4,
// udp6 on a LAN that carries IPv6), or pion's default, udp4.
func (p *peer) networkTypes() []webrtc.NetworkType {
	if len(p.spec.NetworkTypes) > 0 {
		return p.spec.NetworkTypes
	}
	return []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
}

// policy is the end's ICE transport policy.
func (e *peerEnd) policy() webrtc.ICETransportPolicy {
	if e.peer.spec.Fallback.Policy == ForceRelay {
		return webrtc.ICETransportPolicyRelay
	}
	return e.peer.spec.Policy
}

func (e *peerEnd) describe() string {
	return attemptPlan{policy: e.policy(), types: e.peer.networkTypes(), servers: e.peer.servers}.describe()
}

// newPC makes the end's peer connection with its peer's options, wired to
// its observer, and publishes it.
func (e *peerEnd) newPC(ctx context.Context) (*webrtc.PeerConnection, error) {
	pc, est, err := e.peer.newPeerConnection(ctx, attempt{types: e.peer.networkTypes(), servers: e.peer.servers,
		policy: e.policy(), deadline: e.peer.spec.Fallback.Deadline, obs: e.obs}, nil)
	if err != nil {
		return nil, fmt.Errorf("peer %s: peer connection to %s: %w", e.peer.spec.Name, e.remote.spec.Name, err)
	}
	e.mu.Lock()
	if e.closing {
		e.mu.Unlock()
		_ = e.guard.Close(pc, true)
		return nil, errClosing
	}
	e.pc, e.est = pc, est
	e.pcs = append(e.pcs, pc)
	e.mu.Unlock()
	e.observe(ctx, pc)
	return pc, nil
}

// observe wires the peer connection's callbacks to the observer, the
// remote end and the meter.
func (e *peerEnd) observe(ctx context.Context, pc *webrtc.PeerConnection) {
	me := e.peer.spec.Name
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		e.obs.localCandidate(c)
		e.other.addCandidate(c.ToJSON(), candidateOf(c))
	})
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		e.obs.iceState(s)
		e.run().event(me + " ice-" + s.String())
		if s == webrtc.ICEConnectionStateFailed {
			e.iceFailed()
		}
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		e.obs.pcState(s)
		e.run().event(me + " " + s.String())
	})
	pc.SCTP().Transport().OnStateChange(func(s webrtc.DTLSTransportState) { e.obs.dtlsState(s) })
	pc.SCTP().Transport().ICETransport().OnSelectedCandidatePairChange(func(p *webrtc.ICECandidatePair) {
		e.obs.pair(pairOf(p))
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		kind := tr.Kind().String()
		flow := e.flow(tr.StreamID(), kind)
		// A video receiver asks the remote peer for a keyframe when
		// its decoder is stuck, as libwebrtc's does.
		e.spawn(func() { media.Receive(tr, flow, media.PLISender(pc)) })
		e.spawn(func() { media.DrainReceiverRTCP(recv) })
	})
	pc.OnDataChannel(func(dc *webrtc.DataChannel) { e.data(ctx, dc) })
}

func (e *peerEnd) run() *runState { return e.peer.run }

// flow returns the flow of publisher's kind on this connection, one flow
// listed in both ends' results: at the end that receives it ("received")
// and at the publisher's end ("at-remote").
func (e *peerEnd) flow(publisher, kind string) *media.Flow {
	sender, receiver := e, e.other
	if publisher != e.peer.spec.Name {
		sender, receiver = e.other, e
	}
	track := publisher + "/" + kind
	m := e.run().meter
	f := m.Flow(media.FlowKey{Owner: sender.name, Track: track, Kind: kind, Direction: media.AtRemote})
	m.Share(media.FlowKey{Owner: receiver.name, Track: track, Kind: kind, Direction: media.Received}, f)
	return f
}

// addCandidate takes one of the remote's candidates: added now if the
// remote description is set, else queued until it is.
func (e *peerEnd) addCandidate(c webrtc.ICECandidateInit, seen Candidate) {
	e.obs.remoteCandidate(seen)
	e.mu.Lock()
	if !e.open {
		e.queue = append(e.queue, c)
		e.mu.Unlock()
		return
	}
	pc := e.pc
	e.mu.Unlock()
	_ = pc.AddICECandidate(c)
}

// opened marks the remote description set and adds the queued candidates.
func (e *peerEnd) opened() {
	e.mu.Lock()
	e.open = true
	queue, pc := e.queue, e.pc
	e.queue = nil
	e.mu.Unlock()
	for _, c := range queue {
		_ = pc.AddICECandidate(c)
	}
}

// connect runs the pair from the offerer's end until ctx ends: both peer
// connections, the offer and answer, and the ICE restarts the ends' policy
// asks for.
func (e *peerEnd) connect(ctx context.Context) {
	a, b := e, e.other
	a.obs.attempt("initial", a.describe(), b.peer.spec.Name)
	b.obs.attempt("initial", b.describe(), a.peer.spec.Name)
	if err := a.negotiate(ctx, false); err != nil {
		if ctx.Err() == nil && err != errClosing {
			a.obs.failure("signalling: " + err.Error())
			b.obs.failure("signalling: " + err.Error())
		}
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.restart:
		}
		e.mu.Lock()
		e.restarts++
		n := e.restarts
		e.mu.Unlock()
		why := fmt.Sprintf("ice failed: ICE restart %d", n)
		a.obs.attempt(why, a.describe(), b.peer.spec.Name)
		b.obs.attempt(why, b.describe(), a.peer.spec.Name)
		if err := a.negotiate(ctx, true); err != nil && ctx.Err() == nil && err != errLeft {
			a.obs.failure("ICE restart: " + err.Error())
		}
	}
}

// iceFailed asks the offerer to restart ICE if either end's policy says so.
func (e *peerEnd) iceFailed() {
	o := e
	if !e.offerer {
		o = e.other
	}
	if o.peer.spec.Fallback.Policy != ICERestart && o.other.peer.spec.Fallback.Policy != ICERestart {
		return
	}
	o.mu.Lock()
	more := o.restarts < maxRestarts
	o.mu.Unlock()
	if more {
		select {
		case o.restart <- struct{}{}:
		default:
		}
	}
}

// negotiate makes (or, restarting, reuses) both peer connections and runs
// one offer/answer exchange from this end, the offerer.
func (e *peerEnd) negotiate(ctx context.Context, restart bool) error {
	b := e.other
	if e.hasLeft() || b.hasLeft() {
		return errLeft
	}
	var pa, pb *webrtc.PeerConnection
	if restart {
		e.mu.Lock()
		pa = e.pc
		e.mu.Unlock()
		b.mu.Lock()
		pb = b.pc
		b.mu.Unlock()
	} else {
		var err error
		if pa, err = e.newPC(ctx); err != nil {
			return err
		}
		if err := e.offerMedia(ctx, pa); err != nil {
			return err
		}
		if pb, err = b.newPC(ctx); err != nil {
			return err
		}
	}
	offer, err := pa.CreateOffer(&webrtc.OfferOptions{ICERestart: restart})
	if err != nil {
		return fmt.Errorf("create offer: %w", err)
	}
	if err := pa.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("set offer: %w", err)
	}
	if err := pb.SetRemoteDescription(*pa.LocalDescription()); err != nil {
		return fmt.Errorf("%s: set offer: %w", b.peer.spec.Name, err)
	}
	if !restart {
		if err := b.answerMedia(ctx, pb); err != nil {
			return err
		}
	}
	b.opened()
	answer, err := pb.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("%s: create answer: %w", b.peer.spec.Name, err)
	}
	if err := pb.SetLocalDescription(answer); err != nil {
		return fmt.Errorf("%s: set answer: %w", b.peer.spec.Name, err)
	}
	if err := pa.SetRemoteDescription(*pb.LocalDescription()); err != nil {
		return fmt.Errorf("set answer: %w", err)
	}
	e.opened()
	e.obs.signalling(nil)
	b.obs.signalling(nil)
	return nil
}

// offerMedia adds the offerer's publications (send-only), receive-only
// transceivers for the remote's, and the pair's data channel.
func (e *peerEnd) offerMedia(ctx context.Context, pc *webrtc.PeerConnection) error {
	for _, kind := range e.peer.spec.Publish.kinds() {
		track := media.NewTrack(kind, kind, e.peer.spec.Name)
		tr, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return err
		}
		e.send(ctx, pc, track, tr.Sender(), kind)
	}
	for _, kind := range e.remote.spec.Publish.kinds() {
		if _, err := pc.AddTransceiverFromKind(media.CodecType(kind), webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return err
		}
	}
	// One data channel per pair: data when either peer sends data, else a
	// quiet one, so that an offer without media still carries ICE
	// credentials (as the client does).
	label := sfu.QuietLabel
	if e.peer.spec.Publish.Data || e.remote.spec.Publish.Data {
		label = sfu.DataLabel
	}
	dc, err := pc.CreateDataChannel(label, nil)
	if err != nil {
		return err
	}
	e.data(ctx, dc)
	return nil
}

// answerMedia attaches the answerer's publications to the receive-only
// transceivers the offer made for them (AddTrack takes the first free one
// of the kind, as the node's bindSubscriptions relies on).
func (e *peerEnd) answerMedia(ctx context.Context, pc *webrtc.PeerConnection) error {
	for _, kind := range e.peer.spec.Publish.kinds() {
		track := media.NewTrack(kind, kind, e.peer.spec.Name)
		sender, err := pc.AddTrack(track)
		if err != nil {
			return fmt.Errorf("peer %s: %s track to %s: %w", e.peer.spec.Name, kind, e.remote.spec.Name, err)
		}
		e.send(ctx, pc, track, sender, kind)
	}
	return nil
}

// send publishes a track on the connection while it is connected and the
// peer is not muted, and reads its sender's RTCP for round-trip times.
func (e *peerEnd) send(ctx context.Context, pc *webrtc.PeerConnection, track *media.Track, sender *webrtc.RTPSender, kind string) {
	flow := e.flow(e.peer.spec.Name, kind)
	connected := func() bool {
		return !e.peer.muted.Load() && pc.ConnectionState() == webrtc.PeerConnectionStateConnected
	}
	e.mu.Lock()
	est := e.est
	e.mu.Unlock()
	publish, onKeyframeRequest := e.run().publisher(e.peer.spec.Name, kind, est, e.peer.spec.Publish)
	e.spawn(func() { publish(ctx, track, kind, flow, connected) })
	e.spawn(func() { media.DrainRTCPWithPLI(sender, flow, onKeyframeRequest) })
}

// data wires the pair's data channel on this end: messages sent when the
// peer publishes data, and counted where they arrive.
func (e *peerEnd) data(ctx context.Context, dc *webrtc.DataChannel) {
	if dc.Label() != sfu.DataLabel {
		return
	}
	if e.remote.spec.Publish.Data {
		in := e.flow(e.remote.spec.Name, media.Data)
		dc.OnMessage(func(m webrtc.DataChannelMessage) { in.ReceivedMessage(len(m.Data)) })
	}
	if e.peer.spec.Publish.Data {
		out := e.flow(e.peer.spec.Name, media.Data)
		e.spawn(func() { media.SendData(ctx, dc, out) })
	}
}

// flows are what media both ways means for an end: each of its peer's
// publications arriving at the remote, and each of the remote's arriving
// here.
func (e *peerEnd) flows() []flow {
	var out []flow
	me, them := e.peer.spec, e.remote.spec
	for _, kind := range me.Publish.kinds() {
		out = append(out, flow{me.Name + "/" + kind, media.AtRemote})
	}
	if me.Publish.Data {
		out = append(out, flow{me.Name + "/data", media.AtRemote})
	}
	for _, kind := range them.Publish.kinds() {
		out = append(out, flow{them.Name + "/" + kind, media.Received})
	}
	if them.Publish.Data {
		out = append(out, flow{them.Name + "/data", media.Received})
	}
	return out
}

// snapshotChecks records the candidate pairs ICE tried.
func (e *peerEnd) snapshotChecks() {
	e.mu.Lock()
	pc := e.pc
	e.mu.Unlock()
	if pc != nil {
		e.obs.checks(e.guard.Stats(pc), true)
	}
}

// close ends the end's peer connections, gracefully, and waits for its
// goroutines. The run's context must be cancelled first.
func (e *peerEnd) close() {
	e.mu.Lock()
	e.closing = true
	pcs := e.pcs
	e.mu.Unlock()
	for _, pc := range pcs {
		_ = e.guard.Close(pc, true)
	}
	e.wg.Wait()
}

// errLeft is what a negotiation returns once either end's peer has hung
// up: nobody answers a restart any more.
var errLeft = errors.New("peer left the call")

// leave hangs up this end: it closes its peer connections while the
// network is up, and answers nothing after.
func (e *peerEnd) leave() {
	e.mu.Lock()
	if e.left || e.closing {
		e.mu.Unlock()
		return
	}
	e.left = true
	pcs := e.pcs
	e.mu.Unlock()
	e.obs.left()
	for _, pc := range pcs {
		_ = e.guard.Close(pc, true)
	}
}

func (e *peerEnd) hasLeft() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.left
}

// start connects every pair the peer offers on.
func (p *peer) start(ctx context.Context) {
	for _, e := range p.ends {
		if e.offerer {
			e.spawn(func() { e.connect(ctx) })
		}
	}
}

func (p *peer) close() {
	for _, e := range p.ends {
		e.close()
	}
}
