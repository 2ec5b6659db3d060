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

// linkFlow names a flow through a link direction: its protocol, ends and
// the class of its packets (packetClass). A socket's packets come from
// several goroutines — pion's ICE agent sends checks while its DTLS
// connection sends a flight and its interceptors send RTCP — and reach the
// link in the same instant in either order; counted as one flow, that
// order decided which of them was the flow's nth packet and so which was
// lost (a TURN/UDP client on a 2% lossy link finished DTLS at 3 s in 3 of
// 10 runs of lossy-link-turn-udp and at 4 s in the rest). Each class is
// sent by one goroutine, in an order the run decides.
type linkFlow struct {
	proto    Proto
	class    uint32
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
	k := linkFlow{pkt.proto, packetClass(pkt), pkt.src, pkt.dst}
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

// flowSalt is a flow's part of the seed: its protocol, class and
// addresses, mixed; not its ports (above).
func flowSalt(k linkFlow) uint64 {
	s := mix(uint64(k.proto)<<32 | uint64(k.class))
	return mixAddr(mixAddr(s, k.src.Addr()), k.dst.Addr())
}

// mixAddr mixes an address's sixteen bytes into s.
func mixAddr(s uint64, a netip.Addr) uint64 {
	b := a.As16()
	s = mix(s ^ binary.BigEndian.Uint64(b[:8]))
	return mix(s ^ binary.BigEndian.Uint64(b[8:]))
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

// packetClass sorts a packet by what it carries, from the bytes that are in
// the clear (RFC 7983's demultiplexing of a WebRTC socket): a STUN message
// by its type, ChannelData by what it wraps, DTLS by its content type, RTP
// by payload type, RTCP by packet type and format; a TCP segment by whether
// it carries data, only acknowledges, or opens or closes; a fragment after
// the first as a fragment.
func packetClass(pkt *packet) uint32 {
	if pkt.proto == TCP {
		f := pkt.seg.Flags
		switch {
		case f&(FlagSYN|FlagFIN|FlagRST) != 0:
			return 1<<16 | uint32(f)
		case len(pkt.payload) > 0:
			return 2 << 16
		default:
			return 3 << 16
		}
	}
	if pkt.frag != nil && pkt.frag.off > 0 {
		return 4 << 16
	}
	if pkt.cls != 0 {
		return pkt.cls // taken by newPacket from the same bytes
	}
	return datagramClass(pkt.payload, 0)
}

// datagramClass is packetClass for a UDP payload; depth counts ChannelData
// wrappers already opened.
func datagramClass(b []byte, depth uint32) uint32 {
	if len(b) < 2 {
		return 5<<16 | depth<<24
	}
	switch c := b[0]; {
	case c <= 3: // STUN: message type
		return 6<<16 | depth<<24 | uint32(c)<<8 | uint32(b[1])
	case c >= 20 && c <= 63: // DTLS: content type
		return 7<<16 | depth<<24 | uint32(c)
	case c >= 64 && c <= 79 && depth == 0 && len(b) > 4: // TURN ChannelData
		return datagramClass(b[4:], 1)
	case c >= 128 && c <= 191:
		if pt := b[1]; pt >= 192 && pt <= 223 { // RTCP: type and format
			return 8<<16 | depth<<24 | uint32(pt)<<8 | uint32(c&0x1f)
		}
		return 9<<16 | depth<<24 | uint32(b[1]&0x7f) // RTP: payload type
	default:
		return 10<<16 | depth<<24
	}
}
