package sfu

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

	"github.com/icelab/icelab/harness/media"
	"github.com/icelab/icelab/vnet"
	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Participant is one participant of the call as the node knows it from the
// start: its name and what it publishes.
type Participant struct {
	Name         string
	Audio, Video bool
	Data         bool
}

func (p Participant) kinds() []string { return media.Kinds(p.Audio, p.Video) }

// Observer is told what the node sees of each participant.
type Observer interface {
	// SelectedPair reports the node's end of a participant's selected
	// candidate pair.
	SelectedPair(participant string, p *webrtc.ICECandidatePair)
}

// Config is how a node is set up.
type Config struct {
	// Name names the node in errors.
	Name string
	// Host is the host the node runs on.
	Host *vnet.Host
	// External is the address clients reach the node on.
	External netip.Addr
	// PortMin and PortMax bound the UDP ports of its peer connections
	// (rtc.port_range_start/end); zero means any.
	PortMin, PortMax uint16
	// SinglePort muxes all UDP media on one port (rtc.udp_port).
	SinglePort int
	// UseExternalIP advertises External in host candidates, as LiveKit's
	// rtc.use_external_ip does.
	UseExternalIP bool
	// TCPMux is the passive ICE-TCP listener (rtc.tcp_port); nil means no
	// ICE-TCP.
	TCPMux ice.TCPMux
	// Renomination lets clients renominate the selected pair.
	Renomination bool
	Loggers      logging.LoggerFactory
	// Participants are the call's participants, in order.
	Participants []Participant
	// ICEServers returns the ICE servers handed to a joining participant.
	ICEServers func(participant string) []webrtc.ICEServer
	// Meter counts the media the node receives and sends.
	Meter    *media.Meter
	Observer Observer
}

// Node is a media node: HTTPS signalling, one session per participant and
// a forwarder per publication.
type Node struct {
	cfg Config
	api *webrtc.API

	publications map[string]*publication // "alice/audio"
	byName       map[string]Participant

	mu       sync.Mutex
	sessions map[string]*session
	// all is every session's peer connection ever published: Close owns
	// them all, replaced ones included.
	all    []*webrtc.PeerConnection
	closed bool
	srv    *http.Server
	wg     sync.WaitGroup
}

// session is one participant's peer connection on the node.
type session struct {
	participant string
	pc          *webrtc.PeerConnection
}

// New makes a node on cfg.Host.
func New(cfg Config) (*Node, error) {
	var se webrtc.SettingEngine
	se.SetNet(cfg.Host)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// A peer that closes itself on its remote's DTLS close_notify runs into
	// pion's SCTP lock held across a timed wait (DESIGN.md), which stops
	// the clock of a synctest bubble; the node closes its sessions itself.
	se.DisableCloseByDTLS(true)
	se.LoggerFactory = cfg.Loggers
	types := []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	if cfg.TCPMux != nil {
		types = append(types, webrtc.NetworkTypeTCP4)
		se.SetICETCPMux(cfg.TCPMux)
		se.SetIncludeLoopbackCandidate(true)
	}
	if cfg.Host.Addr6().IsValid() {
		// A dual-stack SFU gathers IPv6 too.
		types = append(types, webrtc.NetworkTypeUDP6)
	}
	se.SetNetworkTypes(types)
	switch {
	case cfg.SinglePort > 0:
		conn, err := cfg.Host.ListenUDP("udp4", &net.UDPAddr{IP: cfg.Host.Addr().AsSlice(), Port: cfg.SinglePort})
		if err != nil {
			return nil, fmt.Errorf("node %s: udp port %d: %w", cfg.Name, cfg.SinglePort, err)
		}
		se.SetICEUDPMux(ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: conn, Logger: cfg.Loggers.NewLogger("udpmux")}))
	case cfg.PortMin > 0:
		if err := se.SetEphemeralUDPPortRange(cfg.PortMin, cfg.PortMax); err != nil {
			return nil, fmt.Errorf("node %s: port range: %w", cfg.Name, err)
		}
	}
	if cfg.Renomination {
		// The node is the controlled side: it honours the nomination
		// values a renominating client sends.
		if err := se.SetICERenomination(); err != nil {
			return nil, err
		}
	}
	if cfg.UseExternalIP && cfg.External != cfg.Host.Addr() {
		rule := webrtc.ICEAddressRewriteRule{External: []string{cfg.External.String()},
			AsCandidateType: webrtc.ICECandidateTypeHost, Mode: webrtc.ICEAddressRewriteReplace}
		if err := se.SetICEAddressRewriteRules(rule); err != nil {
			return nil, fmt.Errorf("node %s: external address: %w", cfg.Name, err)
		}
	}
	n := &Node{
		cfg:          cfg,
		api:          webrtc.NewAPI(webrtc.WithSettingEngine(se)),
		publications: map[string]*publication{},
		byName:       map[string]Participant{},
		sessions:     map[string]*session{},
	}
	for _, p := range cfg.Participants {
		n.byName[p.Name] = p
		for _, kind := range p.kinds() {
			name := p.Name + "/" + kind
			n.publications[name] = newPublication(name)
		}
	}
	return n, nil
}

