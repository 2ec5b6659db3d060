package fixturegen

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/icelab/icelab/relay"
	"github.com/icelab/icelab/relay/pki"
	"github.com/icelab/icelab/vnet"
	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

var generate = flag.Bool("generate", false, "rewrite fieldimport's pion fixtures in ../../testdata")

// The TURN server's name and users, as the fixtures' ICE servers give them.
const (
	turnDomain = "turn.fixtures.example"
	turnPass   = "fixture-secret"
)

var ca *pki.CA

// setup makes the CA the generators' relays use and has the process trust
// it (pion's TURN/TLS client verifies against the system roots); it
// returns the status to exit with when it fails.
func setup() (int, bool) {
	flag.Parse()
	if !*generate {
		return 0, true
	}
	var err error
	if ca, err = pki.NewCA("fixturegen CA"); err == nil {
		err = pki.TrustForProcess(ca)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2, false
	}
	return 0, true
}

// side is where an endpoint sits: behind a router with a NAT and a
// firewall, or on the internet (nat nil).
type side struct {
	lan      netip.Prefix
	nat      *vnet.NAT
	firewall []vnet.Rule
}

// fixture is one case: alice's network, the far end's, alice's ICE
// servers, and what happens during the call.
type fixture struct {
	name    string
	readme  string // one line for testdata/README.md
	alice   side
	far     side // the far end; nil nat: a media server on the internet
	farPeer bool // the far end is a peer with alice's servers, not a server
	urls    []string
	policy  webrtc.ICETransportPolicy
	// after connecting (or trying to) for this long, alice's stats are
	// written; cutAfter blocks UDP at alice's router that long after she
	// connects.
	run      time.Duration
	cutAfter time.Duration
	series   bool // write one report a second, not only the last
}

func ptr[T any](v T) *T { return &v }

var (
	home    = netip.MustParsePrefix("192.168.1.0/24")
	office  = netip.MustParsePrefix("172.31.0.0/16")
	carrier = netip.MustParsePrefix("100.64.0.0/24")
	stunURL = "stun:" + turnDomain + ":3478"
	turnUDP = "turn:" + turnDomain + ":3478?transport=udp"
	turnTCP = "turn:" + turnDomain + ":3478?transport=tcp"
	turnTLS = "turns:" + turnDomain + ":443?transport=tcp"
)

var fixtures = []fixture{
	{name: "pion-home-router-direct", readme: "alice behind a port-restricted home router calls a media server on a public address: ICE/UDP",
		alice: side{lan: home, nat: ptr(vnet.PortRestricted())}, urls: []string{stunURL, turnUDP}, run: 5 * time.Second},
	{name: "pion-cgnat-phone-direct", readme: "alice's phone on a carrier-grade NAT (100.64.0.0/10) calls a media server: ICE/UDP",
		alice: side{lan: carrier, nat: ptr(vnet.CarrierGrade())}, urls: []string{stunURL, turnUDP}, run: 5 * time.Second},
	{name: "pion-udp-blocked-turn-tcp", readme: "alice behind a firewall that drops UDP, with TURN over TCP offered: TURN/TCP",
		alice: side{lan: office, nat: ptr(vnet.PortRestricted()), firewall: vnet.BlockUDP()}, urls: []string{stunURL, turnUDP, turnTCP}, run: 8 * time.Second},
	{name: "pion-tcp-443-only-turn-tls", readme: "alice behind a firewall that lets only TCP 80 and 443 out, TURN/TLS on 443: TURN/TLS",
		alice: side{lan: office, nat: ptr(vnet.PortRestricted()), firewall: vnet.OnlyTCPOut(80, 443)}, urls: []string{stunURL, turnUDP, turnTCP, turnTLS}, run: 8 * time.Second},
	// pion drops its candidates once ICE has failed (30 s), so a report
	// taken after that shows nothing: this one is taken while it checks.
	{name: "pion-udp-blocked-no-tcp-fails", readme: "alice behind a firewall that drops UDP with only STUN and TURN/UDP: never connects (report taken at 20 s, while ICE still checks)",
		alice: side{lan: office, nat: ptr(vnet.PortRestricted()), firewall: vnet.BlockUDP()}, urls: []string{stunURL, turnUDP}, run: 20 * time.Second},
	{name: "pion-dtls-filtered", readme: "alice behind a firewall that drops DTLS and lets STUN through: ICE connects, DTLS never completes",
		alice: side{lan: home, nat: ptr(vnet.PortRestricted()), firewall: vnet.DTLSFiltered()}, urls: []string{stunURL, turnUDP}, run: 20 * time.Second},
	{name: "pion-relay-policy-turn-udp", readme: "alice with iceTransportPolicy relay behind a home router: TURN/UDP",
		alice: side{lan: home, nat: ptr(vnet.PortRestricted())}, urls: []string{stunURL, turnUDP}, policy: webrtc.ICETransportPolicyRelay, run: 6 * time.Second},
	{name: "pion-symmetric-p2p-turn", readme: "peer-to-peer: alice and bob each behind a symmetric NAT, with STUN and TURN/UDP: relayed",
		alice: side{lan: office, nat: ptr(vnet.Symmetric())}, far: side{lan: home, nat: ptr(vnet.Symmetric())}, farPeer: true,
		urls: []string{stunURL, turnUDP}, run: 6 * time.Second},
	{name: "pion-udp-cut-mid-call", readme: "alice behind a home router connects over ICE/UDP; 8 s later her router drops UDP; a report a second until it fails",
		alice: side{lan: home, nat: ptr(vnet.PortRestricted())}, urls: []string{stunURL, turnUDP}, cutAfter: 8 * time.Second, run: 42 * time.Second, series: true},
}

