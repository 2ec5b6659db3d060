package call

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/icelab/icelab/relay"
	"github.com/pion/logging"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"
)

// trust makes pem the process's only trusted roots (Go reads SSL_CERT_FILE
// once, on first use); the returned function removes the file.
func trust(pem []byte) (func(), error) {
	if len(pem) == 0 {
		return func() {}, nil
	}
	dir, err := os.MkdirTemp("", "netlab-trust")
	if err != nil {
		return nil, fmt.Errorf("trust: %w", err)
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	path := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(path, pem, 0o600); err != nil {
		cleanup()
		return nil, fmt.Errorf("trust: %w", err)
	}
	if err := os.Setenv("SSL_CERT_FILE", path); err != nil {
		cleanup()
		return nil, fmt.Errorf("trust: %w", err)
	}
	if err := os.Setenv("SSL_CERT_DIR", dir); err != nil {
		cleanup()
		return nil, fmt.Errorf("trust: %w", err)
	}
	return cleanup, nil
}

func quiet() logging.LoggerFactory {
	f := logging.NewDefaultLoggerFactory()
	f.DefaultLogLevel = logging.LogLevelDisabled
	return f
}

// runPeer is the Peer role.
func runPeer(cfg Config, in <-chan Message, out *writer) error {
	untrust, err := trust(cfg.TrustPEM)
	if err != nil {
		return fmt.Errorf("peer %s: %w", cfg.Name, err)
	}
	defer untrust()
	var se webrtc.SettingEngine
	se.LoggerFactory = quiet()
	types := []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	if cfg.ICETCP {
		types = append(types, webrtc.NetworkTypeTCP4)
		if cfg.ICETCPPort != 0 {
			l, err := net.ListenTCP("tcp4", &net.TCPAddr{Port: cfg.ICETCPPort})
			if err != nil {
				return fmt.Errorf("peer %s: ICE-TCP listener: %w", cfg.Name, err)
			}
			defer l.Close()
			se.SetICETCPMux(webrtc.NewICETCPMux(nil, l, 8))
		}
	}
	se.SetNetworkTypes(types)
	servers := make([]webrtc.ICEServer, 0, len(cfg.ICEServers))
	for _, s := range cfg.ICEServers {
		servers = append(servers, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{ICEServers: servers})
	if err != nil {
		return fmt.Errorf("peer %s: %w", cfg.Name, err)
	}
	defer pc.Close()
	start := time.Now()
	states := make(chan webrtc.PeerConnectionState, 16)
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) { states <- s })
	// Candidates gathered before the description has gone out wait for
	// it: the far end cannot add a candidate before its remote
	// description.
	var (
		candMu  sync.Mutex
		sdpSent bool
		early   []Message
	)
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		raw, _ := json.Marshal(c.ToJSON())
		m := Message{Kind: "candidate", Candidate: raw}
		candMu.Lock()
		defer candMu.Unlock()
		if !sdpSent {
			early = append(early, m)
			return
		}
		out.send(m)
	})
	sendSDP := func(d *webrtc.SessionDescription) error {
		if err := pc.SetLocalDescription(*d); err != nil {
			return fmt.Errorf("peer %s: set local %s: %w", cfg.Name, d.Type, err)
		}
		candMu.Lock()
		defer candMu.Unlock()
		raw, _ := json.Marshal(d)
		out.send(Message{Kind: "sdp", SDP: raw})
		sdpSent = true
		for _, m := range early {
			out.send(m)
		}
		early = nil
		return nil
	}
	if cfg.Offer {
		if _, err := pc.CreateDataChannel("probe", nil); err != nil {
			return fmt.Errorf("peer %s: data channel: %w", cfg.Name, err)
		}
		offer, err := pc.CreateOffer(nil)
		if err != nil {
			return fmt.Errorf("peer %s: offer: %w", cfg.Name, err)
		}
		if err := sendSDP(&offer); err != nil {
			return err
		}
	}
	deadline := time.NewTimer(cfg.Deadline)
	defer deadline.Stop()
	reported := false
	report := func(connected bool) {
		if reported {
			return
		}
		reported = true
		res := result(pc, connected, time.Since(start))
		out.send(Message{Kind: "result", Result: &res})
	}
	for {
		select {
		case m, ok := <-in:
			if !ok {
				report(false)
				return nil
			}
			switch m.Kind {
			case "sdp":
				var d webrtc.SessionDescription
				if err := json.Unmarshal(m.SDP, &d); err != nil {
					return fmt.Errorf("peer %s: remote description: %w", cfg.Name, err)
				}
				if err := pc.SetRemoteDescription(d); err != nil {
					return fmt.Errorf("peer %s: set remote %s: %w", cfg.Name, d.Type, err)
				}
				if d.Type == webrtc.SDPTypeOffer {
					answer, err := pc.CreateAnswer(nil)
					if err != nil {
						return fmt.Errorf("peer %s: answer: %w", cfg.Name, err)
					}
					if err := sendSDP(&answer); err != nil {
						return err
					}
				}
			case "candidate":
				var c webrtc.ICECandidateInit
				if err := json.Unmarshal(m.Candidate, &c); err != nil {
					return fmt.Errorf("peer %s: remote candidate: %w", cfg.Name, err)
				}
				if err := pc.AddICECandidate(c); err != nil {
					return fmt.Errorf("peer %s: add candidate %q: %w", cfg.Name, c.Candidate, err)
				}
			}
		case s := <-states:
			switch s {
			case webrtc.PeerConnectionStateConnected:
				report(true)
			case webrtc.PeerConnectionStateFailed:
				report(false)
			}
		case <-deadline.C:
			report(false)
		}
	}
}

