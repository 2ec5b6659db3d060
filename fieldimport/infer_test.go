package fieldimport

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/scenarios"
	"github.com/icelab/icelab/vnet"
	"github.com/pion/webrtc/v4"
)

// lanOf returns the scenario's LAN of that name.
func lanOf(t *testing.T, s *scenarios.Scenario, name string) harness.LANSpec {
	t.Helper()
	for _, l := range s.Spec.LANs {
		if l.Name == name {
			return l
		}
	}
	t.Fatalf("no LAN %q", name)
	return harness.LANSpec{}
}

// TestInferences proves what each Chromium-shaped fixture's evidence
// becomes, read back through the scenario loader: the devices, faults,
// client options and expectations.
func TestInferences(t *testing.T) {
	t.Run("TURN/TLS behind a firewall that lets only TCP 80 and 443 out", func(t *testing.T) {
		im, s := importFixture(t, "testdata/chrome-internals-tcp-443-only.json")
		net := lanOf(t, s, "alice-net")
		if !reflect.DeepEqual(net.Firewall, vnet.OnlyTCPOut(80, 443)) || !reflect.DeepEqual(net.NAT, vnet.PortRestricted()) {
			t.Errorf("alice-net: NAT %+v, firewall %+v; want port-restricted, only TCP 80 and 443 out", net.NAT, net.Firewall)
		}
		if im.Archetype != "corporate-443-only" {
			t.Errorf("archetype %q, want corporate-443-only", im.Archetype)
		}
		c := s.Spec.Clients[0]
		if !slices.Contains(c.NetworkTypes, webrtc.NetworkTypeTCP4) || !s.RealClock {
			t.Errorf("alice gathered ICE-TCP in the field: network types %v, real clock %v", c.NetworkTypes, s.RealClock)
		}
		if s.Spec.Node.Config.TURN.TLSPort != 443 || !s.Spec.Node.Config.TURN.TLSEnabled() {
			t.Errorf("the node's TURN/TLS: port %d, enabled %v; want 443", s.Spec.Node.Config.TURN.TLSPort, s.Spec.Node.Config.TURN.TLSEnabled())
		}
		if e := s.Expect["alice"]; !reflect.DeepEqual(e.Transports, []harness.Transport{harness.TURNTLS}) || e.FinalState != "connected" {
			t.Errorf("expectation %+v", e)
		}
		if im.Outcome.ConnectedAt != 13480*time.Millisecond {
			t.Errorf("connected at %v, want 13.48 s (the update log)", im.Outcome.ConnectedAt)
		}
	})
	t.Run("an older Chrome behind a symmetric NAT, lost mid-call", func(t *testing.T) {
		im, s := importFixture(t, "testdata/chrome-internals-old-symmetric-lost.json")
		if net := lanOf(t, s, "alice-net"); !reflect.DeepEqual(net.NAT, vnet.Symmetric()) {
			t.Errorf("alice-net NAT %+v, want symmetric: two STUN servers saw two ports of one socket", net.NAT)
		}
		o := im.Outcome
		if o.Stage != StageLost || o.ConnectedAt != 2*time.Second || o.LostAt != 23*time.Second || o.FinalState != "failed" {
			t.Errorf("outcome %+v; want lost, connected at 2 s, disconnected at 23 s, failed", o)
		}
		if len(s.Spec.Faults) != 1 {
			t.Fatalf("faults %+v, want the cut", s.Spec.Faults)
		}
		f := s.Spec.Faults[0]
		if f.Kind != harness.AddRules || f.Target != "alice-net" || f.When.Event != "connected" || f.When.Client != "alice" || f.When.After != 18*time.Second ||
			!reflect.DeepEqual(f.Rules, vnet.BlockUDP()) {
			t.Errorf("fault %+v; want block-udp on alice-net 18 s after alice connects (bytes stopped at 20 s)", f)
		}
		if e := s.Expect["alice"]; !reflect.DeepEqual(e.LocalCandidates, []string{"prflx", "host"}) || e.FinalState != "failed" {
			t.Errorf("expectation %+v", e)
		}
		if len(s.Spec.Servers) != 1 || s.Spec.Servers[0].Config.TURN.UDPPort != 19302 {
			t.Errorf("servers %+v, want the STUN server on 19302", s.Spec.Servers)
		}
	})
	t.Run("a phone on carrier-grade NAT, peer to peer", func(t *testing.T) {
		im, s := importFixture(t, "testdata/chrome-getstats-cgnat-p2p.json")
		if !im.PeerToPeer || len(s.Spec.Peers) != 2 {
			t.Fatalf("want a peer-to-peer call: the far end offered an mDNS host candidate")
		}
		net := lanOf(t, s, "alice-carrier")
		if !reflect.DeepEqual(net.NAT, vnet.CarrierGrade()) || net.LANPrefix.String() != "100.64.0.0/24" {
			t.Errorf("alice-carrier: NAT %+v on %s", net.NAT, net.LANPrefix)
		}
		e := s.Expect[harness.PeerResultName("alice", "bob")]
		if !reflect.DeepEqual(e.LocalCandidates, []string{"srflx", "host"}) || !reflect.DeepEqual(e.RemoteCandidates, []string{"srflx", "prflx"}) {
			t.Errorf("candidates %v ↔ %v", e.LocalCandidates, e.RemoteCandidates)
		}
	})
	t.Run("ICE connects, DTLS does not", func(t *testing.T) {
		im, s := importFixture(t, "testdata/chrome-getstats-series-dtls-filtered.json")
		if net := lanOf(t, s, "alice-net"); !reflect.DeepEqual(net.Firewall, vnet.DTLSFiltered()) {
			t.Errorf("firewall %+v, want dtls-filtered", net.Firewall)
		}
		e := s.Expect["alice"]
		if im.Outcome.Stage != StageDTLS || e.FinalState != "" || e.FailureContains != "DTLS" {
			t.Errorf("stage %s, expectation %+v: want DTLS, no final state (implementations' timers differ)", im.Outcome.Stage, e)
		}
	})
	t.Run("relay-only, read from the candidates", func(t *testing.T) {
		im, s := importFixture(t, "testdata/pion-relay-policy-turn-udp.json")
		if s.Spec.Clients[0].Policy != webrtc.ICETransportPolicyRelay || !im.Evidence.PolicyInferred {
			t.Errorf("policy %v (inferred %v), want relay from the candidates", s.Spec.Clients[0].Policy, im.Evidence.PolicyInferred)
		}
	})
	t.Run("UDP blocked, TURN over TCP", func(t *testing.T) {
		_, s := importFixture(t, "testdata/pion-udp-blocked-turn-tcp.json")
		if net := lanOf(t, s, "alice-net"); !reflect.DeepEqual(net.Firewall, vnet.BlockUDP()) {
			t.Errorf("firewall %+v, want block-udp", net.Firewall)
		}
		var urls []string
		for _, sv := range s.Spec.Clients[0].ICEServers {
			urls = append(urls, sv.URLs...)
		}
		if !slices.Contains(urls, "turn:turn.example.com:3478?transport=tcp") {
			t.Errorf("ice servers %v lack TURN over TCP", urls)
		}
	})
}

