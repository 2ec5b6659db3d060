package vnet

import (
	"fmt"
	"net/netip"
	"time"
)

// Header sizes of IPv4 (without options) and of the transport protocols.
const (
	ipv4Header = 20
	udpHeader  = 8
	tcpHeader  = 20
)

// ReassemblyTimeout is how long a host keeps the fragments of a datagram
// waiting for the rest: Linux's net.ipv4.ipfrag_time.
const ReassemblyTimeout = 30 * time.Second

// maxReassemblies bounds the datagrams a host reassembles at once, as
// Linux's ipfrag_high_thresh bounds their memory; more are dropped.
const maxReassemblies = 1024

// fragment is the fragment header of an IPv4 fragment (RFC 791): the
// datagram's identification, the offset of this fragment's data in the
// datagram's IP payload (transport header included) and the MF bit. A
// fragment keeps its datagram's ports so that NATs and firewalls can treat
// it as the connection-tracking ones do, which reassemble before looking
// (Linux's nf_defrag); its payload is its share of the transport payload.
type fragment struct {
	id    uint64
	off   int
	more  bool
	total int // the datagram's transport payload length
}

// fragmentInfo describes the packet's fragment header for taps.
func (p *packet) fragmentInfo() *FragmentInfo {
	if p.frag == nil {
		return nil
	}
	return &FragmentInfo{ID: uint16(p.frag.id), Offset: p.frag.off, More: p.frag.more, Length: p.frag.total}
}

// transportHeader returns the size of proto's header.
func transportHeader(proto Proto) int {
	if proto == TCP {
		return tcpHeader
	}
	return udpHeader
}

// dataLen returns how many bytes of the datagram's IP payload the fragment
// carries.
func (f *fragment) dataLen(p *packet) int {
	if f.off == 0 {
		return len(p.payload) + transportHeader(p.proto)
	}
	return len(p.payload)
}

func (f *fragment) size(p *packet) int { return fragmentIPHeader(p) + f.dataLen(p) }

// ipHeader is the size of the IP header of a whole packet to dst: 20
// bytes for IPv4, 40 for IPv6.
func ipHeader(dst netip.Addr) int {
	if dst.Unmap().Is4() {
		return ipv4Header
	}
	return 40
}

// fragmentIPHeader is the IP header a fragment of p carries: IPv4's 20
// bytes, or IPv6's 40 and its Fragment extension header's 8 (RFC 8200
// section 4.5).
func fragmentIPHeader(p *packet) int {
	h := ipHeader(p.dst.Addr())
	if h != ipv4Header {
		h += 8
	}
	return h
}

// FragmentMatch restricts a firewall rule to fragments.
type FragmentMatch uint8

// Fragment matches.
const (
	// AnyPacket matches fragments and whole datagrams alike.
	AnyPacket FragmentMatch = iota
	// LaterFragments matches fragments other than the first, which carry no
	// transport header: what iptables' -f matches, and what stateless
	// filters that need ports drop.
	LaterFragments
	// AllFragments matches every fragment, first included: tunnels and
	// firewalls that drop fragments outright (RFC 4459 section 2, RFC 8900
	// section 3.3).
	AllFragments
)

func (m FragmentMatch) matches(pkt *packet) bool {
	switch m {
	case LaterFragments:
		return pkt.frag != nil && pkt.frag.off > 0
	case AllFragments:
		return pkt.frag != nil
	}
	return true
}

// DropFragments drops IP fragments both ways, as a tunnel or firewall
// that does not pass them.
func DropFragments() []Rule {
	return []Rule{{Name: "drop-fragments", Fragments: AllFragments, Action: Drop}}
}

// fragmentPacket splits pkt into fragments of at most mtu bytes, each
// carrying a multiple of 8 bytes of data but the last (RFC 791). A fragment
// split again keeps its identification and offsets. pkt is left to the
// caller.
func fragmentPacket(n *Network, pkt *packet, mtu int) []*packet {
	maxData := (mtu - fragmentIPHeader(pkt)) &^ 7
	base, more, id, length := 0, false, uint64(0), len(pkt.payload)
	if pkt.frag != nil {
		base, more, id, length = pkt.frag.off, pkt.frag.more, pkt.frag.id, pkt.frag.total
	} else {
		id = n.fragIDs.Add(1)
	}
	lead := 0 // the transport header, at the start of the first fragment's data
	if base == 0 {
		lead = transportHeader(pkt.proto)
	}
	total := lead + len(pkt.payload)
	out := make([]*packet, 0, total/maxData+1)
	for o := 0; o < total; o += maxData {
		end := min(o+maxData, total)
		f := newPacket(pkt.proto, pkt.src, pkt.dst, pkt.payload[max(o-lead, 0):end-lead])
		f.seg, f.sender, f.from, f.to, f.hops = pkt.seg, pkt.sender, pkt.from, pkt.to, pkt.hops
		f.frag = &fragment{id: id, off: base + o, more: end < total || more, total: length}
		out = append(out, f)
	}
	return out
}

