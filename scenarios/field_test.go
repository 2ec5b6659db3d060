package scenarios_test

import (
	"strings"
	"testing"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/scenarios"
)

// TestFieldClasses parses what the field classes added to files: TCP NAT
// lifetimes, the carrier-grade preset with its port blocks, a UDP throttle,
// and the move, mute and unmute faults, and names a move to an unknown LAN.
func TestFieldClasses(t *testing.T) {
	doc := `name: f
network:
  lans:
    - name: wifi
      nat: {preset: port-restricted, tcp_established_lifetime: 10m, tcp_transitory_lifetime: 30s}
      firewall:
        - throttle-udp: 500kbps
    - name: cell
      prefix: 100.64.0.0/24
      nat: {preset: carrier-grade, port_block: 64}
clients:
  - name: phone
    lan: wifi
faults:
  - {kind: mute, target: phone, when: {after: 2s}}
  - {kind: unmute, target: phone, when: {after: 4s}}
  - {kind: move, target: phone, to: cell, when: {after: 6s}}
duration: 10s
`
	s, err := scenarios.Parse("f.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	wifi, cell := s.Spec.LANs[0], s.Spec.LANs[1]
	if wifi.NAT.TCPEstablishedLifetime != 10*time.Minute || wifi.NAT.TCPTransitoryLifetime != 30*time.Second {
		t.Errorf("TCP lifetimes %v, %v", wifi.NAT.TCPEstablishedLifetime, wifi.NAT.TCPTransitoryLifetime)
	}
	if len(wifi.Firewall) != 1 || wifi.Firewall[0].Limit == nil || wifi.Firewall[0].Limit.BitsPerSecond != 500_000 {
		t.Errorf("throttle: %+v", wifi.Firewall)
	}
	if cell.NAT.PortBlock != 64 || cell.NAT.Hairpinning {
		t.Errorf("carrier-grade NAT: %+v", cell.NAT)
	}
	kinds := []harness.FaultKind{harness.Mute, harness.Unmute, harness.Move}
	for i, f := range s.Spec.Faults {
		if f.Kind != kinds[i] || f.Target != "phone" {
			t.Errorf("fault %d: %+v", i, f)
		}
	}
	if s.Spec.Faults[2].To != "cell" {
		t.Errorf("move to %q, want cell", s.Spec.Faults[2].To)
	}

	_, err = scenarios.Parse("f.yaml", []byte(strings.Replace(doc, "to: cell", "to: moon", 1)))
	if err == nil || !strings.Contains(err.Error(), `f.yaml:17: faults[2].to: unknown LAN "moon"; want internet or one of: cell, wifi`) {
		t.Errorf("move to an unknown LAN: %v", err)
	}
}
