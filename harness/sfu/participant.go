package sfu

import (
	"context"
	"errors"
	"fmt"
	"github.com/icelab/icelab/harness/internal/pcclose"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/icelab/icelab/harness/gcc"
	"github.com/icelab/icelab/harness/media"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// participant is one client on the node: its peer connection (one, client
// offered, as LiveKit's single peer connection mode), its signal
// connection, and its transport ladder. A participant of the legacy HTTP
// signalling (the fallback policies that are not LiveKit's) has no signal
// connection and no ladder: the node never steps it, as LiveKit never
// sends a leave request to an old protocol's client.
type participant struct {
	n      *Node
	name   string
	legacy bool

	mu sync.Mutex
	pc *webrtc.PeerConnection
	// sig is the current signal connection; nil between a failure (the
	// node closes it) and the client's resume.
	sig *websocket.Conn
	ld  ladder
	// Per peer connection, as LiveKit's PCTransport keeps them: when ICE
	// first started and first connected (an ICE restart keeps them), what
	// carried the last selected pair (an ICE restart clears it), and the
	// remote ufrag that tells a restart from a renegotiation.
	firstStarted, firstConnected time.Time
	conn                         connType
	ufrag                        string
	// failed is the peer connection whose failure was handled, until its
	// next ICE restart; resetShort makes that restart forget when ICE first
	// connected (after a client-reported failure).
	failed     *webrtc.PeerConnection
	resetShort bool
	// disconnect closes the participant unless it resumes in time; timers
	// of a peer connection's first connection (LiveKit's TCP-checking and
	// full-connection timeouts).
	disconnect, firstTimer *time.Timer
	gone                   bool
	// est is the node's estimate of the participant's downlink on its
	// newest peer connection (nil: the node runs none), and stopAlloc
	// stops the stream allocator choosing its simulcast layers by it.
	est       *gcc.Estimator
	stopAlloc chan struct{}
}

// supportsICETCP is LiveKit's reading of a client's SDK (pkg/rtc/clientinfo.go):
// the Go SDK cannot do ICE-TCP, the JS SDK (like most) can.
func supportsICETCP(sdk string) bool { return sdk != "" && sdk != SDKGo }

// newPC makes the participant's peer connection, forwarding what arrives on
// it and observing it.
func (p *participant) newPC() (*webrtc.PeerConnection, error) {
	n := p.n
	pc, est, err := n.newPeerConnection()
	if err != nil {
		return nil, fmt.Errorf("node %s: peer connection for %s: %w", n.cfg.Name, p.name, err)
	}
	p.mu.Lock()
	p.est = est
	p.mu.Unlock()
	pc.SCTP().Transport().ICETransport().OnSelectedCandidatePairChange(func(pair *webrtc.ICECandidatePair) {
		n.cfg.Observer.SelectedPair(p.name, pair)
		p.mu.Lock()
		if p.pc == pc {
			p.conn = n.connTypeOf(pair)
		}
		p.mu.Unlock()
	})
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) { p.iceState(pc, s) })
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateFailed:
			p.pcFailed(pc, "its peer connection failed", false)
		case webrtc.PeerConnectionStateConnected:
			p.mu.Lock()
			if p.firstTimer != nil && p.pc == pc {
				p.firstTimer.Stop()
			}
			p.mu.Unlock()
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		kind := tr.Kind().String()
		name := p.name + "/" + kind
		pub := n.publications[name]
		layer, ok := layerOf(tr.RID())
		if pub == nil || !ok {
			return // not a publication or layer the node knows of
		}
		ssrc := uint32(tr.SSRC())
		stream := pub.at.Stream(ssrc)
		pub.setSource(layer, ssrc)
		pub.setUpstream(layer, upstream{ssrc: ssrc, pc: pc, stream: stream})
		n.spawn(func() { receive(tr, stream, pub) })
		n.spawn(func() { media.DrainReceiverRTCP(recv) })
	})
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		if dc.Label() != DataLabel {
			return // a quiet client's channel: nothing flows on it
		}
		in := n.cfg.Meter.Flow(media.FlowKey{Owner: p.name, Track: p.name + "/data", Kind: media.Data, Direction: media.AtNode})
		echo := n.cfg.Meter.Flow(media.FlowKey{Owner: p.name, Track: "node/data", Kind: media.Data, Direction: media.Received})
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			in.ReceivedMessage(len(m.Data))
			if dc.Send(m.Data) == nil { // echo, so data flows both ways
				echo.SentMessage()
			}
		})
	})
	return pc, nil
}

