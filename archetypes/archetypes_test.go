package archetypes_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/icelab/icelab/archetypes"
	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/relay"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestLibrary proves the library has at least 15 distinct, cited networks
// and that a lookup by an unknown name lists the known ones.
func TestLibrary(t *testing.T) {
	all := archetypes.All()
	if len(all) < 15 {
		t.Fatalf("%d archetypes, want at least 15", len(all))
	}
	seen := map[string]bool{}
	for _, n := range all {
		if n.Name == "" || n.Summary == "" || n.Source == "" {
			t.Errorf("archetype %+v lacks a name, summary or source", n)
		}
		if seen[n.Name] {
			t.Errorf("duplicate archetype %q", n.Name)
		}
		seen[n.Name] = true
		got, err := archetypes.Lookup(n.Name)
		if err != nil || got.Name != n.Name {
			t.Errorf("Lookup(%q) = %q, %v", n.Name, got.Name, err)
		}
	}
	for _, want := range []string{"open-internet", "home-router", "symmetric-nat", "cgnat", "hotel-wifi", "vpn-udp-blocked",
		"corporate-443-only", "dtls-filtering-dpi", "udp-whack-10s", "udp-whack-after-ice", "lossy-mobile", "slow-uplink-500k", "short-udp-timeout"} {
		if !seen[want] {
			t.Errorf("the issue's archetype %q is missing", want)
		}
	}
	_, err := archetypes.Lookup("office")
	if err == nil || !strings.Contains(err.Error(), `"office"`) || !strings.Contains(err.Error(), "corporate-443-only, corporate-turn-allowed, dtls-filtering-dpi") {
		t.Errorf("Lookup(office) error = %v, want the name and the known names", err)
	}
	if _, err := archetypes.Select([]string{"cgnat", "nope", "nada"}); err == nil || !strings.Contains(err.Error(), `"nope", "nada"`) {
		t.Errorf("Select error = %v, want both unknown names", err)
	}
	_, err = archetypes.LookupProfile("firefox")
	if err == nil || !strings.Contains(err.Error(), "browser, pion") {
		t.Errorf("LookupProfile(firefox) error = %v, want the known profiles", err)
	}
}

// TestComposition proves Behind nests layers outermost first with unique
// names, and that CGNAT puts RFC 6598 shared address space between the
// home router and the carrier NAT.
func TestComposition(t *testing.T) {
	n := archetypes.HomeRouter().Behind(archetypes.HomeRouter())
	if len(n.Layers) != 2 || n.Layers[0].Name != "home" || n.Layers[1].Name != "home-2" {
		t.Fatalf("layers %+v, want home then home-2", n.Layers)
	}
	p := archetypes.CGNAT().Place("alice")
	if len(p.LANs) != 2 || p.LANs[1].Parent != p.LANs[0].Name || p.LAN != p.LANs[1].Name {
		t.Fatalf("placement %+v: want the home LAN under the carrier's, client on the home LAN", p)
	}
	if p.LANs[0].LANPrefix != netip.MustParsePrefix("100.64.0.0/10") {
		t.Errorf("carrier LAN %s, want 100.64.0.0/10", p.LANs[0].LANPrefix)
	}
	w := archetypes.UDPWhackAfterICE().Place("bob")
	if len(w.Faults) != 1 || w.Faults[0].Target != w.LAN || w.Faults[0].When.Client != "bob" || w.Faults[0].When.Event != "ice-connected" {
		t.Errorf("faults %+v, want one on bob's LAN at bob's ice-connected", w.Faults)
	}
}

// TestCGNATIsADoubleNAT runs a real call from behind CGNAT and proves the
// client's server-reflexive address is the carrier's public one, not the
// home router's shared-space WAN address.
func TestCGNATIsADoubleNAT(t *testing.T) {
	cfg := relay.DefaultConfig()
	cfg.Keys = map[string]string{"devkey": "devsecret"}
	spec := harness.Spec{Name: "cgnat", Node: harness.NodeSpec{Config: cfg}, Duration: 10 * time.Second}
	archetypes.CGNAT().Apply(&spec, archetypes.Pion().Client("alice"))
	res := harness.RunT(t, spec)
	if res.Err != "" {
		t.Fatal(res.Err)
	}
	c := res.Client("alice")
	if c.Transport != harness.ICEUDP || !c.MediaBothWays {
		t.Fatalf("transport %s, media both ways %t (%s), want ICE/UDP with media", c.Transport, c.MediaBothWays, c.Failure)
	}
	shared := netip.MustParsePrefix("100.64.0.0/10")
	var srflx []string
	for _, cand := range c.LocalCandidates {
		if cand.Type != "srflx" {
			continue
		}
		srflx = append(srflx, cand.Address)
		ap, err := netip.ParseAddrPort(cand.Address)
		if err != nil || shared.Contains(ap.Addr()) || ap.Addr().IsPrivate() {
			t.Errorf("srflx %s: want the carrier's public address", cand.Address)
		}
	}
	if len(srflx) == 0 {
		t.Errorf("no srflx candidate; local candidates %v", c.LocalCandidates)
	}
}
