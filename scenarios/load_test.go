package scenarios_test

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/scenarios"
	"github.com/icelab/icelab/vnet"
	"github.com/pion/webrtc/v4"
)

// TestCatalogLoads proves every catalog file is valid, quotes its field
// report and says what it expects.
func TestCatalogLoads(t *testing.T) {
	list, err := (&scenarios.Loader{CA: testCA}).LoadDir(catalogDir)
	if err != nil {
		t.Fatalf("catalog: %v", err)
	}
	if len(list) < 20 {
		t.Errorf("catalog has %d scenarios, want one per seed symptom (at least 20)", len(list))
	}
	for _, s := range list {
		if s.Report == "" || s.Source == "" {
			t.Errorf("%s: report and source must quote the seed", s.File)
		}
		if len(s.Expect) == 0 {
			t.Errorf("%s: no expectations", s.File)
		}
		// Real-clock files cost their duration in make run; fake-clock
		// ones cost little, but an hour is the longest a run takes.
		limit := time.Hour
		if s.RealClock {
			limit = 50 * time.Second
		}
		if d := s.Spec.Duration; d == 0 || d > limit {
			t.Errorf("%s: duration %v; keep runs at most %v", s.File, d, limit)
		}
		if len(s.Warnings) > 0 {
			t.Errorf("%s: warnings %q", s.File, s.Warnings)
		}
	}
}

const office = `name: office
report: "Clients behind corporate firewall: only port 443 allowed"
network:
  lans:
    - name: isp
      nat: symmetric
    - name: corp
      parent: isp
      nat:
        preset: port-restricted
        hairpinning: false
        mapping_lifetime: 30s
      firewall:
        - only-tcp-out: [443]
        - udp-whack: {after: 10s}
        - {direction: inbound, proto: udp, ports: "50000-60000", class: [dtls, rtp], state: new, after_packets: 3, action: reject}
      link: {latency: 20ms, jitter: 5ms, loss: 2%, bandwidth: 2Mbps}
  dns:
    turn.example.com: none
    stun.example.com: 203.0.113.77
node:
  config:
    turn:
      domain: turn.example.com
      tls_port: 443
  tls: {cert: generated}
clients:
  - name: alice
    lan: corp
    policy: relay
    network_types: [udp4, tcp4]
    publish: {audio: true, data: true}
    fallback: {policy: transport, deadline: 8s, other_node: true}
  - name: bob
    ice_servers:
      - urls: ["turns:turn.example.com:443?transport=tcp"]
        username: u
        credential: p
faults:
  - name: whack
    when: {event: ice-connected, client: alice, after: 2s}
    kind: add-rules
    target: corp
    rules: [block-udp]
  - when: {after: 20s}
    kind: impair
    target: bob
    impairment: {loss: 0.5}
duration: 30s
seed: 7
expect:
  alice:
    transport: [TURN/TLS, TURN/TCP]
    connected: true
    candidates: {local: relay, remote: host}
    media: {both_ways: true}
    recovered: true
    recover_within: 15s
  bob:
    failure_contains: port 443
    final_state: connecting
`

