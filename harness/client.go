package harness

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/icelab/icelab/harness/internal/pcclose"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/icelab/icelab/harness/media"
	"github.com/icelab/icelab/harness/sfu"
	"github.com/pion/webrtc/v4"
)

// defaultFallbackDeadline is LiveKit-like: ICE and DTLS get this long per
// attempt under transport fallback.
const defaultFallbackDeadline = 10 * time.Second

// maxRestarts bounds ICE restarts under the ice-restart policy.
const maxRestarts = 3

// client is one participant: a pion peer connection per attempt, its
// media, and the fallback policy that decides the next attempt.
type client struct {
	endpoint
	// guard keeps GetStats and Close of a peer connection apart.
	guard     pcclose.Guard
	run       *runState
	obs       *observer
	realClock bool
	// signal is the node's signalling base URL; other is the second
	// node's, where a reconnect may land.
	signal, other string
	http          *http.Client
	// ws dials the signal WebSocket: the same transport, without the
	// request timeout, which would end the connection.
	ws *http.Client

	iceServers []webrtc.ICEServer
	subscribe  []string

	mu  sync.Mutex
	pc  *webrtc.PeerConnection
	gen int
	// pcs is every peer connection ever published in pc: close owns
	// them all, whatever attempt was starting when it began.
	pcs  []*webrtc.PeerConnection
	stop context.CancelFunc // stops the current attempt's media
	tr   *trickler
	// closing: close has begun; no attempt may start and no goroutine
	// may be added to wg after it.
	closing bool
	wg      sync.WaitGroup
	// muted stops the client's RTP while set (a mute fault): it goes quiet
	// as a muted microphone or a camera turned off does.
	muted atomic.Bool
	// hangUp ends the client's connect loop (a leave fault); left is set
	// once it has.
	hangUp context.CancelFunc
	left   bool
}

// errClosing is what an attempt that would start after close began
// returns.
var errClosing = errors.New("client closing")

// spawn runs f on a goroutine close waits for, unless close has begun
// (then the peer connection f would use is closed, or about to be).
func (c *client) spawn(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
}

// pcEvent is a state change of one attempt's peer connection.
type pcEvent struct {
	gen   int
	state webrtc.PeerConnectionState
	ice   webrtc.ICEConnectionState
}

func newClient(ep endpoint, run *runState, roots *x509.CertPool, signal, other string, realClock bool) *client {
	host := ep.host
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return host.DialContext(ctx, network, addr)
		},
		TLSClientConfig:   &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		DisableKeepAlives: true,
		ForceAttemptHTTP2: false,
	}
	return &client{
		endpoint: ep, run: run, obs: run.observer(ep.spec.Name),
		realClock: realClock, signal: signal, other: other,
		http: &http.Client{Transport: tr, Timeout: 30 * time.Second},
		ws:   &http.Client{Transport: tr},
	}
}

