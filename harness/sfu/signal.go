package sfu

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/pion/webrtc/v4"
)

// LadderEvent is one decision of a participant's transport ladder, or an
// event of its resume cycle, for the observer.
type LadderEvent struct {
	// Trigger is what happened: "its peer connection failed", "UDP
	// unstable: ...", "the client resumed after publisher-failed".
	Trigger string
	// From and To are the preferences before and after; Moved says
	// whether the ladder stepped.
	From, To string `json:",omitempty"`
	Moved    bool   `json:",omitempty"`
	// Why says why it stepped or did not.
	Why string
	// SignallingRTT and MediaRTT are the round trips the ladder knew.
	SignallingRTT, MediaRTT time.Duration `json:",omitempty"`
}

// SentICEConfig is the ICE configuration the node sent a participant: on
// join, or in the answer to a resume.
type SentICEConfig struct {
	Why        string // "join", "resume (the client's reason: publisher-failed)"
	Preference string
	ForceRelay bool `json:",omitempty"`
	// Servers are the ICE server URLs sent.
	Servers []string
}

// signal serves the signal WebSocket: a join, or a resume with
// reconnect=1, then the client's requests until the connection ends.
func (n *Node) signal(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name := q.Get("client")
	if name == "" {
		http.Error(w, "client missing", http.StatusBadRequest)
		return
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	conn.SetReadLimit(1 << 20)
	if !n.track(conn) {
		_ = conn.CloseNow()
		return
	}
	defer n.untrack(conn)
	var p *participant
	if q.Get("reconnect") == "1" {
		if p = n.participant(name); p == nil {
			// The participant was closed (no resume in time, or the
			// node never had it): LiveKit answers with a leave request
			// to rejoin.
			n.send(conn, SignalResponse{Leave: &Leave{Action: LeaveReconnect, Reason: "state mismatch: no such participant on this node"}})
			_ = conn.Close(websocket.StatusNormalClosure, "rejoin")
			return
		}
		n.resume(p, conn, q.Get("reason"))
	} else {
		protocol, _ := strconv.Atoi(q.Get("protocol"))
		p = n.join(name, q.Get("sdk"), protocol, conn)
	}
	n.serveSignal(r.Context(), p, conn)
}

// join makes a new participant (replacing one of the same name, as a
// rejoin does) and sends the join response, with the ICE configuration
// the node's cache holds for it (LiveKit keeps a participant's preference
// for 5 minutes, pkg/service/roommanager.go).
func (n *Node) join(name, sdk string, protocol int, conn *websocket.Conn) *participant {
	cached := n.cached(name)
	cfg := n.cfg.Ladder
	p := &participant{n: n, name: name, sig: conn,
		ld: ladder{cfg: cfg, clientICETCP: supportsICETCP(sdk), lastSignal: time.Now(), signalValid: true}}
	if protocol <= 12 {
		p.ld.cfg.AllowTCPFallback = false // an old client gets no leave request
	}
	p.ld.configure(cached, true)
	n.admit(p)
	urls, servers := n.iceServers(name, cached)
	n.cfg.Observer.ICEConfig(name, SentICEConfig{Why: "join", Preference: cached.String(), ForceRelay: cached == PreferTLS, Servers: urls})
	n.send(conn, SignalResponse{Join: &JoinResponse{ICEServers: servers, Subscribe: n.subscriptions(name),
		ClientConfiguration: ClientConfiguration{ForceRelay: cached == PreferTLS},
		PingInterval:        int(pingInterval / time.Second), PingTimeout: int(pingTimeout / time.Second)}})
	return p
}

// resume takes a participant's new signal connection: the ICE
// configuration is the cached one, read before anything else; a client
// that resumes because its peer connection failed while short-lived moves
// the ladder as a short-lived failure; the reconnect response goes out;
// then the cached configuration is applied with a reset, which clears the
// count and the move-once latch (LiveKit's RoomManager and
// ResumeParticipant, in that order: a move made from the client's reason is
// overwritten by the configuration read before it).
func (n *Node) resume(p *participant, conn *websocket.Conn, reason string) {
	cached := n.cached(p.name)
	now := time.Now()
	p.mu.Lock()
	p.sig = conn
	p.ld.signalValid, p.ld.lastSignal = true, now
	if p.disconnect != nil {
		p.disconnect.Stop()
	}
	var ev *LadderEvent
	var d decision
	if reason == ReasonPublisherFailed {
		if p.shortLived(now) {
			p.ld.reconfigured, p.ld.failures = false, 0
			d = p.ld.failed(now, true, p.conn)
			e := p.event("the client resumed after its peer connection failed", d)
			ev = &e
		}
		p.resetShort = true
	}
	p.mu.Unlock()
	if ev != nil {
		n.ladderMoved(p.name, d)
		n.cfg.Observer.Ladder(p.name, *ev)
	}
	urls, servers := n.iceServers(p.name, cached)
	n.cfg.Observer.ICEConfig(p.name, SentICEConfig{Why: "resume (the client's reason: " + reason + ")", Preference: cached.String(), ForceRelay: cached == PreferTLS, Servers: urls})
	n.send(conn, SignalResponse{Reconnect: &ReconnectResponse{ICEServers: servers, ClientConfiguration: ClientConfiguration{ForceRelay: cached == PreferTLS}}})
	p.mu.Lock()
	if p.ld.configure(cached, true) {
		n.cachePut(p.name, cached)
	}
	p.mu.Unlock()
}

// serveSignal reads a participant's requests until the connection ends,
// which marks its signal invalid (LiveKit's signalSourceValid).
func (n *Node) serveSignal(ctx context.Context, p *participant, conn *websocket.Conn) {
	defer func() {
		p.mu.Lock()
		if p.sig == conn {
			p.ld.signalValid = false
		}
		p.mu.Unlock()
	}()
	for {
		var req SignalRequest
		if err := wsjson.Read(ctx, conn, &req); err != nil {
			return
		}
		p.signalSeen()
		switch {
		case req.Offer != nil:
			answer, err := p.answer(ctx, *req.Offer)
			if err != nil {
				_ = conn.Close(websocket.StatusInternalError, err.Error())
				return
			}
			n.send(conn, SignalResponse{Answer: &answer})
		case req.Trickle != nil:
			_ = p.addCandidate(*req.Trickle)
		case req.Ping != nil:
			if req.Ping.RTT > 0 {
				p.mu.Lock()
				p.ld.signalRTT = time.Duration(req.Ping.RTT) * time.Millisecond
				p.mu.Unlock()
			}
			n.send(conn, SignalResponse{Pong: &Pong{LastPingTimestamp: req.Ping.Timestamp, Timestamp: time.Now().UnixMilli()}})
		case req.Leave:
			p.close()
			return
		}
	}
}

// send writes one message on a signal connection, bounded so that a dead
// connection does not hold its writer.
func (n *Node) send(conn *websocket.Conn, msg SignalResponse) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = wsjson.Write(ctx, conn, msg)
}

// iceServers returns the ICE servers for a participant under a preference
// (TURN/TLS only, for TURN/TLS) and their URLs.
func (n *Node) iceServers(name string, pref Preference) ([]string, []webrtc.ICEServer) {
	servers := n.cfg.ICEServers(name, pref == PreferTLS)
	var urls []string
	for _, s := range servers {
		urls = append(urls, s.URLs...)
	}
	return urls, servers
}
