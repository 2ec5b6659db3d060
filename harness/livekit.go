package harness

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/icelab/icelab/harness/sfu"
	"github.com/pion/webrtc/v4"
)

// A client under the livekit policy behaves as LiveKit's JS SDK does
// (client-sdk-js 2.21, its default single peer connection on /rtc/v1; read
// in src/room/RTCEngine.ts, src/api/SignalClient.ts and
// src/room/DefaultReconnectPolicy.ts): it signals on one WebSocket,
// pings every 5 s and gives the signal up after 15 s without a message;
// it acts on its peer connection failing, the signal closing or timing
// out, and the node's leave requests. It then resumes — a new signal
// connection with reconnect=1, the ICE servers and relay policy of the
// reconnect response, an ICE restart — and waits 2 s, then up to 15 s, for
// the peer connection to connect; a resume whose peer connection did not
// connect, or that the node answers with a leave request, is followed by a
// full rejoin. Attempts follow the SDK's delays (0, 0.3, 1.2, 2.7, 4.8 s,
// then 7 s, plus up to a second of jitter from the third), at most ten.
// The node's transport ladder (LiveKit's, harness/sfu) decides what the
// resumes get.

// The JS SDK's timings.
const (
	lkPingInterval       = 5 * time.Second
	lkPingTimeout        = 15 * time.Second
	lkSignalTimeout      = 15 * time.Second // websocketTimeout
	lkPCSettle           = 2 * time.Second  // before waiting for the peer connection
	lkPCTimeout          = 15 * time.Second // peerConnectionTimeout
	lkMaxReconnects      = 10
	lkReconnectJitterMax = time.Second
)

// lkReconnectDelays are DefaultReconnectPolicy's delays by attempt.
var lkReconnectDelays = []time.Duration{0, 300 * time.Millisecond, 1200 * time.Millisecond, 2700 * time.Millisecond, 4800 * time.Millisecond}

const lkReconnectDelayAfter = 7 * time.Second

// lkDelay is the SDK's delay before reconnect attempt n (from 0), with its
// jitter drawn from the run's seeded source.
func lkDelay(n int, rnd *rand.Rand) time.Duration {
	d := lkReconnectDelayAfter
	if n < len(lkReconnectDelays) {
		d = lkReconnectDelays[n]
	}
	if n >= 2 {
		d += time.Duration(rnd.Int64N(int64(lkReconnectJitterMax)))
	}
	return d
}

// lkError is an attempt's failure: one the SDK follows with a full rejoin
// (the node did not know the session, or the peer connection did not
// connect: its ConnectionError), or one after which it resumes again (the
// signal could not be reached: its SignalReconnectError).
type lkError struct {
	rejoin bool
	msg    string
}

func (e *lkError) Error() string { return e.msg }

func rejoinError(format string, args ...any) error {
	return &lkError{rejoin: true, msg: fmt.Sprintf(format, args...)}
}

func signalError(format string, args ...any) error {
	return &lkError{msg: fmt.Sprintf(format, args...)}
}

// isSignalError reports whether an attempt failed on the signal only.
func isSignalError(err error) bool {
	var e *lkError
	return errors.As(err, &e) && !e.rejoin
}

// lkSignal is one signal WebSocket: its first message (the join or
// reconnect response, or a leave), the node's answers and leave requests,
// and the round trip its pongs measure.
type lkSignal struct {
	conn    *websocket.Conn
	first   chan sfu.SignalResponse
	answers chan webrtc.SessionDescription
	leaves  chan sfu.Leave
	alive   chan struct{} // a message arrived
	done    chan struct{} // the read loop ended
	rtt     atomic.Int64  // ms, from the last pong
}

