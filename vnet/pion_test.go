package vnet

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/transport/v5"
	"github.com/pion/turn/v5"
	"github.com/pion/webrtc/v4"
)

// peer is a pion peer connection on a virtual host with a data channel.
type peer struct {
	pc        *webrtc.PeerConnection
	connected chan struct{}
	failed    chan struct{}
	states    chan webrtc.ICEConnectionState

	mu       sync.Mutex
	timeline map[webrtc.ICEConnectionState]time.Time // first time each state was entered
}

// enteredAt returns when the peer first entered state s.
func (p *peer) enteredAt(s webrtc.ICEConnectionState) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	at, ok := p.timeline[s]
	return at, ok
}

// newPeer is a pion peer on h gathering UDP candidates; settings adjust
// its setting engine further.
func newPeer(t testing.TB, h transport.Net, cfg webrtc.Configuration, settings ...func(*webrtc.SettingEngine)) *peer {
	t.Helper()
	var se webrtc.SettingEngine
	se.SetNet(h)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	for _, set := range settings {
		set(&se)
	}
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	p := &peer{pc: pc, connected: make(chan struct{}), failed: make(chan struct{}), states: make(chan webrtc.ICEConnectionState, 16),
		timeline: map[webrtc.ICEConnectionState]time.Time{}}
	var connectedOnce, failedOnce bool
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		p.mu.Lock()
		if _, ok := p.timeline[s]; !ok {
			p.timeline[s] = time.Now()
		}
		p.mu.Unlock()
		select {
		case p.states <- s:
		default:
		}
		switch s {
		case webrtc.ICEConnectionStateConnected:
			if !connectedOnce {
				connectedOnce = true
				close(p.connected)
			}
		case webrtc.ICEConnectionStateFailed:
			if !failedOnce {
				failedOnce = true
				close(p.failed)
			}
		}
	})
	return p
}

// connect negotiates between offerer and answerer and waits until both
// are connected, within a bound on the bubble's clock.
func connect(t testing.TB, offerer, answerer *peer) {
	t.Helper()
	negotiate(t, offerer, answerer)
	for _, p := range []*peer{offerer, answerer} {
		select {
		case <-p.connected:
		case <-p.failed:
			t.Fatal("ICE failed")
		case <-time.After(time.Minute):
			t.Fatal("ICE did not connect within a minute")
		}
	}
}

// negotiate opens a data channel on offerer and exchanges offer and
// answer with full gathering.
func negotiate(t testing.TB, offerer, answerer *peer) {
	t.Helper()
	if _, err := offerer.pc.CreateDataChannel("data", nil); err != nil {
		t.Fatal(err)
	}
	offer, err := offerer.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(offerer.pc)
	if err := offerer.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := answerer.pc.SetRemoteDescription(*offerer.pc.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, err := answerer.pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered = webrtc.GatheringCompletePromise(answerer.pc)
	if err := answerer.pc.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := offerer.pc.SetRemoteDescription(*answerer.pc.LocalDescription()); err != nil {
		t.Fatal(err)
	}
}

// selectedTypes returns the local and remote candidate types of a peer's
// selected pair.
func selectedTypes(t testing.TB, p *peer) (local, remote webrtc.ICECandidateType) {
	t.Helper()
	pair, err := p.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		t.Fatalf("no selected pair: %v", err)
	}
	return pair.Local.Typ, pair.Remote.Typ
}

// startTURN runs a pion TURN server on h at port 3478 over UDP with user
// "user", password "pass".
func startTURN(t testing.TB, h *Host) string {
	t.Helper()
	pc, err := h.ListenPacket("udp4", fmt.Sprintf("%s:3478", h.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	serveTURN(t, h, turn.ServerConfig{PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: pc, RelayAddressGenerator: relayOn(h)}}})
	return fmt.Sprintf("%s:3478", h.Addr())
}

// relayOn allocates relay addresses on h's address.
func relayOn(h *Host) turn.RelayAddressGenerator {
	return &turn.RelayAddressGeneratorStatic{RelayAddress: net.IP(h.Addr().AsSlice()), Address: h.Addr().String(), Net: h}
}

// serveTURN runs a pion TURN server with cfg's listeners, realm "icelab"
// and user "user" with password "pass", until the test ends.
func serveTURN(t testing.TB, h *Host, cfg turn.ServerConfig) {
	t.Helper()
	key := turn.GenerateAuthKey("user", "icelab", "pass")
	cfg.Realm = "icelab"
	cfg.AuthHandler = func(ra *turn.RequestAttributes) (string, []byte, bool) {
		return ra.Username, key, ra.Username == "user"
	}
	srv, err := turn.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
}