// subscriptions returns what a participant receives: every other
// participant's publications in a fixed order, or its own echoed when it
// is alone.
func (n *Node) subscriptions(participant string) []string {
	var subs []string
	for _, other := range n.cfg.Participants {
		if other.Name == participant {
			continue
		}
		for _, kind := range other.kinds() {
			subs = append(subs, other.Name+"/"+kind)
		}
	}
	if len(subs) == 0 {
		for _, kind := range n.byName[participant].kinds() {
			subs = append(subs, participant+"/"+kind)
		}
	}
	return subs
}

// Serve starts HTTPS signalling on l, terminating TLS with certs; with no
// certs, l yields connections whose TLS a front end already terminated.
func (n *Node) Serve(l net.Listener, certs []tls.Certificate) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathJoin, func(w http.ResponseWriter, r *http.Request) {
		var req JoinRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil || req.Client == "" {
			http.Error(w, "bad join request", http.StatusBadRequest)
			return
		}
		writeJSON(w, JoinResponse{ICEServers: n.cfg.ICEServers(req.Client), Subscribe: n.subscriptions(req.Client)})
	})
	mux.HandleFunc("POST "+PathOffer, func(w http.ResponseWriter, r *http.Request) {
		var req OfferRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil || req.Client == "" {
			http.Error(w, "bad offer request", http.StatusBadRequest)
			return
		}
		answer, status, err := n.answer(r.Context(), req)
		if err != nil {
			http.Error(w, err.Error(), status)
			return
		}
		writeJSON(w, OfferResponse{Answer: answer})
	})
	mux.HandleFunc("POST "+PathTrickle, func(w http.ResponseWriter, r *http.Request) {
		var req TrickleRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil || req.Client == "" {
			http.Error(w, "bad trickle request", http.StatusBadRequest)
			return
		}
		n.mu.Lock()
		s := n.sessions[req.Client]
		n.mu.Unlock()
		if s == nil {
			http.Error(w, ErrNoSession, http.StatusNotFound)
			return
		}
		if err := s.pc.AddICECandidate(req.Candidate); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, struct{}{})
	})
	mux.HandleFunc("POST "+PathLeave, func(w http.ResponseWriter, r *http.Request) {
		var req LeaveRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil || req.Client == "" {
			http.Error(w, "bad leave request", http.StatusBadRequest)
			return
		}
		n.mu.Lock()
		s := n.sessions[req.Client]
		delete(n.sessions, req.Client)
		n.mu.Unlock()
		if s != nil {
			_ = s.pc.Close()
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
func (n *Node) answer(ctx context.Context, req OfferRequest) (webrtc.SessionDescription, int, error) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return webrtc.SessionDescription{}, http.StatusServiceUnavailable, errors.New("node closing")
	}
	s := n.sessions[req.Client]
	n.mu.Unlock()
	if req.Resume && s == nil {
		return webrtc.SessionDescription{}, http.StatusNotFound, errors.New(ErrNoSession)
	}
	restart := s != nil && !req.Resume && s.pc.ConnectionState() != webrtc.PeerConnectionStateClosed
	if !restart {
		pc, err := n.newSession(req.Client)
		if err != nil {
			return webrtc.SessionDescription{}, http.StatusInternalServerError, err
		}
		s = &session{participant: req.Client, pc: pc}
		n.mu.Lock()
		if n.closed {
			// Close began while the session was made: it is not
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
		if err := n.bindSubscriptions(pc, req.Client); err != nil {
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

// newSession creates the node's peer connection for a participant,
// forwarding what arrives on it and observing it.
func (n *Node) newSession(participant string) (*webrtc.PeerConnection, error) {
	pc, err := n.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("node %s: peer connection for %s: %w", n.cfg.Name, participant, err)
	}
	pc.SCTP().Transport().ICETransport().OnSelectedCandidatePairChange(func(p *webrtc.ICECandidatePair) {
		n.cfg.Observer.SelectedPair(participant, p)
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		kind := tr.Kind().String()
		name := participant + "/" + kind
		pub := n.publications[name]
		if pub == nil {
			return // not a publication the node knows of
		}
		ssrc := uint32(tr.SSRC())
		pub.setSource(ssrc)
		stream := n.cfg.Meter.Flow(media.FlowKey{Owner: participant, Track: name, Kind: kind, Direction: media.AtNode}).Stream(ssrc)
		n.spawn(func() { receive(tr, stream, pub) })
		n.spawn(func() { media.DrainReceiverRTCP(recv) })
	})
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		if dc.Label() != DataLabel {
			return // a quiet client's channel: nothing flows on it
		}
		in := n.cfg.Meter.Flow(media.FlowKey{Owner: participant, Track: participant + "/data", Kind: media.Data, Direction: media.AtNode})
		echo := n.cfg.Meter.Flow(media.FlowKey{Owner: participant, Track: "node/data", Kind: media.Data, Direction: media.Received})
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			in.ReceivedMessage(len(m.Data))
			if dc.Send(m.Data) == nil { // echo, so data flows both ways
				echo.SentMessage()
			}
		})
	})
	return pc, nil
}