// TestParseBuildsTheSpec proves a file's fields land where the harness
// reads them.
func TestParseBuildsTheSpec(t *testing.T) {
	s, err := (&scenarios.Loader{CA: testCA}).Parse("office.yaml", []byte(office))
	if err != nil {
		t.Fatal(err)
	}
	sp := s.Spec
	if sp.Name != "office" || sp.Duration != 30*time.Second || sp.Seed != 7 {
		t.Errorf("name/duration/seed = %q %v %d", sp.Name, sp.Duration, sp.Seed)
	}
	if len(sp.LANs) != 2 || sp.LANs[0].Name != "isp" || sp.LANs[1].Parent != "isp" {
		t.Fatalf("LANs = %+v; want isp then corp under it", sp.LANs)
	}
	corp := sp.LANs[1]
	want := vnet.PortRestricted()
	want.Hairpinning, want.MappingLifetime = false, 30*time.Second
	if corp.NAT.Mode != want.Mode || corp.NAT.Filtering != want.Filtering || corp.NAT.Hairpinning || corp.NAT.MappingLifetime != want.MappingLifetime {
		t.Errorf("corp NAT = %+v, want %+v", corp.NAT, want)
	}
	if sp.LANs[0].NAT.Mapping != vnet.AddressPortDependent {
		t.Errorf("isp NAT = %+v, want symmetric", sp.LANs[0].NAT)
	}
	// only-tcp-out [443] is 3 rules, udp-whack 1, the explicit rule 1.
	if n := len(corp.Firewall); n != 5 {
		t.Fatalf("corp firewall has %d rules: %+v", n, corp.Firewall)
	}
	r := corp.Firewall[4]
	if r.Direction != vnet.Inbound || r.Proto != vnet.UDP || r.RemotePorts != (vnet.PortRange{Min: 50000, Max: 60000}) ||
		len(r.Classes) != 2 || r.State != vnet.StateNew || r.AfterPackets != 3 || r.Action != vnet.Reject {
		t.Errorf("explicit rule = %+v", r)
	}
	if corp.Firewall[3].After != 10*time.Second {
		t.Errorf("udp-whack = %+v", corp.Firewall[3])
	}
	if up := corp.Uplink; up.Latency != 20*time.Millisecond || up.Jitter != 5*time.Millisecond || up.Loss != 0.02 || up.Bandwidth != 2_000_000 {
		t.Errorf("link = %+v", up)
	}
	if sp.Names["turn.example.com"] != scenarios.Unresolvable || sp.Names["stun.example.com"] != "203.0.113.77" {
		t.Errorf("names = %v", sp.Names)
	}
	cfg := sp.Node.Config
	if cfg.TURN.Domain != "turn.example.com" || cfg.TURN.TLSPort != 443 || cfg.TURN.Certificate == nil {
		t.Errorf("node config: domain %q tls_port %d cert %v", cfg.TURN.Domain, cfg.TURN.TLSPort, cfg.TURN.Certificate != nil)
	}
	if !sp.Node.SecondNode {
		t.Error("fallback.other_node must add the second node")
	}
	alice := sp.Clients[0]
	if alice.LAN != "corp" || alice.Policy != webrtc.ICETransportPolicyRelay || len(alice.NetworkTypes) != 2 ||
		!alice.Publish.Audio || alice.Publish.Video || !alice.Publish.Data ||
		alice.Fallback != (harness.Fallback{Policy: harness.TransportFallback, Deadline: 8 * time.Second, OtherNode: true}) {
		t.Errorf("alice = %+v", alice)
	}
	if bob := sp.Clients[1]; len(bob.ICEServers) != 1 || bob.ICEServers[0].Username != "u" || bob.Fallback.Policy != harness.LiveKit {
		t.Errorf("bob = %+v: a client without fallback: behaves as LiveKit's SDK", bob)
	}
	if len(sp.Faults) != 2 || sp.Faults[0].When != (harness.Trigger{After: 2 * time.Second, Event: "ice-connected", Client: "alice"}) ||
		sp.Faults[0].Kind != harness.AddRules || len(sp.Faults[0].Rules) != 1 || sp.Faults[1].Impairment.Loss != 0.5 {
		t.Errorf("faults = %+v", sp.Faults)
	}
	if !s.RealClock {
		t.Error("alice gathers tcp4: the scenario needs the real clock")
	}
	e := s.Expect["alice"]
	if len(e.Transports) != 2 || *e.Connected != true || !slices.Equal(e.LocalCandidates, []string{"relay"}) || e.RecoverWithin != 15*time.Second {
		t.Errorf("alice expectation = %+v", e)
	}
}