func TestPionPeersThroughNATs(t *testing.T) {
	host, srflx, prflx, relay := webrtc.ICECandidateTypeHost, webrtc.ICECandidateTypeSrflx, webrtc.ICECandidateTypePrflx, webrtc.ICECandidateTypeRelay
	tests := []struct {
		name         string
		left, right  *NAT // nil: a public host
		turn         bool
		wantL, wantR [2]webrtc.ICECandidateType // local, remote as each end sees them
	}{
		// pion gathers its srflx candidate on a socket of its own, so the
		// host candidate's socket reaches a public peer through a NAT
		// mapping that the peer learns as peer-reflexive.
		{name: "full cone to public", left: ptr(FullCone()), wantL: [2]webrtc.ICECandidateType{host, host}, wantR: [2]webrtc.ICECandidateType{host, prflx}},
		{name: "symmetric to public", left: ptr(Symmetric()), wantL: [2]webrtc.ICECandidateType{host, host}, wantR: [2]webrtc.ICECandidateType{host, prflx}},
		{name: "port restricted to port restricted", left: ptr(PortRestricted()), right: ptr(PortRestricted()), wantL: [2]webrtc.ICECandidateType{srflx, srflx}, wantR: [2]webrtc.ICECandidateType{srflx, srflx}},
		// TURN permissions are per IP address (RFC 8656 9), so the left's
		// fresh symmetric mapping towards the right's relay address passes.
		{name: "symmetric to symmetric via TURN", left: ptr(Symmetric()), right: ptr(Symmetric()), turn: true, wantL: [2]webrtc.ICECandidateType{host, relay}, wantR: [2]webrtc.ICECandidateType{relay, prflx}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newTestNetwork(t)
				server := mustHost(t, n.Internet(), "stun")
				addr := startTURN(t, server)
				cfg := webrtc.Configuration{ICEServers: []webrtc.ICEServer{{URLs: []string{"stun:" + addr}}}}
				if tt.turn {
					cfg.ICEServers = append(cfg.ICEServers, webrtc.ICEServer{URLs: []string{"turn:" + addr}, Username: "user", Credential: "pass"})
				}
				side := func(name string, nat *NAT) *Host {
					if nat == nil {
						return mustHost(t, n.Internet(), name)
					}
					return mustHost(t, mustRouter(t, n.Internet(), name+"-lan", *nat), name)
				}
				l, r := newPeer(t, side("left", tt.left), cfg), newPeer(t, side("right", tt.right), cfg)
				connect(t, l, r)
				if lt, rt := selectedTypes(t, l); lt != tt.wantL[0] || rt != tt.wantL[1] {
					t.Errorf("left selected %s→%s, want %s→%s", lt, rt, tt.wantL[0], tt.wantL[1])
				}
				if lt, rt := selectedTypes(t, r); lt != tt.wantR[0] || rt != tt.wantR[1] {
					t.Errorf("right selected %s→%s, want %s→%s", lt, rt, tt.wantR[0], tt.wantR[1])
				}
			})
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestUDPWhackAfterICEConnected blocks UDP at the moment ICE connects and
// checks that pion's default timers take the connection to disconnected
// and then failed: the "connects, then drops" report, in a fake-clock
// bubble.
func TestUDPWhackAfterICEConnected(t *testing.T) {
	wall := time.Now()
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		office := mustRouter(t, n.Internet(), "office", PortRestricted())
		client := newPeer(t, mustHost(t, office, "client"), webrtc.Configuration{})
		sfu := newPeer(t, mustHost(t, n.Internet(), "sfu"), webrtc.Configuration{})
		connect(t, client, sfu)
		whacked := time.Now()
		if _, err := office.Firewall().Add(BlockUDP()...); err != nil {
			t.Fatal(err)
		}
		select {
		case <-client.failed:
		case <-time.After(2 * time.Minute):
			t.Fatal("ICE did not fail within two minutes of the whack")
		}
		disconnected, ok := client.enteredAt(webrtc.ICEConnectionStateDisconnected)
		if !ok {
			t.Fatal("ICE failed without going through disconnected")
		}
		failed, _ := client.enteredAt(webrtc.ICEConnectionStateFailed)
		// pion (ice agent.go validateSelectedPair): disconnected once more
		// than 5 s have passed since the last packet arrived, failed once
		// more than 5+25 s have; once connected it checks on the 2 s
		// keepalive tick, and the last packet arrived up to 2 s before the
		// whack.
		if d := disconnected.Sub(whacked); d < 3*time.Second || d > 7*time.Second+200*time.Millisecond {
			t.Errorf("disconnected %v after the whack, want 3–7.2 s", d)
		}
		if d := failed.Sub(whacked); d < 28*time.Second || d > 32*time.Second+200*time.Millisecond {
			t.Errorf("failed %v after the whack, want 28–32.2 s", d)
		}
		t.Logf("disconnected after %v, failed after %v (bubble clock)", disconnected.Sub(whacked), failed.Sub(whacked))
	})
	t.Logf("wall time %v", time.Since(wall))
}