// TestGeneratePionFixtures writes each fixture's stats to ../../testdata.
func TestGeneratePionFixtures(t *testing.T) {
	if !*generate {
		t.Skip("a generator: run with -args -generate to rewrite the fixtures")
	}
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			var data []byte
			synctest.Test(t, func(t *testing.T) { data = f.make(t) })
			path := filepath.Join("..", "..", "testdata", f.name+".json")
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s (%d bytes)", path, len(data))
		})
	}
}

// make runs the case and returns alice's stats as JSON.
func (f fixture) make(t *testing.T) []byte {
	n, err := vnet.New(vnet.Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	startRelay(t, n)
	aliceRouter, alice := place(t, n, "alice", f.alice)
	_, farHost := place(t, n, "far", f.far)
	cfg := webrtc.Configuration{ICETransportPolicy: f.policy}
	for _, u := range f.urls {
		s := webrtc.ICEServer{URLs: []string{u}}
		if !strings.HasPrefix(u, "stun:") {
			s.Username, s.Credential = "alice", turnPass
		}
		cfg.ICEServers = append(cfg.ICEServers, s)
	}
	farCfg := webrtc.Configuration{}
	if f.farPeer {
		farCfg = cfg
	}
	a := newPeer(t, alice, cfg)
	b := newPeer(t, farHost, farCfg)
	var (
		mu      sync.Mutex
		reports []webrtc.StatsReport
	)
	snap := func() {
		mu.Lock()
		defer mu.Unlock()
		reports = append(reports, a.pc.GetStats())
	}
	snap()
	stopTicks := make(chan struct{})
	ticked := make(chan struct{})
	go func() {
		defer close(ticked)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				snap()
			case <-stopTicks:
				return
			}
		}
	}()
	negotiate(t, a, b)
	start := time.Now()
	select {
	case <-a.connected:
		if f.cutAfter > 0 {
			time.Sleep(f.cutAfter)
			if _, err := aliceRouter.Firewall().Add(vnet.BlockUDP()...); err != nil {
				t.Fatal(err)
			}
		}
	case <-time.After(f.run):
	}
	time.Sleep(f.run - time.Since(start))
	close(stopTicks)
	<-ticked
	snap()
	var out any = reports[len(reports)-1]
	if f.series {
		out = reports
	}
	data, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return append(data, '\n')
}

// place puts an endpoint's host on its side of the network.
func place(t *testing.T, n *vnet.Network, name string, s side) (*vnet.Router, *vnet.Host) {
	t.Helper()
	r := n.Internet()
	if s.nat != nil {
		var err error
		r, err = n.Internet().AddRouter(vnet.RouterConfig{Name: name + "-net", LAN: s.lan, NAT: *s.nat})
		if err != nil {
			t.Fatal(err)
		}
		if len(s.firewall) > 0 {
			if _, err := r.Firewall().Add(s.firewall...); err != nil {
				t.Fatal(err)
			}
		}
	}
	h, err := r.AddHost(vnet.HostConfig{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return r, h
}

// startRelay runs icelab's relay (pion/turn) on the internet: STUN and
// TURN over UDP and TCP on 3478, TURN/TLS on 443.
func startRelay(t *testing.T, n *vnet.Network) {
	t.Helper()
	h, err := n.Internet().AddHost(vnet.HostConfig{Name: "turn"})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.AddName(turnDomain, h.Addr()); err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Valid(turnDomain)
	if err != nil {
		t.Fatal(err)
	}
	cfg := relay.DefaultConfig()
	cfg.TURN.Domain, cfg.TURN.UDPPort, cfg.TURN.TLSPort = turnDomain, 3478, 443
	cfg.TURN.Users = map[string]string{"alice": turnPass, "far": turnPass}
	cfg.TURN.Certificate = &leaf.Certificate
	srv, err := relay.New(cfg, relay.WithName("turn"), relay.WithLoggerFactory(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
}

func quiet() logging.LoggerFactory {
	f := logging.NewDefaultLoggerFactory()
	f.DefaultLogLevel = logging.LogLevelDisabled
	return f
}

// peer is a pion peer connection and the moment it connected.
type peer struct {
	pc        *webrtc.PeerConnection
	connected chan struct{}
}

func newPeer(t *testing.T, h *vnet.Host, cfg webrtc.Configuration) *peer {
	t.Helper()
	var se webrtc.SettingEngine
	se.SetNet(h)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.DisableCloseByDTLS(true) // see DESIGN.md: SCTP close in a bubble
	se.LoggerFactory = quiet()
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	p := &peer{pc: pc, connected: make(chan struct{})}
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(p.connected) })
		}
	})
	return p
}

// negotiate opens a data channel from a that sends a message every 100
// ms, echoed by b, and exchanges offer and answer after full gathering.
func negotiate(t *testing.T, a, b *peer) {
	t.Helper()
	dc, err := a.pc.CreateDataChannel("data", nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var sending sync.WaitGroup
	t.Cleanup(func() {
		close(done)
		sending.Wait()
	})
	dc.OnOpen(func() {
		sending.Go(func() {
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-tick.C:
				}
				if dc.ReadyState() != webrtc.DataChannelStateOpen || dc.SendText(strings.Repeat("x", 200)) != nil {
					return
				}
			}
		})
	})
	b.pc.OnDataChannel(func(d *webrtc.DataChannel) {
		d.OnMessage(func(m webrtc.DataChannelMessage) { _ = d.Send(m.Data) })
	})
	offer, err := a.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(a.pc)
	if err := a.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := b.pc.SetRemoteDescription(*a.pc.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, err := b.pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered = webrtc.GatheringCompletePromise(b.pc)
	if err := b.pc.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := a.pc.SetRemoteDescription(*b.pc.LocalDescription()); err != nil {
		t.Fatal(err)
	}
}
