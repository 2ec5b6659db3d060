package harness

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/icelab/icelab/relay"
	"github.com/icelab/icelab/vnet"
	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// signalPort is where the node serves HTTPS signalling, as LiveKit does
// behind its load balancer.
const signalPort = 443

// joinRequest asks the node for a session's ICE servers and subscriptions.
type joinRequest struct {
	Client string `json:"client"`
}

// joinResponse is what the node hands a joining client, as a LiveKit join
// response does.
type joinResponse struct {
	ICEServers []webrtc.ICEServer `json:"ice_servers"`
	// Subscribe lists the tracks the client receives, in the order of its
	// receive-only transceivers: "bob/audio", "bob/video".
	Subscribe []string `json:"subscribe"`
}

// offerRequest carries a client's offer: the first, an ICE restart, or a
// resumed session on a new peer connection after transport fallback.
type offerRequest struct {
	Client string                    `json:"client"`
	Offer  webrtc.SessionDescription `json:"offer"`
	// Resume asks the node to move an existing session to a new peer
	// connection; it fails on a node that does not hold the session.
	Resume bool `json:"resume"`
}

type offerResponse struct {
	Answer webrtc.SessionDescription `json:"answer"`
}

// trickleRequest carries one of a client's ICE candidates, sent as the
// client gathers it (trickle ICE), after the offer it belongs to.
type trickleRequest struct {
	Client    string                  `json:"client"`
	Candidate webrtc.ICECandidateInit `json:"candidate"`
}

// errNoSession is what a node answers to a resume it cannot serve.
const errNoSession = "session not found on this node"

// node is the media node: an SFU stand-in that forwards every client's
// tracks to the others, with the relay on the same host.
type node struct {
	name     string
	host     *vnet.Host
	cfg      relay.Config
	external netip.Addr // the address clients reach it on
	api      *webrtc.API
	run      *runState

	// forwarded holds one local track per publication, shared by all
	// subscribers: "alice/audio".
	forwarded map[string]*webrtc.TrackLocalStaticRTP
	publishes map[string]Publish // by client

	mu       sync.Mutex
	sessions map[string]*session
	// all is every session's peer connection ever published: close owns
	// them all, replaced ones included.
	all    []*webrtc.PeerConnection
	closed bool
	srv    *http.Server
	wg     sync.WaitGroup
}

// session is one client's peer connection on the node.
type session struct {
	client string
	pc     *webrtc.PeerConnection
}

// nodeOptions configure a node's pion API.
type nodeOptions struct {
	portMin, portMax uint16
	singlePort       int
	useExternalIP    bool
	tcpMux           ice.TCPMux
	renomination     bool
	loggers          logging.LoggerFactory
}

func newNode(name string, host *vnet.Host, cfg relay.Config, external netip.Addr, o nodeOptions, run *runState, clients []ClientSpec) (*node, error) {
	var se webrtc.SettingEngine
	se.SetNet(host)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.LoggerFactory = o.loggers
	types := []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	if o.tcpMux != nil {
		types = append(types, webrtc.NetworkTypeTCP4)
		se.SetICETCPMux(o.tcpMux)
		se.SetIncludeLoopbackCandidate(true)
	}
	se.SetNetworkTypes(nodeNetworkTypes(host, types))
	switch {
	case o.singlePort > 0:
		conn, err := host.ListenUDP("udp4", &net.UDPAddr{IP: host.Addr().AsSlice(), Port: o.singlePort})
		if err != nil {
			return nil, fmt.Errorf("node %s: udp port %d: %w", name, o.singlePort, err)
		}
		se.SetICEUDPMux(ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: conn, Logger: o.loggers.NewLogger("udpmux")}))
	case o.portMin > 0:
		if err := se.SetEphemeralUDPPortRange(o.portMin, o.portMax); err != nil {
			return nil, fmt.Errorf("node %s: port range: %w", name, err)
		}
	}
	if o.renomination {
		// The node is the controlled side: it honours the nomination
		// values a renominating client sends.
		if err := se.SetICERenomination(); err != nil {
			return nil, err
		}
	}
	if o.useExternalIP && external != host.Addr() {
		rule := webrtc.ICEAddressRewriteRule{External: []string{external.String()},
			AsCandidateType: webrtc.ICECandidateTypeHost, Mode: webrtc.ICEAddressRewriteReplace}
		if err := se.SetICEAddressRewriteRules(rule); err != nil {
			return nil, fmt.Errorf("node %s: external address: %w", name, err)
		}
	}
	n := &node{
		name: name, host: host, cfg: cfg, external: external, run: run,
		api:       webrtc.NewAPI(webrtc.WithSettingEngine(se)),
		forwarded: map[string]*webrtc.TrackLocalStaticRTP{},
		publishes: map[string]Publish{},
		sessions:  map[string]*session{},
	}
	for _, c := range clients {
		n.publishes[c.Name] = c.Publish
		for _, kind := range published(c.Publish) {
			cap := codecFor(kind)
			t, err := webrtc.NewTrackLocalStaticRTP(cap, kind, c.Name)
			if err != nil {
				return nil, err
			}
			n.forwarded[c.Name+"/"+kind] = t
		}
	}
	return n, nil
}

