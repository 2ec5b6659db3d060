package scenarios_test

import (
	"strings"
	"testing"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/scenarios"
)

func ptr[T any](v T) *T { return &v }

// TestCheck proves Check names the client, the field, and expected against
// observed for every expectation a result misses, and nothing else.
func TestCheck(t *testing.T) {
	s := &scenarios.Scenario{
		Spec: harness.Spec{Clients: []harness.ClientSpec{{Name: "alice"}, {Name: "bob"}, {Name: "carol"}}},
		Expect: map[string]scenarios.Expectation{
			"alice": {
				Transports: []harness.Transport{harness.TURNTLS}, Connected: ptr(true),
				LocalCandidates: []string{"relay"}, RemoteCandidates: []string{"host"}, MediaBothWays: ptr(true),
				Recovered: ptr(true), RecoverWithin: 5 * time.Second,
				FailureContains: "5349", FinalState: "connected",
			},
			"bob":   {Transports: []harness.Transport{harness.ICEUDP, harness.ICETCP}, Connected: ptr(true)},
			"carol": {Connected: ptr(false)},
		},
	}
	pair := &harness.Pair{Local: harness.Candidate{Type: "srflx", Protocol: "udp"}, Remote: harness.Candidate{Type: "host", Protocol: "udp"}}
	res := harness.Result{Clients: []harness.ClientResult{
		{
			Name: "alice", Transport: harness.ICEUDP, Connected: true, Selected: pair, MediaBothWays: true,
			FailedAt: 10 * time.Second, Recovered: true, RecoveredAt: 18 * time.Second,
			Failure:              "TCP to port 443 dropped",
			PeerConnectionStates: []harness.StateChange{{State: "connected"}},
		},
		{Name: "bob", Transport: harness.ICETCP, Connected: true},
	}}
	got := map[string]bool{}
	for _, m := range s.Check(res) {
		got[m.String()] = true
	}
	want := []string{
		"alice: transport: expected TURN/TLS, observed ICE/UDP (failure: TCP to port 443 dropped)",
		"alice: candidates.local: expected relay, observed srflx (srflx/udp  -> host/udp )",
		"alice: recover_within: expected recovery within 5s, observed recovery after 8s",
		`alice: failure_contains: expected a failure mentioning "5349", observed failure "TCP to port 443 dropped"`,
		"carol: client: expected a result, observed no result for this client",
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("missing mismatch %q", w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d mismatches, want %d:\n%s", len(got), len(want), strings.Join(keys(got), "\n"))
	}
	if ms := s.Check(harness.Result{Err: "bad spec", Clients: res.Clients}); len(ms) == 0 || ms[0].Field != "run" {
		t.Errorf("a run error must be a mismatch, got %v", ms)
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestLocateRunErrors proves an error from running a scenario is placed at
// the part of the file it names, with file, line and field.
func TestLocateRunErrors(t *testing.T) {
	doc := "name: x\nnetwork:\n  lans:\n    - name: corp\n      nat: symmetric\nnode:\n  name: sfu\nclients:\n  - name: alice\n    lan: corp\n  - name: al\nfaults:\n  - {kind: cut, target: alice, when: {after: 1s}}\n"
	s, err := scenarios.Parse("x.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	for runErr, want := range map[string]string{
		"lan corp: LAN 10.1.0.0/24: overlaps this machine's address space": "x.yaml:4: network.lans[0]: lan corp: ",
		"vnet: host alice: address 10.1.0.9 is already used on corp":       "x.yaml:9: clients[0]: vnet: host alice: ",
		"client al: lan \"x\" is not defined":                              "x.yaml:11: clients[1]: client al: ",
		"relay sfu: listen tls: address in use":                            "x.yaml:7: node: relay sfu: ",
		"faults[0]: unknown event":                                         "x.yaml:13: faults[0]: faults[0]: ",
		"something else broke":                                             "x.yaml: something else broke",
	} {
		if got := s.Locate(runErr).Error(); !strings.HasPrefix(got, want) {
			t.Errorf("Locate(%q) = %q, want it to start with %q", runErr, got, want)
		}
	}
}