// receive counts the RTP arriving on a publisher's track and forwards it.
func receive(tr *webrtc.TrackRemote, stream *media.Stream, pub *publication) {
	var pkt rtp.Packet
	buf := make([]byte, 1500)
	ssrc := uint32(tr.SSRC())
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return
		}
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		stream.Received(&pkt.Header, n)
		pub.forward(ssrc, &pkt)
	}
}

// bindSubscriptions attaches a down track of each publication a
// participant subscribes to, in order, to the send-only transceivers its
// offer created.
func (n *Node) bindSubscriptions(pc *webrtc.PeerConnection, participant string) error {
	next := map[string][]string{} // by kind
	for _, s := range n.subscriptions(participant) {
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
		next[kind] = next[kind][1:]
		publisher := sub[:strings.IndexByte(sub, '/')]
		track := media.NewTrack(kind, kind, publisher)
		// AddTrack, not the API's NewRTPSender: only a sender made by the
		// peer connection runs its interceptors (sender reports, NACK
		// responses); one from api.NewRTPSender runs none. AddTrack takes
		// the first transceiver of the kind the client offered to receive
		// on, which is t, since they are filled in order.
		sender, err := pc.AddTrack(track)
		if err != nil {
			return fmt.Errorf("node %s: sender for %s: %w", n.cfg.Name, participant, err)
		}
		if t.Sender() != sender {
			return fmt.Errorf("node %s: sender for %s: %s landed on another transceiver than %s", n.cfg.Name, participant, sub, t.Mid())
		}
		// The subscriber's flow: counted as sent here, received there;
		// its round trip measured from the receiver reports it sends back.
		flow := n.cfg.Meter.Flow(media.FlowKey{Owner: participant, Track: sub, Kind: kind, Direction: media.Received})
		n.publications[sub].subscribe(participant, newDownTrack(track, flow, media.Codec(kind).ClockRate))
		n.spawn(func() { media.DrainRTCP(sender, flow) })
	}
	return nil
}

// spawn runs f on a goroutine Close waits for, unless Close has begun
// (then the peer connection f would read is closed, or about to be).
func (n *Node) spawn(f func()) {
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

// Close stops signalling and every session, gracefully, so that pion's
// goroutines have ended when it returns.
func (n *Node) Close() {
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

// Name returns the node's name.
func (n *Node) Name() string { return n.cfg.Name }

// External returns the address clients reach the node on.
func (n *Node) External() netip.Addr { return n.cfg.External }