// iceState keeps the times of a peer connection's first ICE start and
// connection, and arms LiveKit's first-connection timeouts
// (pkg/rtc/transport.go): while ICE/TCP is preferred, a first connection
// still checking after 8 signalling round trips (5 to 12 s) fails as
// short-lived; one whose ICE connected but whose DTLS has not within three
// times as long as ICE took (10 to 20 s) fails.
func (p *participant) iceState(pc *webrtc.PeerConnection, s webrtc.ICEConnectionState) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pc != pc || p.gone {
		return
	}
	switch s {
	case webrtc.ICEConnectionStateChecking:
		if !p.firstStarted.IsZero() {
			return
		}
		p.firstStarted = now
		if p.ld.pref == PreferTCP && p.ld.signalRTT < time.Second {
			wait := min(max(8*p.ld.signalRTT, 5*time.Second), 12*time.Second)
			p.firstTimer = time.AfterFunc(wait, func() {
				if pc.ICEConnectionState() == webrtc.ICEConnectionStateChecking {
					p.pcFailed(pc, fmt.Sprintf("ICE/TCP still checking after %v", wait), true)
				}
			})
		}
	case webrtc.ICEConnectionStateConnected:
		if !p.firstConnected.IsZero() {
			return
		}
		p.firstConnected = now
		if p.firstTimer != nil {
			p.firstTimer.Stop()
		}
		if p.firstStarted.IsZero() {
			return
		}
		wait := min(max(3*now.Sub(p.firstStarted), 10*time.Second), 20*time.Second)
		p.firstTimer = time.AfterFunc(wait, func() {
			if pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
				p.pcFailed(pc, fmt.Sprintf("ICE connected but DTLS had not within %v", wait), false)
			}
		})
	}
}

// shortLived reports whether the peer connection first connected less than
// 90 s ago; one that never connected is not short-lived.
func (p *participant) shortLived(now time.Time) bool {
	return !p.firstConnected.IsZero() && now.Sub(p.firstConnected) < shortConnectionLimit
}

// pcFailed handles a failure of the participant's peer connection: the
// ladder first, then (for a client of the signal protocol) a leave request
// asking it to resume, the signal connection closed, and the participant
// closed unless it resumes within 5 s (LiveKit's TransportManager and
// participant, pkg/rtc/transportmanager.go, participant.go).
func (p *participant) pcFailed(pc *webrtc.PeerConnection, trigger string, forceShort bool) {
	now := time.Now()
	p.mu.Lock()
	if p.gone || p.legacy || p.pc != pc || p.failed == pc {
		p.mu.Unlock()
		return
	}
	p.failed = pc
	short := forceShort || p.shortLived(now)
	d := p.ld.failed(now, short, p.conn)
	ev := p.event(trigger, d)
	sig := p.sig
	p.sig = nil
	if p.disconnect != nil {
		p.disconnect.Stop()
	}
	p.disconnect = time.AfterFunc(disconnectAfterFailure, p.expire)
	p.mu.Unlock()
	p.n.ladderMoved(p.name, d)
	p.n.cfg.Observer.Ladder(p.name, ev)
	if sig != nil {
		p.n.send(sig, SignalResponse{Leave: &Leave{Action: LeaveResume, Reason: trigger}})
		_ = sig.Close(websocket.StatusNormalClosure, "resume")
	}
}

// event describes a ladder decision for the observer. The caller holds
// p.mu.
func (p *participant) event(trigger string, d decision) LadderEvent {
	return LadderEvent{Trigger: trigger, From: d.From.String(), To: d.To.String(), Moved: d.Moved, Why: d.Why,
		SignallingRTT: p.ld.signalRTT, MediaRTT: p.ld.udpRTT}
}

