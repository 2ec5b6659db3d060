package sfu

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"github.com/icelab/icelab/harness/internal/pcclose"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/icelab/icelab/harness/gcc"
	"github.com/icelab/icelab/harness/media"
	"github.com/icelab/icelab/vnet"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// Participant is one participant of the call as the node knows it from the
// start: its name and what it publishes.
type Participant struct {
	Name         string
	Audio, Video bool
	Data         bool
	// Simulcast: its video arrives in layers (RIDs q, h and f).
	Simulcast bool
}

func (p Participant) kinds() []string { return media.Kinds(p.Audio, p.Video) }

// Observer is told what the node sees of each participant.
type Observer interface {
	// SelectedPair reports the node's end of a participant's selected
	// candidate pair.
	SelectedPair(participant string, p *webrtc.ICECandidatePair)
	// Ladder reports a decision of a participant's transport ladder.
	Ladder(participant string, e LadderEvent)
	// ICEConfig reports the ICE configuration a participant was sent.
	ICEConfig(participant string, c SentICEConfig)
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
	// ICEServers returns the ICE servers handed to a participant: all the
	// deployment offers, or TURN/TLS only (a ladder step to TURN/TLS).
	ICEServers func(participant string, tlsOnly bool) []webrtc.ICEServer
	// IsRelay reports whether an address (ip or ip:port) is one of the
	// deployment's relays: a peer-reflexive candidate there is TURN.
	IsRelay func(addr string) bool
	// Ladder configures LiveKit's transport ladder for clients of the
	// signal protocol (PathSignal).
	Ladder LadderConfig
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

	// building serialises making peer connections, so that built is the
	// estimator of the one being made.
	building sync.Mutex
	built    *gcc.Estimator

	mu           sync.Mutex
	participants map[string]*participant
	// cache is LiveKit's per-participant ICE configuration cache: a
	// preference outlives a rejoin for 5 minutes from when it was set.
	cache map[string]cachedPreference
	// all is every peer connection ever made: Close owns them all,
	// replaced ones included; conns the open signal connections.
	all    []*webrtc.PeerConnection
	conns  map[*websocket.Conn]bool
	closed bool
	srv    *http.Server
	wg     sync.WaitGroup
}

type cachedPreference struct {
	pref Preference
	at   time.Time
}