// result reads the selected pair and the stats of pc.
func result(pc *webrtc.PeerConnection, connected bool, after time.Duration) Result {
	res := Result{Connected: connected, State: pc.ConnectionState().String(), ReportedAfter: after.Seconds()}
	if connected {
		res.ConnectedAfter = after.Seconds()
	}
	stats := pc.GetStats()
	res.Stats, _ = json.Marshal(stats)
	if !connected {
		return res
	}
	sctp := pc.SCTP()
	if sctp == nil {
		return res
	}
	pair, err := sctp.Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		return res
	}
	cand := func(c *webrtc.ICECandidate) Candidate {
		out := Candidate{Type: c.Typ.String(), Protocol: c.Protocol.String(),
			Address: net.JoinHostPort(c.Address, strconv.Itoa(int(c.Port)))}
		for _, s := range stats {
			if cs, ok := s.(webrtc.ICECandidateStats); ok && cs.IP == c.Address && int(cs.Port) == int(c.Port) && cs.RelayProtocol != "" {
				out.RelayProtocol = cs.RelayProtocol
			}
		}
		return out
	}
	res.Local, res.Remote = cand(pair.Local), cand(pair.Remote)
	return res
}

// runRelay is the Relay role: icelab's relay on real sockets.
func runRelay(cfg Config, in <-chan Message, out *writer) error {
	addr, err := netip.ParseAddr(cfg.Addr)
	if err != nil {
		return fmt.Errorf("relay %s: address: %w", cfg.Name, err)
	}
	rc := relay.DefaultConfig()
	rc.TURN.Domain, rc.TURN.UDPPort, rc.TURN.TLSPort = "turn.lab.example", cfg.UDPPort, cfg.TLSPort
	rc.TURN.Users = cfg.Users
	if cfg.RelayPorts[0] != 0 {
		rc.TURN.RelayRangeStart, rc.TURN.RelayRangeEnd = cfg.RelayPorts[0], cfg.RelayPorts[1]
	}
	if len(cfg.CertPEM) > 0 {
		cert, err := tls.X509KeyPair(cfg.CertPEM, cfg.KeyPEM)
		if err != nil {
			return fmt.Errorf("relay %s: certificate: %w", cfg.Name, err)
		}
		rc.TURN.Certificate = &cert
	} else {
		rc.TURN.TLSPort = 0
	}
	n, err := stdnet.NewNet()
	if err != nil {
		return fmt.Errorf("relay %s: network: %w", cfg.Name, err)
	}
	s, err := relay.New(rc, relay.WithBindIP(addr), relay.WithName(cfg.Name), relay.WithLoggerFactory(quiet()))
	if err != nil {
		return fmt.Errorf("relay %s: %w", cfg.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Start(ctx, n); err != nil {
		return fmt.Errorf("relay %s: start: %w", cfg.Name, err)
	}
	out.send(Message{Kind: "ready"})
	for range in { //nolint:revive // run until the parent closes our input
	}
	return errors.Join(s.Close())
}