// connect runs the client until ctx ends: join, the first attempt, and
// whatever its fallback policy does next.
func (c *client) connect(ctx context.Context, nodeName, otherName string) {
	if p := c.spec.Fallback.Policy; p == LiveKit || p == "" {
		c.connectLiveKit(ctx, nodeName)
		return
	}
	var join sfu.JoinResponse
	if err := c.post(ctx, c.signal, sfu.PathJoin, sfu.JoinRequest{Client: c.spec.Name}, &join); err != nil {
		if ctx.Err() != nil {
			return // the call ended first: teardown, not a failure
		}
		c.obs.signalling(err)
		c.obs.failure("signalling failed: " + err.Error())
		return
	}
	c.obs.signalling(nil)
	relays := c.spec.Relays
	if relays == nil {
		relays = []string{"udp", "tls"}
	}
	c.iceServers = serversWhere(join.ICEServers, usesRelays(relays))
	c.subscribe = join.Subscribe
	if c.spec.ICEServers != nil {
		c.iceServers = c.spec.ICEServers
	}
	plans := c.plans(nodeName, otherName)
	deadline := c.spec.Fallback.Deadline
	if deadline == 0 && c.spec.Fallback.Policy == TransportFallback {
		deadline = defaultFallbackDeadline
	}
	events := make(chan pcEvent, 64)
	restarts := 0
	for i := 0; i < len(plans); i++ {
		if ctx.Err() != nil {
			return
		}
		plan := plans[i]
		if i > 0 && len(plan.servers) == 0 && plan.policy == webrtc.ICETransportPolicyRelay {
			c.obs.failure(c.failureSoFar() + "; fallback has no TURN/TLS server to try")
			return
		}
		c.obs.attempt(plan.why, plan.describe(), plan.node)
		var timer <-chan time.Time
		if deadline > 0 {
			t := time.NewTimer(deadline)
			defer t.Stop()
			timer = t.C
		}
		if err := c.start(ctx, plan, events, deadline); err != nil {
			if ctx.Err() != nil || errors.Is(err, errClosing) {
				// The run ended while the attempt started: that is
				// teardown, not a failure of the attempt.
				return
			}
			if plan.resume && strings.Contains(err.Error(), sfu.ErrNoSession) {
				c.obs.finalFailure(fmt.Sprintf("reconnect landed on %s, which does not hold %s's session, so transport fallback does not work (%v)", plan.node, c.spec.Name, err))
				return
			}
			c.obs.failure(fmt.Sprintf("%s: %v", plan.why, err))
			continue
		}
		next := false
		for !next {
			select {
			case <-ctx.Done():
				return
			case <-timer:
				timer = nil
				if c.state() != webrtc.PeerConnectionStateConnected {
					c.obs.deadline(fmt.Sprintf("%s: not connected within %v (%s)", plan.why, deadline, c.stuckAt()))
					next = i+1 < len(plans)
				}
			case ev := <-events:
				if ev.gen != c.generation() {
					continue
				}
				switch {
				case ev.state == webrtc.PeerConnectionStateConnected:
					timer = nil
				case c.spec.Fallback.Policy == ICERestart && ev.ice == webrtc.ICEConnectionStateFailed && restarts < maxRestarts:
					restarts++
					c.obs.attempt(fmt.Sprintf("ice failed: ICE restart %d", restarts), plan.describe(), plan.node)
					if err := c.restartICE(ctx, plan); err != nil && ctx.Err() == nil {
						c.obs.failure("ICE restart: " + err.Error())
					}
				case c.spec.Fallback.Policy == TransportFallback && i+1 < len(plans) &&
					(ev.state == webrtc.PeerConnectionStateDisconnected || ev.state == webrtc.PeerConnectionStateFailed):
					next = true
				}
			}
		}
	}
	<-ctx.Done()
}

func (c *client) generation() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *client) state() webrtc.PeerConnectionState {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pc == nil {
		return webrtc.PeerConnectionStateNew
	}
	return c.pc.ConnectionState()
}

// stuckAt says how far the current attempt got.
func (c *client) stuckAt() string {
	c.mu.Lock()
	pc := c.pc
	c.mu.Unlock()
	if pc == nil {
		return "no peer connection"
	}
	ice := pc.ICEConnectionState()
	dtls := pc.SCTP().Transport().State()
	return fmt.Sprintf("ICE %s, DTLS %s", ice, dtls)
}

func (c *client) failureSoFar() string {
	r := c.obs.result()
	if r.Failure != "" {
		return r.Failure
	}
	return "connection failed"
}

// start closes the previous attempt's peer connection and begins a new
// one, signalling over HTTP. It returns errClosing, and publishes nothing,
// once close has begun.
func (c *client) start(ctx context.Context, plan attemptPlan, events chan<- pcEvent, deadline time.Duration) error {
	send := func(cand webrtc.ICECandidateInit) error {
		var ok struct{}
		return c.post(ctx, plan.base, sfu.PathTrickle, sfu.TrickleRequest{Client: c.spec.Name, Candidate: cand}, &ok)
	}
	pc, _, err := c.newAttempt(ctx, plan, events, deadline, send)
	if err != nil {
		return err
	}
	return c.negotiate(ctx, pc, plan, false)
}

