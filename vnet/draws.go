package vnet

import (
	"encoding/binary"
	"net/netip"
)

// What a link's models draw for a packet is a function of the link
// direction's seed, the packet's flow and the packet's number in that flow,
// not of a random stream shared by every packet of the direction: senders
// on different goroutines reach a link in the same instant in any order,
// and with a shared stream that order decided which flow lost which packet,
// so a scenario's verdict could change from run to run on the fake clock
// (livekit-ladder-udp-unstable met its expectations 39 times in 40: in one
// run the signalling connection lost what the media lost in the others).
// Within a flow, the nth packet meets the same fate every run.
//
// A flow's part of the seed is its protocol and addresses, not its ports:
// which socket gets which ephemeral port, and which mapping a NAT's cursor
// gives it, depend on the order sockets are bound and mappings made, and
// pion binds its host, srflx and relay sockets from concurrent gathering
// goroutines (a lossy-mobile client, 5% loss, connected at 1.88 s to
// 3.24 s in six runs of one file with ports in the seed; at 1.93 s in
// every run without). Linux picks UDP ports at random, so a port is no
// part of what a flow is. Flows between the same two addresses keep their
// own counts, so each still loses its nth packet independently of the
// others' order, but their nth packets meet the same fate.

// linkFlow names a flow through a link direction.
type linkFlow struct {
	proto    Proto
	src, dst netip.AddrPort
}

// linkFlowState is what a link direction keeps of one flow: how many of its
// packets it has taken, the flow's part of the seed, and its burst-loss
// chain's state (each flow has its own Gilbert–Elliott chain).
type linkFlowState struct {
	n    uint64
	salt uint64
	bad  bool
}

// drawsFor counts pkt in its flow and returns the random numbers its
// models draw for it, with the flow's state. The caller holds ld.mu.
func (ld *linkDir) drawsFor(pkt *packet) (packetDraws, *linkFlowState) {
	k := linkFlow{pkt.proto, pkt.src, pkt.dst}
	fs := ld.flows[k]
	if fs == nil {
		if ld.flows == nil {
			ld.flows = map[linkFlow]*linkFlowState{}
		}
		fs = &linkFlowState{salt: flowSalt(k)}
		ld.flows[k] = fs
	}
	fs.n++
	return packetDraws{state: ld.seed ^ fs.salt ^ fs.n*0xd1b54a32d192ed03}, fs
}

// flowSalt is a flow's part of the seed: its protocol and addresses,
// mixed; not its ports (above).
func flowSalt(k linkFlow) uint64 {
	s := uint64(k.proto)
	for _, ap := range []netip.AddrPort{k.src, k.dst} {
		b := ap.Addr().As16()
		for i := 0; i < 16; i += 8 {
			s = mix(s ^ binary.BigEndian.Uint64(b[i:i+8]))
		}
	}
	return s
}

// packetDraws are the random numbers drawn for one packet: splitmix64
// (Steele, Lea and Flood, "Fast splittable pseudorandom number
// generators", 2014) from the packet's seed.
type packetDraws struct{ state uint64 }

// Float64 returns the next number, uniform in [0, 1).
func (r *packetDraws) Float64() float64 {
	r.state += 0x9e3779b97f4a7c15
	return float64(mix(r.state)>>11) / (1 << 53)
}

// mix is splitmix64's finaliser.
func mix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