// TestCompareNamesWhatToRevisit proves a run that lands elsewhere than
// the field is not called a reproduction, says what differs, and names
// the inferences it depends on, assumptions first and no observation.
func TestCompareNamesWhatToRevisit(t *testing.T) {
	im, _ := importFixture(t, "testdata/chrome-internals-tcp-443-only.json")
	direct := &harness.ClientResult{Name: "alice", Connected: true, Transport: harness.ICEUDP,
		Selected:             &harness.Pair{Local: harness.Candidate{Type: "host"}, Remote: harness.Candidate{Type: "host"}},
		PeerConnectionStates: []harness.StateChange{{State: "connecting"}, {State: "connected"}}}
	v := im.Compare(direct)
	if v.Reproduced {
		t.Fatal("ICE/UDP called a reproduction of TURN/TLS")
	}
	if !slices.Contains(v.Differences, "transport: the field TURN/TLS, icelab ICE/UDP") || !slices.Contains(v.Differences, "local candidate: the field relay, icelab host") {
		t.Errorf("differences %q", v.Differences)
	}
	if len(v.Revisit) == 0 || v.Revisit[0].Certainty != Assumed {
		t.Fatalf("revisit %v, want assumptions first", v.Revisit)
	}
	firewall := false
	for _, in := range v.Revisit {
		if in.Certainty == Observed {
			t.Errorf("an observation to revisit: [%d] %s", in.N, in.What)
		}
		firewall = firewall || strings.Contains(in.What, "lets out only TCP")
	}
	if !firewall {
		t.Errorf("the firewall inference is not named: %v", v.Revisit)
	}
	same := *direct
	same.Transport = harness.TURNTLS
	same.Selected = &harness.Pair{Local: harness.Candidate{Type: "relay"}, Remote: harness.Candidate{Type: "host"}}
	if v := im.Compare(&same); !v.Reproduced {
		t.Errorf("TURN/TLS relay ↔ host not a reproduction: %s", v)
	}
}