// newAttempt closes the previous attempt's peer connection and makes a new
// one with its media, its candidates trickled with send once released. It
// returns errClosing, and publishes nothing, once close has begun.
func (c *client) newAttempt(ctx context.Context, plan attemptPlan, events chan<- pcEvent, deadline time.Duration, send func(webrtc.ICECandidateInit) error) (*webrtc.PeerConnection, *trickler, error) {
	if c.isClosing() {
		return nil, nil, errClosing
	}
	pc, est, err := c.newPeerConnection(ctx, attempt{types: plan.types, servers: plan.servers, policy: plan.policy, deadline: deadline, obs: c.obs},
		func(se *webrtc.SettingEngine) error {
			if hasTCP(plan.types) {
				se.SetIncludeLoopbackCandidate(true)
			}
			if c.spec.Fallback.Policy == Renominate {
				return se.SetICERenomination(webrtc.WithRenominationInterval(2 * time.Second))
			}
			return nil
		})
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		_ = c.guard.Close(pc, true)
		return nil, nil, errClosing
	}
	old, oldStop := c.pc, c.stop
	c.gen++
	gen := c.gen
	c.pc = pc
	c.pcs = append(c.pcs, pc)
	mediaCtx, stop := context.WithCancel(ctx)
	c.stop = stop
	tr := newTrickler(send)
	c.tr = tr
	c.mu.Unlock()
	c.spawn(func() { tr.run(mediaCtx, c) })
	if oldStop != nil {
		oldStop()
	}
	if old != nil {
		c.obs.checks(c.guard.Stats(old), false)
		// pion's Close waits for the old agent's gathering, and a TURN
		// allocation that gets no answer retries for some 25 s: the new
		// attempt does not wait for it, as an application does not.
		c.spawn(func() { _ = c.guard.Close(old, false) })
	}
	c.observe(pc, gen, tr, events)
	if err := c.addMedia(mediaCtx, pc, est); err != nil {
		return nil, nil, err
	}
	return pc, tr, nil
}

func hasTCP(types []webrtc.NetworkType) bool {
	for _, t := range types {
		if t == webrtc.NetworkTypeTCP4 || t == webrtc.NetworkTypeTCP6 {
			return true
		}
	}
	return false
}

// observe wires a peer connection's callbacks to the observer.
func (c *client) observe(pc *webrtc.PeerConnection, gen int, tr *trickler, events chan<- pcEvent) {
	current := func() bool { return c.generation() == gen }
	send := func(ev pcEvent) {
		select {
		case events <- ev:
		default:
		}
	}
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil || !current() {
			return
		}
		c.obs.localCandidate(cand)
		tr.add(cand.ToJSON())
	})
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		if !current() {
			return
		}
		c.obs.iceState(s)
		if s == webrtc.ICEConnectionStateDisconnected {
			// The pairs tried, before pion forgets them at failure or a
			// restart (off pion's callback goroutine).
			c.spawn(func() { c.obs.checks(c.guard.Stats(pc), true) })
		}
		send(pcEvent{gen: gen, ice: s})
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if !current() {
			return
		}
		c.obs.pcState(s)
		send(pcEvent{gen: gen, state: s})
	})
	pc.SCTP().Transport().OnStateChange(func(s webrtc.DTLSTransportState) {
		if current() {
			c.obs.dtlsState(s)
		}
	})
	pc.SCTP().Transport().ICETransport().OnSelectedCandidatePairChange(func(p *webrtc.ICECandidatePair) {
		if current() {
			c.obs.pair(pairOf(p))
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		kind := tr.Kind().String()
		flow := c.run.meter.Flow(media.FlowKey{Owner: c.spec.Name, Track: tr.StreamID() + "/" + kind, Kind: kind, Direction: media.Received})
		// A video receiver asks the node for a keyframe when its
		// decoder is stuck, as libwebrtc's does.
		c.spawn(func() { media.Receive(tr, flow, media.PLISender(pc)) })
		c.spawn(func() { media.DrainReceiverRTCP(recv) })
	})
}

