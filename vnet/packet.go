package vnet

import (
	"fmt"
	"net/netip"
	"sync"
)

// Proto is a transport protocol carried by the virtual network.
type Proto uint8

// The transport protocols vnet carries.
const (
	UDP Proto = iota + 1
	TCP
)

func (p Proto) String() string {
	switch p {
	case UDP:
		return "udp"
	case TCP:
		return "tcp"
	}
	return fmt.Sprintf("proto(%d)", uint8(p))
}

// Class is the kind of payload a UDP datagram carries, told by its first
// byte as RFC 7983 demultiplexes STUN, DTLS, TURN ChannelData and RTP/RTCP on
// one port.
type Class uint8

// Payload classes, after RFC 7983 section 7.
const (
	ClassOther Class = iota
	ClassSTUN
	ClassDTLS
	ClassChannelData
	ClassRTP
	ClassTCP // any TCP segment; TCP payloads are a byte stream and carry no class
)

var classNames = [...]string{"other", "stun", "dtls", "channeldata", "rtp", "tcp"}

func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// Classify returns the RFC 7983 class of a UDP payload: STUN 0–3, DTLS
// 20–63, TURN ChannelData 64–79 and RTP/RTCP 128–191.
func Classify(payload []byte) Class {
	if len(payload) == 0 {
		return ClassOther
	}
	switch b := payload[0]; {
	case b <= 3:
		return ClassSTUN
	case b >= 20 && b <= 63:
		return ClassDTLS
	case b >= 64 && b <= 79:
		return ClassChannelData
	case b >= 128 && b <= 191:
		return ClassRTP
	}
	return ClassOther
}

// TCPFlags are the control bits of a TCP segment.
type TCPFlags uint8

// TCP control bits.
const (
	FlagFIN TCPFlags = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
)

func (f TCPFlags) String() string {
	s := ""
	for i, name := range []string{"FIN", "SYN", "RST", "PSH", "ACK"} {
		if f&(1<<i) != 0 {
			if s != "" {
				s += "|"
			}
			s += name
		}
	}
	if s == "" {
		return "none"
	}
	return s
}

// Segment is the TCP header of a packet: what the routing core needs to
// know about a segment besides its addresses.
type Segment struct {
	Flags  TCPFlags
	Seq    uint32
	Ack    uint32
	Window uint32
	// MSS is the maximum segment size option of a SYN (RFC 9293 3.7.1);
	// zero when absent.
	MSS uint16
	// SACKPermitted is a SYN's SACK-permitted option (RFC 2018 section 2).
	SACKPermitted bool
	// SACK holds an acknowledgement's SACK blocks, the first ones; the
	// rest are zero (tcp_sack.go).
	SACK [maxSACKBlocks]SACKBlock
}

// packet is one datagram or segment in flight. Packets are passed by pointer
// along one path and owned by whoever holds them; the payload is the
// network's copy, in the packet's own buffer when it fits.
type packet struct {
	packetHead
	// buf holds payloads up to maxPooled bytes. It is part of the packet,
	// not a buffer it points to: a packet comes out of the pool long after
	// it went in, often on another processor, and the load of a pointer
	// to its buffer was a miss that stalled every send (5.4% of a
	// 64-client room's CPU, in newPacket); the buffer's address is the
	// packet's, and the stores into a cold packet do not wait.
	buf [maxPooled]byte
}

// packetHead is a packet's fields but its buffer: what release resets.
//
// The fields every hop reads (protocol, fragment, payload, addresses,
// hops) come first, in the struct's first two cache lines: a packet is
// touched again after its time in a delay line, when it has long left the
// cache, and each line it spans costs a miss then.
type packetHead struct {
	proto Proto
	df    bool // IP-level state for MTU, with from, to and frag below
	// cls is a UDP payload's class for per-flow draws (datagramClass),
	// taken when the payload is set, while its first bytes are in the
	// cache: a link reads it again after the packet's time in a delay
	// line, and the payload's first line would be a miss then. Zero:
	// not known (TCP, or a payload written after alloc).
	cls     uint32
	hops    int
	frag    *fragment
	payload []byte
	src     netip.AddrPort
	dst     netip.AddrPort

	// sender, if set, is told when the packet is rejected or finds no
	// receiver, as ICMP "port unreachable" or a reset would tell it.
	sender refusable

	id uint64 // the packet's number in taps' events; zero until first tapped

	// IP-level state for MTU, in mtu.go: the host that sent the packet
	// and the destination it addressed (told of an ICMP "fragmentation
	// needed"), the DF bit (df, above), and the fragment header of a
	// fragment (frag, above).
	from *Host
	to   netip.Addr

	seg Segment // TCP only

	// The head's 216 bytes are padded to 256, four whole cache lines, so
	// that the buffer after it starts on a line too (packets are 2,304
	// bytes, a size class whose objects start on cache lines).
	_ [40]byte
}

// refusable is an endpoint that can be told its packet was refused.
type refusable interface {
	refused(pkt *packet)
}

// maxPooled is the largest payload a packet holds in its own buffer.
const maxPooled = 2048

var packetPool = sync.Pool{New: func() any { return new(packet) }}

// newPacket returns a packet holding a copy of payload.
func newPacket(proto Proto, src, dst netip.AddrPort, payload []byte) *packet {
	p := packetPool.Get().(*packet)
	p.proto, p.src, p.dst = proto, src, dst
	if len(payload) > 0 {
		copy(p.alloc(len(payload)), payload)
		if proto == UDP {
			p.cls = datagramClass(payload, 0)
		}
	}
	return p
}

// alloc sets the packet's payload to n bytes of its own, whose content is
// undefined, and returns it.
func (p *packet) alloc(n int) []byte {
	p.cls = 0
	if n > maxPooled {
		p.payload = make([]byte, n)
		return p.payload
	}
	p.payload = p.buf[:n:n]
	return p.payload
}

// release returns the packet to the pool. Nobody may use it afterwards.
func (p *packet) release() {
	p.packetHead = packetHead{}
	packetPool.Put(p)
}

// class returns the packet's payload class.
func (p *packet) class() Class {
	if p.frag != nil && p.frag.off > 0 {
		return ClassOther // a later fragment carries no transport header
	}
	if p.proto == TCP {
		return ClassTCP
	}
	return Classify(p.payload)
}

// size is the packet's size on the wire, counting the IP header (IPv4 20
// bytes, IPv6 40) and the transport header (TCP 20, UDP 8).
func (p *packet) size() int {
	if p.frag != nil {
		return p.frag.size(p)
	}
	if p.proto == TCP {
		return len(p.payload) + ipHeader(p.dst.Addr()) + tcpHeader
	}
	return len(p.payload) + ipHeader(p.dst.Addr()) + udpHeader
}

// maxHops bounds how many routers a packet may cross, against routing loops.
const maxHops = 32