// expire closes a participant that did not resume after a failure.
func (p *participant) expire() {
	p.mu.Lock()
	if p.gone || p.sig != nil {
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.n.cfg.Observer.Ladder(p.name, LadderEvent{Trigger: "no resume within 5 s of the failure", Why: "the node closed the participant; a resume now gets a leave request to rejoin"})
	p.close()
}

// close ends the participant: its peer connection and signal connection.
func (p *participant) close() {
	p.mu.Lock()
	if p.gone {
		p.mu.Unlock()
		return
	}
	p.gone = true
	pc, sig := p.pc, p.sig
	for _, t := range []*time.Timer{p.disconnect, p.firstTimer} {
		if t != nil {
			t.Stop()
		}
	}
	p.stopAllocator()
	p.mu.Unlock()
	p.n.forget(p)
	if sig != nil {
		_ = sig.Close(websocket.StatusNormalClosure, "closed")
	}
	if pc != nil {
		// pion's Close waits for the agent's gathering (a TURN
		// allocation retrying, say): nothing the node does waits for it.
		p.n.spawn(func() { _ = pcclose.Close(pc, false) })
	}
}

// answer applies an offer — the first, a renegotiation, or an ICE restart
// — and returns the node's answer with its candidates gathered. While
// ICE/TCP is preferred, candidates that are not TCP are dropped both ways.
func (p *participant) answer(ctx context.Context, offer webrtc.SessionDescription) (webrtc.SessionDescription, error) {
	p.mu.Lock()
	if p.gone {
		p.mu.Unlock()
		return webrtc.SessionDescription{}, errors.New(ErrNoSession)
	}
	pc := p.pc
	fresh := pc == nil || pc.ConnectionState() == webrtc.PeerConnectionStateClosed
	p.mu.Unlock()
	if fresh {
		var err error
		if pc, err = p.newPC(); err != nil {
			return webrtc.SessionDescription{}, err
		}
		if !p.n.adopt(pc) {
			_ = pcclose.Close(pc, true)
			return webrtc.SessionDescription{}, errors.New("node closing")
		}
	}
	p.mu.Lock()
	if fresh {
		old := p.pc
		p.pc, p.firstStarted, p.firstConnected, p.conn, p.failed = pc, time.Time{}, time.Time{}, connUnknown, nil
		if old != nil {
			p.n.spawn(func() { _ = pcclose.Close(old, false) })
		}
	}
	if u := iceUfrag(offer.SDP); u != p.ufrag {
		if !fresh {
			// An ICE restart: what carried the last pair is forgotten,
			// and the next failure is a new one.
			p.conn, p.failed = connUnknown, nil
			if p.resetShort {
				p.firstConnected, p.resetShort = time.Time{}, false
			}
		}
		p.ufrag = u
	}
	tcpOnly := p.ld.pref == PreferTCP
	p.mu.Unlock()
	if tcpOnly {
		offer.SDP = keepTCPCandidates(offer.SDP)
	}
	if err := pc.SetRemoteDescription(offer); err != nil {
		return webrtc.SessionDescription{}, fmt.Errorf("set offer: %w", err)
	}
	if fresh {
		if err := p.n.bindSubscriptions(pc, p); err != nil {
			return webrtc.SessionDescription{}, err
		}
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return webrtc.SessionDescription{}, fmt.Errorf("create answer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return webrtc.SessionDescription{}, fmt.Errorf("set answer: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return webrtc.SessionDescription{}, ctx.Err()
	}
	local := *pc.LocalDescription()
	if tcpOnly {
		local.SDP = keepTCPCandidates(local.SDP)
	}
	return local, nil
}

// addCandidate adds a candidate the client trickled; while ICE/TCP is
// preferred, one that is not TCP is dropped.
func (p *participant) addCandidate(c webrtc.ICECandidateInit) error {
	p.mu.Lock()
	pc, tcpOnly := p.pc, p.ld.pref == PreferTCP
	p.mu.Unlock()
	if pc == nil {
		return errors.New(ErrNoSession)
	}
	if tcpOnly && !isTCPCandidate(c.Candidate) {
		return nil
	}
	return pc.AddICECandidate(c)
}

// signalSeen records a request on the signal connection (LiveKit counts
// every one, pings included).
func (p *participant) signalSeen() {
	p.mu.Lock()
	p.ld.lastSignal = time.Now()
	p.mu.Unlock()
}

// feedback reads the RTCP a subscriber sends back on one of the node's
// down tracks of pub until it closes: round trips for the flow's streams
// and the ladder's media RTT, the receiver reports' loss for its
// UDP-unstable rule, and keyframe requests, forwarded to the publisher.
func (p *participant) feedback(sender *webrtc.RTPSender, flow *media.Flow, pub *publication, down *downTrack) {
	buf := make([]byte, 1500)
	for {
		n, _, err := sender.Read(buf)
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		now := time.Now()
		media.ReportRTT(pkts, now, func(ssrc uint32, d time.Duration) {
			flow.Stream(ssrc).RTT(d)
			down.acknowledged(ssrc)
			p.mu.Lock()
			p.ld.mediaRTT(now, d)
			p.mu.Unlock()
		})
		if media.AsksForKeyframe(pkts) {
			// For the layer the down track forwards, or moves to.
			target, current := down.layers()
			if current < 0 {
				current = target
			}
			pub.requestKeyframe(current, now)
		}
		for _, pkt := range pkts {
			rr, ok := pkt.(*rtcp.ReceiverReport)
			if !ok {
				continue
			}
			for _, r := range rr.Reports {
				p.receiverLoss(now, r.FractionLost)
			}
		}
	}
}

// receiverLoss feeds the UDP-unstable rule; when it fires, the node treats
// it as a short-lived failure: the ladder, then a leave request to resume.
func (p *participant) receiverLoss(now time.Time, fractionLost uint8) {
	p.mu.Lock()
	if p.legacy || p.gone {
		p.mu.Unlock()
		return
	}
	fire, why := p.ld.receiverLoss(now, fractionLost)
	pc := p.pc
	p.mu.Unlock()
	if fire {
		p.pcFailed(pc, why, true)
	}
}

// receive counts the RTP arriving on a publisher's track and forwards it.
// Each packet is read into a slab of its own bytes that no later packet
// overwrites: every down track's NACK history keeps the payload it was
// given (media.Interceptors), as an SFU's subscribers share the
// publication's receive buffer.
func receive(tr *webrtc.TrackRemote, stream *media.Stream, pub *publication) {
	const slabSize, mtu = 64 << 10, 1500
	var pkt rtp.Packet
	var slab []byte
	ssrc := uint32(tr.SSRC())
	for {
		if cap(slab)-len(slab) < mtu {
			slab = make([]byte, 0, slabSize)
		}
		buf := slab[len(slab):cap(slab)]
		n, _, err := tr.Read(buf)
		if err != nil {
			return
		}
		slab = slab[:len(slab)+n]
		if pkt.Unmarshal(buf[:n:n]) != nil {
			continue
		}
		stream.Received(&pkt.Header, pkt.Payload, n)
		pub.forward(ssrc, &pkt, n)
	}
}

// connTypeOf classifies the node's end of a selected pair as LiveKit does,
// by its remote candidate: a relay candidate, or a peer-reflexive one at
// the address of a relay the node knows, is TURN.
func (n *Node) connTypeOf(pair *webrtc.ICECandidatePair) connType {
	if pair == nil || pair.Remote == nil {
		return connUnknown
	}
	r := pair.Remote
	switch {
	case r.Typ == webrtc.ICECandidateTypeRelay:
		return connTURN
	case r.Typ == webrtc.ICECandidateTypePrflx && n.cfg.IsRelay != nil && n.cfg.IsRelay(r.Address):
		return connTURN
	case strings.EqualFold(r.Protocol.String(), "tcp"):
		return connTCP
	}
	return connUDP
}

// startAllocator starts the stream allocator of the participant's simulcast
// subscriptions on its newest peer connection, stopping the one of an
// earlier connection.
func (p *participant) startAllocator(tracks []allocated) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopAllocator()
	if p.est == nil || len(tracks) == 0 || p.gone {
		return
	}
	a := newAllocator(p.est, tracks)
	stop := make(chan struct{})
	p.stopAlloc = stop
	p.n.spawn(func() { a.run(stop) })
}

// stopAllocator stops the participant's stream allocator, if it runs. The
// caller holds p.mu.
func (p *participant) stopAllocator() {
	if p.stopAlloc != nil {
		close(p.stopAlloc)
		p.stopAlloc = nil
	}
}