// published lists the media kinds a client publishes, audio first.
func published(p Publish) []string {
	var kinds []string
	if p.Audio {
		kinds = append(kinds, trackKindAudio)
	}
	if p.Video {
		kinds = append(kinds, trackKindVideo)
	}
	return kinds
}

func codecFor(kind string) webrtc.RTPCodecCapability {
	if kind == trackKindAudio {
		return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
	}
	return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
}

// subscriptions returns what client receives: every other client's
// publications in a fixed order, or its own echoed when it is alone.
func (n *node) subscriptions(client string, order []string) []string {
	var subs []string
	for _, other := range order {
		if other == client {
			continue
		}
		for _, kind := range published(n.publishes[other]) {
			subs = append(subs, other+"/"+kind)
		}
	}
	if len(subs) == 0 {
		for _, kind := range published(n.publishes[client]) {
			subs = append(subs, client+"/"+kind)
		}
	}
	return subs
}

// serve starts HTTPS signalling on l, terminating TLS with certs; with no
// certs, l yields connections whose TLS a front end already terminated.
func (n *node) serve(l net.Listener, certs []tls.Certificate, iceServers func(client string) []webrtc.ICEServer, order []string) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /rtc/join", func(w http.ResponseWriter, r *http.Request) {
		var req joinRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil || req.Client == "" {
			http.Error(w, "bad join request", http.StatusBadRequest)
			return
		}
		writeJSON(w, joinResponse{ICEServers: iceServers(req.Client), Subscribe: n.subscriptions(req.Client, order)})
	})
	mux.HandleFunc("POST /rtc/offer", func(w http.ResponseWriter, r *http.Request) {
		var req offerRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil || req.Client == "" {
			http.Error(w, "bad offer request", http.StatusBadRequest)
			return
		}
		answer, status, err := n.answer(r.Context(), req, order)
		if err != nil {
			http.Error(w, err.Error(), status)
			return
		}
		writeJSON(w, offerResponse{Answer: answer})
	})
	mux.HandleFunc("POST /rtc/trickle", func(w http.ResponseWriter, r *http.Request) {
		var req trickleRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil || req.Client == "" {
			http.Error(w, "bad trickle request", http.StatusBadRequest)
			return
		}
		n.mu.Lock()
		s := n.sessions[req.Client]
		n.mu.Unlock()
		if s == nil {
			http.Error(w, errNoSession, http.StatusNotFound)
			return
		}
		if err := s.pc.AddICECandidate(req.Candidate); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, struct{}{})
	})
	// The server's own log (a TLS handshake that timed out, say) would go
	// to the process's stderr, in the middle of a test's or the CLI's
	// output; what a client saw of it is in its result.
	n.srv = &http.Server{Handler: mux, ErrorLog: log.New(io.Discard, "", 0), ReadHeaderTimeout: 10 * time.Second}
	if certs != nil {
		l = tls.NewListener(l, &tls.Config{Certificates: certs, MinVersion: tls.VersionTLS12})
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		_ = n.srv.Serve(l)
	}()
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// answer handles an offer: a new session, an ICE restart on the current
// one, or a resume on a new peer connection.
func (n *node) answer(ctx context.Context, req offerRequest, order []string) (webrtc.SessionDescription, int, error) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return webrtc.SessionDescription{}, http.StatusServiceUnavailable, errors.New("node closing")
	}
	s := n.sessions[req.Client]
	n.mu.Unlock()
	if req.Resume && s == nil {
		return webrtc.SessionDescription{}, http.StatusNotFound, errors.New(errNoSession)
	}
	restart := s != nil && !req.Resume && s.pc.ConnectionState() != webrtc.PeerConnectionStateClosed
	if !restart {
		pc, err := n.newSession(req.Client, order)
		if err != nil {
			return webrtc.SessionDescription{}, http.StatusInternalServerError, err
		}
		s = &session{client: req.Client, pc: pc}
		n.mu.Lock()
		if n.closed {
			// close began while the session was made: it is not
			// published, so it is closed here.
			n.mu.Unlock()
			_ = pc.GracefulClose()
			return webrtc.SessionDescription{}, http.StatusServiceUnavailable, errors.New("node closing")
		}
		old := n.sessions[req.Client]
		n.sessions[req.Client] = s
		n.all = append(n.all, pc)
		n.mu.Unlock()
		if old != nil {
			_ = old.pc.Close()
		}
	}
	pc := s.pc
	if err := pc.SetRemoteDescription(req.Offer); err != nil {
		return webrtc.SessionDescription{}, http.StatusBadRequest, fmt.Errorf("set offer: %w", err)
	}
	if !restart {
		if err := n.bindSubscriptions(pc, req.Client, order); err != nil {
			return webrtc.SessionDescription{}, http.StatusInternalServerError, err
		}
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return webrtc.SessionDescription{}, http.StatusInternalServerError, fmt.Errorf("create answer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return webrtc.SessionDescription{}, http.StatusInternalServerError, fmt.Errorf("set answer: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return webrtc.SessionDescription{}, http.StatusServiceUnavailable, ctx.Err()
	}
	return *pc.LocalDescription(), http.StatusOK, nil
}

