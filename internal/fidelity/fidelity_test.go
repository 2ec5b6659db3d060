package fidelity

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/icelab/icelab/internal/netlab/call"
	"github.com/icelab/icelab/scenarios"
)

// TestCasesHaveScenarios checks that every case names a scenario file this
// package embeds and that the file loads; it needs no root.
func TestCasesHaveScenarios(t *testing.T) {
	names := map[string]bool{}
	for _, c := range Cases() {
		if names[c.Name] {
			t.Errorf("case %s appears twice", c.Name)
		}
		names[c.Name] = true
		data, err := scenarioFiles.ReadFile("scenarios/" + c.Scenario)
		if err != nil {
			t.Errorf("case %s: %v", c.Name, err)
			continue
		}
		if _, err := scenarios.Parse(c.Scenario, data); err != nil {
			t.Errorf("case %s: %v", c.Name, err)
		}
		if c.Kind == Chromium && len(c.B) != 0 {
			t.Errorf("case %s: a Chromium case calls a public media peer; B must be empty", c.Name)
		}
	}
}

func TestTableMergesRuns(t *testing.T) {
	direct := End{Connected: true, Transport: "ICE/TCP", Local: "prflx", Remote: "host", After: 200 * time.Millisecond}
	relayed := End{Connected: true, Transport: "TURN/TLS", Local: "relay", Remote: "host", After: 180 * time.Millisecond}
	icelab := End{Connected: true, Transport: "ICE/TCP", Local: "host", Remote: "host", After: 330 * time.Millisecond}
	failed := End{State: "failed", Ended: 15100 * time.Millisecond}
	outs := []Outcome{
		{Case: Case{Name: "varies"}, Real: []End{direct, relayed, direct}, Icelab: []End{icelab}},
		{Case: Case{Name: "blocked"}, Real: []End{failed}, Icelab: []End{{State: "connecting", Ended: 15 * time.Second}}},
		{Case: Case{Name: "broken"}, Real: []End{{Err: errors.New("no chromium")}}, Icelab: []End{icelab, icelab}},
		{Case: Case{Name: "raced"}, Real: []End{relayed, relayed}, Icelab: []End{relayed, direct}},
	}
	var b strings.Builder
	if err := WriteTable(&b, outs); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| varies | ICE/TCP (2/3), TURN/TLS (1/3) | prflx/host (2/3), relay/host (1/3) | 0.20s (median of 3) | ICE/TCP | host/host | 0.33s | 2/3, 0/3 |",
		"| blocked | none | - | failed at 15.1s | none | - | connecting at 15.0s | 1/1, 1/1 |",
		"| broken | error: no chromium |",
		"| raced | TURN/TLS | relay/host | 0.18s (median of 2) | TURN/TLS (1/2), ICE/TCP (1/2) | relay/host (1/2), prflx/host (1/2) | 0.20s (median of 2) | 2/4, 2/4 |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestGatheredMarksMDNSHosts(t *testing.T) {
	got := gathered([]candidate{
		{CandidateType: "host", Protocol: "udp", Address: "1f0c7a52-6c1e-4c6a-9a1d-2b8e0c1f9a77.local"},
		{CandidateType: "host", Protocol: "udp", Address: ""},
		{CandidateType: "srflx", Protocol: "udp", Address: "203.0.113.11"},
		{CandidateType: "relay", Protocol: "udp", RelayProtocol: "tls", Address: "203.0.113.10"},
		{Type: "host", Protocol: "udp", Address: "10.1.0.2:40000"},
		{CandidateType: "host", Protocol: "udp", IP: "10.1.0.2"},
	})
	if want := "host/udp×2 host/udp[mdns]×2 relay/udp(tls) srflx/udp"; got != want {
		t.Errorf("gathered = %q, want %q", got, want)
	}
}

// TestSettledPairIsCompared checks that a real end that connected on one
// pair and switched to another is compared by the pair it settled on, and
// that the table shows both: Chromium with UDP blocked connects over
// TURN/TLS and switches to ICE/TCP once its TCP phase has run.
func TestSettledPairIsCompared(t *testing.T) {
	first := &call.Pair{Local: call.Candidate{Type: "relay", Protocol: "udp", RelayProtocol: "tls"}, Remote: call.Candidate{Type: "host", Protocol: "udp"}}
	real := RealEnd(&RealResult{A: call.Result{Connected: true, ConnectedAfter: 0.15, State: "connected",
		Local:  call.Candidate{Type: "prflx", Protocol: "tcp"},
		Remote: call.Candidate{Type: "host", Protocol: "tcp"},
		First:  first, PairChanges: 2}}, nil)
	if real.Transport != "ICE/TCP" || real.Local != "prflx" || real.First == nil {
		t.Fatalf("real end = %+v, want the settled ICE/TCP prflx pair with the first one kept", real)
	}
	// A report whose selection is gone (connected, then failed) keeps the
	// pair it connected on.
	lost := RealEnd(&RealResult{A: call.Result{Connected: true, ConnectedAfter: 0.15, State: "failed", First: first}}, nil)
	if lost.Transport != "TURN/TLS" || lost.Local != "relay" || lost.First != nil {
		t.Errorf("lost end = %+v, want TURN/TLS relay/host from its first pair", lost)
	}
	icelab := End{Connected: true, Transport: "ICE/TCP", Local: "prflx", Remote: "host", After: 40 * time.Millisecond}
	contrast := End{Connected: true, Transport: "TURN/UDP", Local: "host", Remote: "relay", After: 2 * time.Second}
	outs := []Outcome{
		{Case: Case{Name: "switched"}, Real: []End{real}, Icelab: []End{icelab}},
		{Case: Case{Name: "shown", Contrast: "a preset that differs"}, Real: []End{contrast}, Icelab: []End{icelab}},
	}
	var b strings.Builder
	if err := WriteTable(&b, outs); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| switched | TURN/TLS, then ICE/TCP | relay/host, then prflx/host | 0.15s | ICE/TCP | prflx/host | 0.04s | 1/1, 1/1 |",
		"| shown | TURN/UDP | host/relay | 2.00s | ICE/TCP | prflx/host | 0.04s | contrast, not counted (0/1, 0/1): a preset that differs |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}