// dialSignal opens the signal WebSocket, a join or (with reason) a resume,
// and starts reading it and pinging on it until ctx ends or it closes.
func (c *client) dialSignal(ctx context.Context, base, reason string) (*lkSignal, error) {
	q := url.Values{"client": {c.spec.Name}, "sdk": {c.sdk()}, "protocol": {strconv.Itoa(sfu.ProtocolVersion)}}
	if reason != "" {
		q.Set("reconnect", "1")
		q.Set("reason", reason)
	}
	u := "wss" + base[len("https"):] + sfu.PathSignal + "?" + q.Encode()
	dctx, cancel := context.WithTimeout(ctx, lkSignalTimeout)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, u, &websocket.DialOptions{HTTPClient: c.ws})
	if err != nil {
		return nil, signalError("signal connection: %v", explainTLS(err))
	}
	conn.SetReadLimit(1 << 20)
	s := &lkSignal{conn: conn, first: make(chan sfu.SignalResponse, 1), answers: make(chan webrtc.SessionDescription, 4),
		leaves: make(chan sfu.Leave, 4), alive: make(chan struct{}, 1), done: make(chan struct{})}
	c.spawn(func() { s.read(ctx) })
	c.spawn(func() { s.ping(ctx) })
	return s, nil
}

// sdk is the SDK the client reports: js when it gathers TCP (LiveKit
// thinks a JS client can do ICE-TCP), go otherwise (it thinks a Go client
// cannot, pkg/rtc/clientinfo.go), so that the node's ladder skips ICE/TCP
// for a client that could not use it.
func (c *client) sdk() string {
	if hasTCP(c.spec.NetworkTypes) {
		return sfu.SDKJS
	}
	return sfu.SDKGo
}

func (s *lkSignal) read(ctx context.Context) {
	defer close(s.done)
	firstDone := false
	for {
		var msg sfu.SignalResponse
		if err := wsjson.Read(ctx, s.conn, &msg); err != nil {
			_ = s.conn.CloseNow()
			return
		}
		select {
		case s.alive <- struct{}{}:
		default:
		}
		switch {
		case !firstDone && (msg.Join != nil || msg.Reconnect != nil || msg.Leave != nil):
			firstDone = true
			s.first <- msg
		case msg.Answer != nil:
			select {
			case s.answers <- *msg.Answer:
			default:
			}
		case msg.Leave != nil:
			select {
			case s.leaves <- *msg.Leave:
			default:
			}
		case msg.Pong != nil:
			s.rtt.Store(time.Now().UnixMilli() - msg.Pong.LastPingTimestamp)
		}
	}
}

func (s *lkSignal) ping(ctx context.Context) {
	t := time.NewTicker(lkPingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case <-t.C:
		}
		if s.send(ctx, sfu.SignalRequest{Ping: &sfu.Ping{Timestamp: time.Now().UnixMilli(), RTT: s.rtt.Load()}}) != nil {
			return
		}
	}
}

func (s *lkSignal) send(ctx context.Context, req sfu.SignalRequest) error {
	wctx, cancel := context.WithTimeout(ctx, lkSignalTimeout)
	defer cancel()
	return wsjson.Write(wctx, s.conn, req)
}

func (s *lkSignal) close() { _ = s.conn.CloseNow() }

// firstMessage waits for the signal's first message.
func (s *lkSignal) firstMessage(ctx context.Context) (sfu.SignalResponse, error) {
	t := time.NewTimer(lkSignalTimeout)
	defer t.Stop()
	select {
	case m := <-s.first:
		return m, nil
	case <-s.done:
		return sfu.SignalResponse{}, signalError("signal closed before its first message")
	case <-t.C:
		return sfu.SignalResponse{}, signalError("no message on the signal within %v", lkSignalTimeout)
	case <-ctx.Done():
		return sfu.SignalResponse{}, ctx.Err()
	}
}