// TestErrorsNameFileLineAndField proves every problem a person can make in
// a file is reported at its line and field, typos included.
func TestErrorsNameFileLineAndField(t *testing.T) {
	minimal := "name: x\nclients:\n  - name: alice\n"
	tests := []struct {
		name, doc, want string
	}{
		{"unknown policy", "name: x\nclients:\n  - name: alice\n    fallback:\n      policy: tcp\n",
			`office.yaml:5: clients[0].fallback.policy: unknown policy "tcp"; want livekit, none, ice-restart, transport, renomination, force-relay`},
		{"typo at top level", minimal + "duraton: 10s\n", `office.yaml:4: duraton: unknown field "duraton"; want`},
		{"typo in a client", "name: x\nclients:\n  - name: alice\n    pubish: [audio]\n", `office.yaml:4: clients[0].pubish: unknown field "pubish"`},
		{"client on an undefined LAN", "name: x\nclients:\n  - name: alice\n    lan: office\n", `office.yaml:4: clients[0].lan: unknown LAN "office"`},
		{"parent cycle", "name: x\nnetwork:\n  lans:\n    - {name: a, parent: b}\n    - {name: b, parent: a}\n" + minimal[8:], `network.lans[0].parent: parent cycle: a -> b -> a`},
		{"unknown parent", "name: x\nnetwork:\n  lans:\n    - {name: a, parent: nowhere}\n" + minimal[8:], `office.yaml:4: network.lans[0].parent: unknown LAN "nowhere"`},
		{"fault targeting nothing", minimal + "faults:\n  - {kind: cut, target: ghost}\n", `office.yaml:5: faults[0].target: "ghost" is neither a LAN nor a host (a client, peer, server, proxy or the media node); want one of: alice, media`},
		{"add-rules on a host", minimal + "faults:\n  - {kind: add-rules, target: alice, rules: [block-udp]}\n", `faults[0].target: add-rules applies to a LAN's firewall; "alice" is not a LAN`},
		{"fault after the end", minimal + "duration: 10s\nfaults:\n  - {kind: cut, target: alice, when: {after: 20s}}\n", `faults[0].when.after: 20s is not before the end of the run`},
		{"event of an unknown client", minimal + "faults:\n  - {kind: cut, target: alice, when: {event: connected, client: bob}}\n", `faults[0].when.client: unknown client "bob"`},
		{"duration that is not a duration", minimal + "duration: 10\n", `office.yaml:4: duration: "10" is not a duration`},
		{"udp-whack without after", "name: x\nnetwork:\n  lans:\n    - name: a\n      firewall: [udp-whack]\n" + minimal[8:], `office.yaml:5: network.lans[0].firewall[0]: udp-whack needs {after: DURATION}`},
		{"rule without action", "name: x\nnetwork:\n  lans:\n    - name: a\n      firewall:\n        - {proto: udp}\n" + minimal[8:], `office.yaml:6: network.lans[0].firewall[0].action: missing`},
		{"unknown preset", "name: x\nnetwork:\n  lans:\n    - {name: a, nat: cone}\n" + minimal[8:], `office.yaml:4: network.lans[0].nat: unknown NAT preset "cone"`},
		{"expectation for nobody", minimal + "expect:\n  bob: {connected: true}\n", `office.yaml:5: expect.bob: unknown client "bob"`},
		{"unknown transport", minimal + "expect:\n  alice: {transport: TURN/QUIC}\n", `office.yaml:5: expect.alice.transport: unknown transport "TURN/QUIC"`},
		{"duplicate client", minimal + "  - name: alice\n", `office.yaml:4: clients[1].name: client "alice" is defined twice (first at line 3)`},
		{"no clients", "name: x\n", `office.yaml:1: clients: missing`},
		{"invalid YAML", "name: x\nclients: [\n", `office.yaml:2: invalid YAML`},
		{"not a mapping", "- a\n", `office.yaml:1: want a mapping, got a list`},
		{"config error at its line", minimal + "node:\n  config:\n    turn:\n      udp_port: 99999\n", `office.yaml:7: node.config.turn.udp_port: 99999 is out of range`},
		{"config typo at its line", minimal + "node:\n  config:\n    turn:\n      tls_prot: 443\n", `office.yaml:7: node.config.turn.tls_prot: unknown key (a typo?)`},
		{"flow config error at its line", minimal + "node:\n  config: {turn: {udp_port: -1}}\n", `office.yaml:5: node.config.turn.udp_port: -1 is out of range`},
		{"tls_port without a certificate", minimal + "node:\n  config:\n    turn:\n      tls_port: 5349\n", `office.yaml:7: node.config.turn.tls_port: 5349 is set but cert_file and key_file are empty`},
		{"tls_port equal to udp_port", minimal + "node:\n  config:\n    turn:\n      udp_port: 3478\n      tls_port: 3478\n  tls: {cert: generated}\n", `office.yaml:8: node.config.turn.tls_port: 3478 is also udp_port`},
		{"unknown certificate kind without key", minimal + "node:\n  tls: {cert: self-signed}\n", `office.yaml:5: node.tls.cert: "self-signed" is not one of generated, wrong-name, expired`},
		{"missing config file", minimal + "node:\n  config_file: nowhere.yaml\n", `office.yaml:5: node.config_file: cannot read nowhere.yaml`},
		{"loss above one", "name: x\nclients:\n  - name: alice\n    link: {loss: 150%}\n", `office.yaml:4: clients[0].link.loss: 150% is not between 0 and 1`},
		{"bad port range", "name: x\nnetwork:\n  lans:\n    - name: a\n      firewall:\n        - {ports: 60000-50000, action: drop}\n" + minimal[8:], `office.yaml:6: network.lans[0].firewall[0].ports: "60000-50000" is reversed`},
		{"host named like a LAN", "name: x\nnetwork:\n  lans:\n    - name: alice\n" + minimal[8:], `"alice" is both a client and a LAN`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := (&scenarios.Loader{CA: testCA}).Parse("office.yaml", []byte(tt.doc))
			if err == nil {
				t.Fatalf("parsed %+v; want error %q", s, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
			for _, e := range scenarios.Errors(err) {
				if e.File != "office.yaml" && !strings.HasSuffix(e.File, ".yaml") {
					t.Errorf("error %q names no file", e)
				}
			}
			if len(scenarios.Errors(err)) == 0 {
				t.Errorf("error %v holds no *scenarios.Error", err)
			}
		})
	}
}

// TestConfigFileIssuesNameTheConfigFile proves a livekit.yaml beside the
// scenario reports its own file and line.
func TestConfigFileIssuesNameTheConfigFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "livekit.yaml"), []byte("turn:\n  relay_range_start: 40000\n  relay_range_end: 30000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	scenario := filepath.Join(dir, "s.yaml")
	if err := os.WriteFile(scenario, []byte("name: s\nnode:\n  config_file: livekit.yaml\nclients: [{name: alice}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := scenarios.Load(scenario)
	want := filepath.Join(dir, "livekit.yaml") + ":3: turn.relay_range_end: 30000 is below relay_range_start 40000"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v; want %q", err, want)
	}
}

// TestCertificates proves node.tls makes the certificates it names, from
// the loader's CA.
func TestCertificates(t *testing.T) {
	for _, tt := range []struct {
		kind string
		ok   bool
	}{{"generated", true}, {"wrong-name", false}, {"expired", false}} {
		doc := "name: x\nclients: [{name: alice}]\nnode:\n  config: {turn: {domain: turn.example.com, tls_port: 443}}\n  tls: {cert: " + tt.kind + "}\n"
		s, err := (&scenarios.Loader{CA: testCA}).Parse("tls.yaml", []byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", tt.kind, err)
		}
		cert := s.Spec.Node.Config.TURN.Certificate
		if cert == nil || cert.Leaf == nil {
			t.Fatalf("%s: no certificate", tt.kind)
		}
		// Verify on the fake clock's epoch: a synctest bubble starts at
		// 2000-01-01 UTC.
		_, err = cert.Leaf.Verify(x509.VerifyOptions{DNSName: "turn.example.com", Roots: testCA.Pool(), CurrentTime: time.Date(2000, 1, 1, 0, 0, 1, 0, time.UTC)})
		if (err == nil) != tt.ok {
			t.Errorf("%s: verify error %v; want ok=%v", tt.kind, err, tt.ok)
		}
		if s.Spec.Node.Config.TURN.TLSPort != 443 {
			t.Errorf("%s: tls_port %d", tt.kind, s.Spec.Node.Config.TURN.TLSPort)
		}
	}
}

// TestErrorsAreJoinedAndComplete proves one load reports every problem,
// not just the first.
func TestErrorsAreJoinedAndComplete(t *testing.T) {
	_, err := scenarios.Parse("many.yaml", []byte("name: x\nbogus: 1\nduration: soon\nclients:\n  - name: alice\n    lan: nowhere\n"))
	errs := scenarios.Errors(err)
	if len(errs) != 3 {
		t.Fatalf("got %d errors: %v", len(errs), err)
	}
	var e *scenarios.Error
	if !errors.As(err, &e) || e.Line != 2 || e.Field != "bogus" {
		t.Errorf("first error = %+v", e)
	}
}