// newSession creates the node's peer connection for a client, forwarding
// what arrives on it and observing it.
func (n *node) newSession(client string, order []string) (*webrtc.PeerConnection, error) {
	pc, err := n.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("node %s: peer connection for %s: %w", n.name, client, err)
	}
	obs := n.run.observer(client)
	pc.SCTP().Transport().ICETransport().OnSelectedCandidatePairChange(func(p *webrtc.ICECandidatePair) {
		obs.nodePair(pairOf(p))
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		kind := tr.Kind().String()
		fwd := n.forwarded[client+"/"+kind]
		c := n.run.meter.counter(client, client+"/"+kind, kind, "at-node")
		n.spawn(func() { forward(tr, fwd, c) })
		n.spawn(func() { drainReceiverRTCP(recv) })
	})
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		if dc.Label() != dataLabel {
			return // a quiet client's channel: nothing flows on it
		}
		c := n.run.meter.counter(client, client+"/data", trackKindData, "at-node")
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			c.add(len(m.Data))
			_ = dc.Send(m.Data) // echo, so data flows both ways
		})
	})
	return pc, nil
}

// forward counts the RTP arriving on a remote track and copies it to fwd;
// with fwd nil it only counts.
func forward(tr *webrtc.TrackRemote, fwd *webrtc.TrackLocalStaticRTP, c *counter) {
	var pkt rtp.Packet
	buf := make([]byte, 1500)
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return
		}
		if pkt.Unmarshal(buf[:n]) != nil {
			c.add(n)
			continue
		}
		c.addRTP(&pkt.Header, n)
		if fwd != nil {
			_ = fwd.WriteRTP(&pkt)
		}
	}
}

// bindSubscriptions attaches the forwarded tracks a client subscribes to,
// in order, to the send-only transceivers its offer created.
func (n *node) bindSubscriptions(pc *webrtc.PeerConnection, client string, order []string) error {
	subs := n.subscriptions(client, order)
	next := map[string][]string{} // by kind
	for _, s := range subs {
		kind := s[strings.IndexByte(s, '/')+1:]
		next[kind] = append(next[kind], s)
	}
	for _, t := range pc.GetTransceivers() {
		if t.Direction() != webrtc.RTPTransceiverDirectionSendonly || t.Sender() != nil {
			continue
		}
		kind := t.Kind().String()
		if len(next[kind]) == 0 {
			continue
		}
		sub := next[kind][0]
		track := n.forwarded[sub]
		next[kind] = next[kind][1:]
		// The subscriber's receive counter: the node's sender measures the
		// round trip to it from the receiver reports it sends back.
		rc := n.run.meter.counter(client, sub, kind, "received")
		// AddTrack, not the API's NewRTPSender: only a sender made by the
		// peer connection runs its interceptors (sender reports, NACK
		// responses); one from api.NewRTPSender runs none. AddTrack takes
		// the first transceiver of the kind the client offered to receive
		// on, which is t, since they are filled in order.
		sender, err := pc.AddTrack(track)
		if err != nil {
			return fmt.Errorf("node %s: sender for %s: %w", n.name, client, err)
		}
		if t.Sender() != sender {
			return fmt.Errorf("node %s: sender for %s: %s landed on another transceiver than %s", n.name, client, sub, t.Mid())
		}
		n.spawn(func() { drainRTCP(sender, rc) })
	}
	return nil
}

// spawn runs f on a goroutine close waits for, unless close has begun
// (then the peer connection f would read is closed, or about to be).
func (n *node) spawn(f func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

// close stops signalling and every session, gracefully, so that pion's
// goroutines have ended when it returns.
func (n *node) close() {
	n.mu.Lock()
	n.closed = true
	all := n.all
	n.sessions = map[string]*session{}
	n.mu.Unlock()
	if n.srv != nil {
		_ = n.srv.Close()
	}
	for _, pc := range all {
		_ = pc.GracefulClose()
	}
	n.wg.Wait()
}