// connectLiveKit runs the client as LiveKit's JS SDK until ctx ends: the
// join, then every disconnect handled by resumes and rejoins.
func (c *client) connectLiveKit(ctx context.Context, nodeName string) {
	rnd := rand.New(rand.NewPCG(c.run.seed, uint64(len(c.spec.Name))))
	events := make(chan pcEvent, 64)
	var sig *lkSignal
	defer func() {
		if sig != nil {
			sig.close()
		}
	}()
	cause := "" // what the SDK reconnects after; "" for the first join
	full := true
	for {
		// handleDisconnect: attempts with the SDK's delays until one
		// connects, at most ten. Each attempt's label says which it is
		// and what it reconnects after; an attempt's own failure is
		// recorded as it happens.
		ok := false
		for n := 0; n < lkMaxReconnects && !ok; n++ {
			if !sleepCtx(ctx, lkDelay(n, rnd)) {
				return
			}
			why := lkAttemptLabel(full, n, cause)
			var err error
			if full {
				sig, err = c.lkJoin(ctx, sig, nodeName, why, events)
			} else {
				sig, err = c.lkResume(ctx, sig, nodeName, why, events)
			}
			switch {
			case ctx.Err() != nil || errors.Is(err, errClosing):
				return
			case err == nil:
				ok = true
			default:
				c.obs.failure(fmt.Sprintf("%s: %v", why, err))
				// A resume that could not reach the signal resumes
				// again; anything else rejoins (the SDK's
				// SignalReconnectError and ConnectionError).
				full = full || !isSignalError(err)
			}
		}
		if !ok {
			c.obs.finalFailure(c.failureSoFar() + fmt.Sprintf("; gave up after %d attempts, as the SDK does", lkMaxReconnects))
			<-ctx.Done()
			return
		}
		why, rejoin := c.lkWait(ctx, sig, events)
		if why == "" {
			return
		}
		c.obs.failure(why)
		cause, full = why, rejoin
	}
}

// lkAttemptLabel names an attempt: the first join, or the n-th (from 0)
// resume or rejoin after cause.
func lkAttemptLabel(full bool, n int, cause string) string {
	kind := "resume"
	if full {
		kind = "rejoin"
	}
	switch {
	case cause == "" && n == 0:
		return "initial"
	case cause == "":
		return fmt.Sprintf("rejoin %d after the first join did not connect", n)
	case n > 0:
		kind = fmt.Sprintf("%s (attempt %d)", kind, n+1)
	}
	return kind + " after: " + cause
}

// lkWait waits for what makes the SDK reconnect: its peer connection
// failing, the signal closing or staying silent for 15 s, or a leave
// request. It returns why, and whether the next attempt is a full rejoin
// (a leave asking to reconnect); "" when ctx ended.
func (c *client) lkWait(ctx context.Context, sig *lkSignal, events <-chan pcEvent) (why string, rejoin bool) {
	quiet := time.NewTimer(lkPingTimeout)
	defer quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			return "", false
		case <-sig.alive:
			quiet.Reset(lkPingTimeout)
		case <-quiet.C:
			return "signal ping timeout (15 s without a message)", false
		case <-sig.done:
			// A leave request is followed by the close: it says why.
			select {
			case l := <-sig.leaves:
				return leaveWhy(l)
			default:
			}
			return "signal connection closed", false
		case l := <-sig.leaves:
			return leaveWhy(l)
		case ev := <-events:
			if ev.gen == c.generation() && ev.state == webrtc.PeerConnectionStateFailed {
				return "peer connection failed", false
			}
		}
	}
}

// leaveWhy says why a leave request makes the client reconnect, and
// whether the next attempt is a full rejoin.
func leaveWhy(l sfu.Leave) (string, bool) {
	switch l.Action {
	case sfu.LeaveReconnect:
		return "the node asked it to rejoin: " + l.Reason, true
	case sfu.LeaveDisconnect:
		return "the node disconnected it: " + l.Reason, true
	}
	return "the node asked it to resume: " + l.Reason, false
}

