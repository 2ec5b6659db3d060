package vnet

import (
	"net/netip"
	"slices"
	"testing"
)

// TestLinkDrawsPerFlow checks that which of a flow's packets a lossy,
// jittery link loses and delays, and by how much, does not depend on how
// another flow's packets interleave with them (goroutines sending in the
// same instant reach a link in any order), and does depend on the
// network's seed.
func TestLinkDrawsPerFlow(t *testing.T) {
	a := &packet{packetHead: packetHead{proto: UDP, src: netip.MustParseAddrPort("10.0.0.2:5000"), dst: netip.MustParseAddrPort("203.0.113.3:7882")}}
	b := &packet{packetHead: packetHead{proto: TCP, src: netip.MustParseAddrPort("10.0.0.2:40000"), dst: netip.MustParseAddrPort("203.0.113.3:443")}}
	loss := newLossModel(0.3, 0)
	delay := wireDelay{latency: 10e6, jitter: 20e6}
	fates := func(seed uint64, order []*packet) map[*packet][]int64 {
		n, err := New(Config{Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		ld := &linkDir{seed: n.linkSeed("wifi", Down)}
		out := map[*packet][]int64{}
		for _, p := range order {
			r, fs := ld.drawsFor(p)
			fate := int64(-1) // lost
			if !loss.lose(&r, &fs.bad) {
				fate = int64(delay.sample(&r))
			}
			out[p] = append(out[p], fate)
		}
		return out
	}
	var ab, ba []*packet
	for range 200 {
		ab = append(ab, a, b)
		ba = append(ba, b, a)
	}
	first, second := fates(1, ab), fates(1, ba)
	for _, p := range []*packet{a, b} {
		if !slices.Equal(first[p], second[p]) {
			t.Errorf("%v → %v: its packets' fates changed with the other flow's order", p.src, p.dst)
		}
		lost := 0
		for _, f := range first[p] {
			if f < 0 {
				lost++
			}
		}
		if lost < 30 || lost > 90 {
			t.Errorf("%v → %v: lost %d of 200 packets at 30%% loss", p.src, p.dst, lost)
		}
	}
	if slices.Equal(first[a], fates(2, ab)[a]) {
		t.Error("another seed gave flow a the same fates")
	}
}

// TestLinkDrawsIgnorePorts checks that a flow meets the same fates
// whatever ephemeral ports its ends got: which socket gets which port
// depends on the order goroutines bind them, and a NAT's mapping on the
// order flows start.
func TestLinkDrawsIgnorePorts(t *testing.T) {
	n, err := New(Config{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	loss := newLossModel(0.3, 0)
	fates := func(src, dst string) []bool {
		ld := &linkDir{seed: n.linkSeed("wifi", Up)}
		p := &packet{packetHead: packetHead{proto: UDP, src: netip.MustParseAddrPort(src), dst: netip.MustParseAddrPort(dst)}}
		var out []bool
		for range 100 {
			r, fs := ld.drawsFor(p)
			out = append(out, loss.lose(&r, &fs.bad))
		}
		return out
	}
	first := fates("10.0.0.2:32768", "203.0.113.3:7882")
	if !slices.Equal(first, fates("10.0.0.2:32770", "203.0.113.3:7882")) {
		t.Error("the flow's fates changed with its ephemeral port")
	}
	if slices.Equal(first, fates("10.0.0.3:32768", "203.0.113.3:7882")) {
		t.Error("a flow from another address met the same fates")
	}
}