// addMedia adds the client's publications, its receive-only transceivers
// for its subscriptions, and its data channel, and starts sending; video
// follows est, the connection's congestion controller (nil: none).
func (c *client) addMedia(ctx context.Context, pc *webrtc.PeerConnection, est media.Estimator) error {
	connected := func() bool {
		return !c.muted.Load() && pc.ConnectionState() == webrtc.PeerConnectionStateConnected
	}
	for _, kind := range c.spec.Publish.kinds() {
		if kind == media.Video && c.spec.Publish.Simulcast {
			if err := c.addSimulcast(ctx, pc, est, connected); err != nil {
				return err
			}
			continue
		}
		track := media.NewTrack(kind, kind, c.spec.Name)
		tr, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return err
		}
		// Counted as sent here and received at the node; the client's
		// sender measures the round trip from the node's receiver reports.
		flow := c.run.meter.Flow(media.FlowKey{Owner: c.spec.Name, Track: c.spec.Name + "/" + kind, Kind: kind, Direction: media.AtNode})
		publish, onKeyframeRequest := c.run.publisher(c.spec.Name, kind, est, c.spec.Publish)
		c.spawn(func() { publish(ctx, track, kind, flow, connected) })
		c.spawn(func() { media.DrainRTCPWithPLI(tr.Sender(), flow, onKeyframeRequest) })
	}
	for _, sub := range c.subscribe {
		kind := webrtc.RTPCodecTypeAudio
		if strings.HasSuffix(sub, "/"+media.Video) {
			kind = webrtc.RTPCodecTypeVideo
		}
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return err
		}
	}
	if c.spec.Publish.Data {
		dc, err := pc.CreateDataChannel(sfu.DataLabel, nil)
		if err != nil {
			return err
		}
		sent := c.run.meter.Flow(media.FlowKey{Owner: c.spec.Name, Track: c.spec.Name + "/data", Kind: media.Data, Direction: media.AtNode})
		echo := c.run.meter.Flow(media.FlowKey{Owner: c.spec.Name, Track: "node/data", Kind: media.Data, Direction: media.Received})
		dc.OnMessage(func(m webrtc.DataChannelMessage) { echo.ReceivedMessage(len(m.Data)) })
		c.spawn(func() { media.SendData(ctx, dc, sent) })
	}
	if len(c.spec.Publish.kinds()) == 0 && len(c.subscribe) == 0 && !c.spec.Publish.Data {
		// Nothing to send or receive: an offer without a media section
		// has no ICE credentials. Real SDKs always negotiate something
		// (LiveKit's open their reliable data channel), so this client
		// does too, and sends nothing on it.
		if _, err := pc.CreateDataChannel(sfu.QuietLabel, nil); err != nil {
			return err
		}
	}
	return nil
}

// snapshotChecks records the candidate pairs ICE tried.
func (c *client) snapshotChecks() {
	c.mu.Lock()
	pc := c.pc
	c.mu.Unlock()
	if pc != nil {
		c.obs.checks(c.guard.Stats(pc), true)
	}
}

func (c *client) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// leave hangs up: the client stops its attempts and media, tells the node
// it leaves, and closes its peer connections while the network is up.
func (c *client) leave() {
	c.mu.Lock()
	if c.left || c.closing {
		c.mu.Unlock()
		return
	}
	c.left = true
	pcs, stop, hangUp := c.pcs, c.stop, c.hangUp
	c.mu.Unlock()
	c.obs.left()
	if hangUp != nil {
		hangUp()
	}
	if stop != nil {
		stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var ok struct{}
	_ = c.post(ctx, c.signal, sfu.PathLeave, sfu.LeaveRequest{Client: c.spec.Name}, &ok)
	for _, pc := range pcs {
		_ = c.guard.Close(pc, true)
	}
}

// close ends the client: no attempt starts after it begins, and it closes
// every peer connection any attempt published, gracefully, so that pion's
// goroutines (a TURN allocation still retrying among them) have ended
// when it returns. The run's context must be cancelled first.
func (c *client) close() {
	c.mu.Lock()
	c.closing = true
	pcs, stop := c.pcs, c.stop
	c.gen++
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
	for _, pc := range pcs {
		_ = c.guard.Close(pc, true)
	}
	c.wg.Wait()
	c.http.CloseIdleConnections()
}