// lkJoin joins from scratch: a new signal connection and a new peer
// connection with the ICE servers and relay policy of the join response.
func (c *client) lkJoin(ctx context.Context, old *lkSignal, nodeName, why string, events chan pcEvent) (*lkSignal, error) {
	if old != nil {
		_ = old.send(ctx, sfu.SignalRequest{Leave: true})
		old.close()
	}
	sig, err := c.dialSignal(ctx, c.signal, "")
	if err != nil {
		c.obs.signalling(err)
		return nil, err
	}
	first, err := sig.firstMessage(ctx)
	if err != nil || first.Join == nil {
		sig.close()
		c.obs.signalling(err)
		if err == nil {
			err = rejoinError("the node sent no join response")
		}
		return nil, err
	}
	c.obs.signalling(nil)
	join := first.Join
	c.subscribe = join.Subscribe
	servers := c.filterServers(join.ICEServers)
	c.mu.Lock()
	c.iceServers = servers
	c.mu.Unlock()
	plan := c.lkPlan(why, servers, join.ClientConfiguration, nodeName)
	c.obs.attempt(plan.why, plan.describe(), plan.node)
	if err := c.startWS(ctx, plan, sig, events); err != nil {
		sig.close()
		return nil, err
	}
	if err := c.lkWaitConnected(ctx, sig, events, 0); err != nil {
		return sig, err
	}
	return sig, nil
}

// lkResume resumes: a new signal connection with reconnect=1, the
// configuration of the reconnect response set on the peer connection, and
// an ICE restart.
func (c *client) lkResume(ctx context.Context, old *lkSignal, nodeName, why string, events chan pcEvent) (*lkSignal, error) {
	if old != nil {
		old.close()
	}
	sig, err := c.dialSignal(ctx, c.signal, sfu.ReasonUnknown)
	if err != nil {
		return old, err
	}
	first, err := sig.firstMessage(ctx)
	if err != nil {
		sig.close()
		return old, err
	}
	if first.Leave != nil || first.Reconnect == nil {
		sig.close()
		reason := "no reconnect response"
		if first.Leave != nil {
			reason = "leave: " + first.Leave.Reason
		}
		return sig, rejoinError("resume refused: %s", reason)
	}
	rc := first.Reconnect
	servers := c.filterServers(rc.ICEServers)
	c.mu.Lock()
	c.iceServers = servers
	c.mu.Unlock()
	plan := c.lkPlan(why, servers, rc.ClientConfiguration, nodeName)
	c.obs.attempt(plan.why, plan.describe(), plan.node)
	c.mu.Lock()
	pc, tr := c.pc, c.tr
	c.mu.Unlock()
	if pc == nil {
		return sig, rejoinError("no peer connection to resume")
	}
	conf := pc.GetConfiguration()
	if conf.ICETransportPolicy != plan.policy {
		// A browser applies a new iceTransportPolicy to the ICE restart of
		// the same connection; pion cannot: its SetConfiguration hands the
		// agent the new servers but keeps the candidate types it was made
		// with (webrtc v4.2.26 ICEGatherer.updateServers), so a restart
		// would gather host candidates again. The client rejoins instead,
		// with a new peer connection under the node's policy (the join
		// response carries it too), which is what the browser's restart
		// achieves.
		return sig, rejoinError("the node asks for ICE transport policy %s, which pion cannot apply to an existing peer connection: rejoining", plan.policy)
	}
	conf.ICEServers, conf.ICETransportPolicy = plan.servers, plan.policy
	if err := pc.SetConfiguration(conf); err != nil {
		return sig, rejoinError("set configuration: %v", err)
	}
	tr.retarget(func(cand webrtc.ICECandidateInit) error {
		return sig.send(ctx, sfu.SignalRequest{Trickle: &cand})
	})
	if err := c.negotiateWS(ctx, pc, sig, tr, true); err != nil {
		return sig, err
	}
	return sig, c.lkWaitConnected(ctx, sig, events, lkPCSettle)
}