// New makes a node on cfg.Host.
func New(cfg Config) (*Node, error) {
	var se webrtc.SettingEngine
	se.SetNet(cfg.Host)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetICETimeouts(iceDisconnectedTimeout, iceFailedTimeout, iceKeepalive)
	// A peer that closes itself on its remote's DTLS close_notify runs into
	// pion's SCTP lock held across a timed wait (DESIGN.md), which stops
	// the clock of a synctest bubble; the node closes its sessions itself.
	se.DisableCloseByDTLS(true)
	// LiveKit's node accepts every packet however late: a publisher's
	// retransmission that arrives after the packets that followed it is
	// forwarded, not refused (pkg/rtc/transport.go:408-409).
	se.DisableSRTPReplayProtection(true)
	se.DisableSRTCPReplayProtection(true)
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
	var m webrtc.MediaEngine
	var ir interceptor.Registry
	n := &Node{}
	// With a simulcast publication in the room, the node estimates each
	// subscriber's downlink to choose its layers by (media.Interceptors).
	var estimated func(*gcc.Estimator)
	if slices.ContainsFunc(cfg.Participants, func(p Participant) bool { return p.Simulcast && p.Video }) {
		estimated = func(e *gcc.Estimator) { n.built = e }
	}
	if err := media.Interceptors(&m, &ir, cfg.Loggers, estimated); err != nil {
		return nil, fmt.Errorf("node %s: interceptors: %w", cfg.Name, err)
	}
	*n = Node{
		cfg:          cfg,
		api:          webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(&m), webrtc.WithInterceptorRegistry(&ir)),
		publications: map[string]*publication{},
		byName:       map[string]Participant{},
		participants: map[string]*participant{},
		cache:        map[string]cachedPreference{},
		conns:        map[*websocket.Conn]bool{},
	}
	for _, p := range cfg.Participants {
		n.byName[p.Name] = p
		for _, kind := range p.kinds() {
			name := p.Name + "/" + kind
			at := cfg.Meter.Flow(media.FlowKey{Owner: p.Name, Track: name, Kind: kind, Direction: media.AtNode})
			n.publications[name] = newPublication(name, p.Simulcast && kind == media.Video, at)
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
	mux.HandleFunc("GET "+PathSignal, n.signal)
	n.legacyHandlers(mux)
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

// bindSubscriptions attaches a down track of each publication a
// participant subscribes to, in order, to the send-only transceivers its
// offer created.
func (n *Node) bindSubscriptions(pc *webrtc.PeerConnection, p *participant) error {
	participant := p.name
	var tracks []allocated        // its simulcast subscriptions
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
		pub := n.publications[sub]
		down := newDownTrack(kind, publisher, pub.simulcast)
		track := &down.track
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
		down.flow = flow
		pub.subscribe(participant, down)
		if pub.simulcast {
			tracks = append(tracks, allocated{pub: pub, d: down})
		}
		n.spawn(func() { p.feedback(sender, flow, pub, down) })
	}
	p.startAllocator(tracks)
	return nil
}

// newPeerConnection makes a peer connection and returns it with the
// node's estimator of what it may send on it (nil: none).
func (n *Node) newPeerConnection() (*webrtc.PeerConnection, *gcc.Estimator, error) {
	n.building.Lock()
	defer n.building.Unlock()
	n.built = nil
	pc, err := n.api.NewPeerConnection(webrtc.Configuration{})
	return pc, n.built, err
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
	all, parts := n.all, n.participants
	n.participants = map[string]*participant{}
	conns := n.conns
	n.conns = map[*websocket.Conn]bool{}
	n.mu.Unlock()
	for _, p := range parts {
		p.mu.Lock()
		p.gone = true
		for _, t := range []*time.Timer{p.disconnect, p.firstTimer} {
			if t != nil {
				t.Stop()
			}
		}
		p.stopAllocator()
		p.mu.Unlock()
	}
	if n.srv != nil {
		_ = n.srv.Close()
	}
	for c := range conns {
		_ = c.CloseNow()
	}
	for _, pc := range all {
		_ = pcclose.Close(pc, true)
	}
	n.wg.Wait()
}

// participant returns the named participant, or nil.
func (n *Node) participant(name string) *participant {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.participants[name]
}

// admit makes p the participant of its name, closing one it replaces.
func (n *Node) admit(p *participant) {
	n.mu.Lock()
	old := n.participants[p.name]
	n.participants[p.name] = p
	n.mu.Unlock()
	if old != nil {
		old.close()
	}
}

// forget removes p, if it is still the participant of its name.
func (n *Node) forget(p *participant) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.participants[p.name] == p {
		delete(n.participants, p.name)
	}
}

// adopt makes the node own a peer connection; false once Close has begun.
func (n *Node) adopt(pc *webrtc.PeerConnection) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.all = append(n.all, pc)
	return true
}

// track and untrack keep the open signal connections, which the HTTP
// server no longer knows once upgraded; track is false once Close began.
func (n *Node) track(c *websocket.Conn) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.conns[c] = true
	return true
}

func (n *Node) untrack(c *websocket.Conn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.conns, c)
}

// cached returns a participant's cached preference: none when unset or
// older than 5 minutes (LiveKit's ICE config cache, pkg/utils/iceconfigcache.go).
func (n *Node) cached(name string) Preference {
	n.mu.Lock()
	defer n.mu.Unlock()
	c, ok := n.cache[name]
	if !ok || time.Since(c.at) >= iceConfigCacheTTL {
		return PreferNone
	}
	return c.pref
}

func (n *Node) cachePut(name string, p Preference) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cache[name] = cachedPreference{pref: p, at: time.Now()}
}

// ladderMoved writes a ladder move to the cache, as LiveKit's
// onICEConfigChanged does.
func (n *Node) ladderMoved(name string, d decision) {
	if d.Moved {
		n.cachePut(name, d.To)
	}
}

// Name returns the node's name.
func (n *Node) Name() string { return n.cfg.Name }

// External returns the address clients reach the node on.
func (n *Node) External() netip.Addr { return n.cfg.External }