// fragKey names a datagram being reassembled (RFC 791: source,
// destination, protocol and identification).
type fragKey struct {
	src, dst netip.AddrPort
	proto    Proto
	id       uint64
}

type reassembly struct {
	pieces []piece
	got    int // bytes of IP payload received
	total  int // the datagram's IP payload size, -1 until the last fragment
	first  *packet
}

type piece struct {
	off  int
	data []byte
}

// reassemble takes an arriving fragment and returns the whole datagram
// once every fragment has arrived, or nil. Fragments still missing
// ReassemblyTimeout after the first arrived are dropped together.
func (h *Host) reassemble(pkt *packet) *packet {
	k := fragKey{pkt.src, pkt.dst, pkt.proto, pkt.frag.id}
	f := pkt.frag
	h.mtu.mu.Lock()
	if h.mtu.reasm == nil {
		h.mtu.reasm = make(map[fragKey]*reassembly)
	}
	r := h.mtu.reasm[k]
	if r == nil {
		if len(h.mtu.reasm) >= maxReassemblies {
			h.mtu.mu.Unlock()
			h.net.drop(h.name, pkt, "fragment reassembly queue full")
			return nil
		}
		r = &reassembly{total: -1}
		h.mtu.reasm[k] = r
		h.net.sched.at(time.Now().Add(ReassemblyTimeout), func() { h.reassemblyTimeout(k, r) })
	}
	for _, p := range r.pieces {
		if p.off == f.off {
			h.mtu.mu.Unlock()
			h.net.drop(h.name, pkt, "duplicate fragment")
			return nil
		}
	}
	n := f.dataLen(pkt)
	r.got += n
	if !f.more {
		r.total = f.off + n
	}
	if f.off == 0 {
		r.first = newPacket(pkt.proto, pkt.src, pkt.dst, nil)
		r.first.seg, r.first.sender, r.first.hops = pkt.seg, pkt.sender, pkt.hops
	}
	r.pieces = append(r.pieces, piece{off: f.off, data: append([]byte(nil), pkt.payload...)})
	done := r.total >= 0 && r.got >= r.total && r.first != nil
	if done {
		delete(h.mtu.reasm, k)
	}
	h.mtu.mu.Unlock()
	pkt.release()
	if !done {
		return nil
	}
	hdr := transportHeader(r.first.proto)
	payload := make([]byte, r.total-hdr)
	for _, p := range r.pieces {
		copy(payload[max(p.off-hdr, 0):], p.data)
	}
	whole := newPacket(r.first.proto, r.first.src, r.first.dst, payload)
	whole.seg, whole.sender, whole.hops = r.first.seg, r.first.sender, r.first.hops
	r.first.release()
	return whole
}

// reassemblyTimeout drops a datagram whose fragments did not all arrive in
// time, as Linux does after ipfrag_time (it sends no ICMP "time exceeded"
// when the first fragment is missing, RFC 792).
func (h *Host) reassemblyTimeout(k fragKey, r *reassembly) {
	h.mtu.mu.Lock()
	if h.mtu.reasm[k] != r {
		h.mtu.mu.Unlock()
		return
	}
	delete(h.mtu.reasm, k)
	h.mtu.mu.Unlock()
	pkt := newPacket(k.proto, k.src, k.dst, nil)
	pkt.frag = &fragment{id: k.id, more: true}
	if r.first != nil {
		pkt.seg = r.first.seg
		r.first.release()
	}
	total := "unknown"
	if r.total >= 0 {
		total = fmt.Sprint(r.total)
	}
	h.net.drop(h.name, pkt, fmt.Sprintf("fragment reassembly timeout after %v: %d of %s bytes arrived", ReassemblyTimeout, r.got, total))
}