// lkPlan is one attempt's settings from what the node sent.
func (c *client) lkPlan(why string, servers []webrtc.ICEServer, cc sfu.ClientConfiguration, nodeName string) attemptPlan {
	types := c.spec.NetworkTypes
	if len(types) == 0 {
		types = []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	}
	policy := c.spec.Policy
	if cc.ForceRelay {
		policy = webrtc.ICETransportPolicyRelay
	}
	if policy == webrtc.ICETransportPolicyRelay {
		// A browser under a relay policy uses relay candidates only. pion's
		// agent dials ICE-TCP to every passive TCP candidate the node sends,
		// relay policy or not (ice v4.4.9 agent.go:1320-1330), so the client
		// stops gathering TCP; its relay candidates need UDP configured.
		types = []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	}
	return attemptPlan{why: why, policy: policy, types: types, servers: servers, base: c.signal, node: nodeName}
}

// filterServers keeps the ICE servers the client uses: its own if it has
// any (the SDK takes the node's only when the app gave none), else the
// node's for the relay transports it uses.
func (c *client) filterServers(servers []webrtc.ICEServer) []webrtc.ICEServer {
	if c.spec.ICEServers != nil {
		return c.spec.ICEServers
	}
	relays := c.spec.Relays
	if relays == nil {
		relays = []string{"udp", "tls"}
	}
	return serversWhere(servers, usesRelays(relays))
}

// lkWaitConnected waits settle, then up to the SDK's 15 s, for the peer
// connection to connect; one that does not makes the next attempt a
// rejoin.
func (c *client) lkWaitConnected(ctx context.Context, sig *lkSignal, events <-chan pcEvent, settle time.Duration) error {
	if !sleepCtx(ctx, settle) {
		return ctx.Err()
	}
	deadline := time.NewTimer(lkPCTimeout)
	defer deadline.Stop()
	for c.state() != webrtc.PeerConnectionStateConnected {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return rejoinError("not connected within %v (%s)", lkPCTimeout, c.stuckAt())
		case <-sig.done:
			return signalError("signal closed while connecting")
		case <-events: // a state changed: look again
		}
	}
	return nil
}

// startWS starts a new peer connection under plan, signalling on sig.
func (c *client) startWS(ctx context.Context, plan attemptPlan, sig *lkSignal, events chan<- pcEvent) error {
	send := func(cand webrtc.ICECandidateInit) error {
		return sig.send(ctx, sfu.SignalRequest{Trickle: &cand})
	}
	pc, tr, err := c.newAttempt(ctx, plan, events, 0, send)
	if err != nil {
		return err
	}
	return c.negotiateWS(ctx, pc, sig, tr, false)
}

// negotiateWS sends an offer on the signal and applies the answer; the
// trickler sends the candidates after the offer.
func (c *client) negotiateWS(ctx context.Context, pc *webrtc.PeerConnection, sig *lkSignal, tr *trickler, restart bool) error {
	offer, err := pc.CreateOffer(&webrtc.OfferOptions{ICERestart: restart})
	if err != nil {
		return fmt.Errorf("create offer: %w", err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("set offer: %w", err)
	}
	local := *pc.LocalDescription()
	if err := sig.send(ctx, sfu.SignalRequest{Offer: &local}); err != nil {
		return signalError("send offer: %v", err)
	}
	tr.release()
	t := time.NewTimer(lkSignalTimeout)
	defer t.Stop()
	select {
	case answer := <-sig.answers:
		c.noteRemoteCandidates(answer.SDP)
		if err := pc.SetRemoteDescription(answer); err != nil {
			return fmt.Errorf("set answer: %w", err)
		}
		return nil
	case <-sig.done:
		return signalError("signal closed before the answer")
	case <-t.C:
		return signalError("no answer within %v", lkSignalTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sleepCtx waits d, or until ctx ends (false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
