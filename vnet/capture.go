package vnet

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Verdict says what the network did with a packet at one point of its path.
type Verdict uint8

// Verdicts a tap reports.
const (
	// Forwarded: the packet crossed a link or router unchanged.
	Forwarded Verdict = iota + 1
	// Translated: a NAT rewrote the packet's addresses.
	Translated
	// Delivered: a host accepted the packet into a socket.
	Delivered
	// Dropped: the packet went no further; Event.Reason says why.
	Dropped
	// Rejected: the packet was refused and the sender told (ICMP or RST).
	Rejected
)

var verdictNames = [...]string{"", "forwarded", "translated", "delivered", "dropped", "rejected"}

func (v Verdict) String() string {
	if int(v) < len(verdictNames) && v != 0 {
		return verdictNames[v]
	}
	return fmt.Sprintf("verdict(%d)", uint8(v))
}

// Event is one observation of a packet: where it was, when, what it was,
// and what happened to it there.
type Event struct {
	// Packet numbers the packet within its network, from 1: every event
	// about one datagram or segment on its path, before and after a NAT,
	// carries the same number. A retransmission is a new packet.
	Packet uint64
	Time   time.Time
	Where  string // a link ("alice-eth0"), router ("office") or host ("alice")
	Proto  Proto
	Src    netip.AddrPort
	Dst    netip.AddrPort
	// NewSrc and NewDst are the addresses after translation (Translated only).
	NewSrc, NewDst netip.AddrPort
	Class          Class
	Flags          TCPFlags // TCP only
	// Seq, Ack and Window are the TCP segment's sequence and
	// acknowledgement numbers and its receive window in bytes (TCP only).
	Seq, Ack, Window uint32
	Size             int // bytes on the wire
	Verdict          Verdict
	// Reason names what dropped or rejected the packet, such as
	// "firewall corp-fw rule 3 (block-udp)" or "link cut".
	Reason string
	// Payload is the packet's payload; it is shared, so taps must not keep
	// or change it beyond the call. Copy what you keep.
	Payload []byte
	// MSS is a SYN's maximum segment size option (TCP only; zero when
	// absent).
	MSS uint16
	// Fragment describes an IP fragment; nil for a whole datagram. Its
	// Payload is its share of the datagram's transport payload.
	Fragment *FragmentInfo
}

// FragmentInfo is the fragment header of an IPv4 fragment (RFC 791).
type FragmentInfo struct {
	// ID is the datagram's identification, shared by its fragments.
	ID uint16
	// Offset is where the fragment's data starts in the datagram's IP
	// payload, in bytes; the first fragment, at 0, carries the transport
	// header.
	Offset int
	// More is the MF bit: more fragments follow.
	More bool
	// Length is the datagram's transport payload length, for the
	// transport header of the first fragment.
	Length int
}

func (e Event) String() string {
	s := fmt.Sprintf("%s %s %s %s %s->%s %s %dB", e.Time.Format("15:04:05.000000"), e.Where, e.Verdict, e.Proto, e.Src, e.Dst, e.Class, e.Size)
	if e.Verdict == Translated {
		s += fmt.Sprintf(" as %s->%s", e.NewSrc, e.NewDst)
	}
	if e.Reason != "" {
		s += " (" + e.Reason + ")"
	}
	return s
}

// Verdicts is a set of verdicts, for a tap that wants only some events.
type Verdicts uint8

// VerdictsOf returns the set of the given verdicts.
func VerdictsOf(vs ...Verdict) Verdicts {
	var set Verdicts
	for _, v := range vs {
		set |= 1 << v
	}
	return set
}

// AllVerdicts is every verdict: what Network.Tap observes.
const AllVerdicts = Verdicts(1<<Forwarded | 1<<Translated | 1<<Delivered | 1<<Dropped | 1<<Rejected)

// Has reports whether v is in the set.
func (s Verdicts) Has(v Verdict) bool { return s&(1<<v) != 0 }

// taps is the set of functions that observe packets. Emitting an event no
// tap wants costs one atomic load: the event is not built.
type taps struct {
	want atomic.Uint32 // the union of the taps' Verdicts
	ids  atomic.Uint64 // the last packet number handed out
	mu   sync.Mutex
	next int
	fns  map[int]tap
	list atomic.Pointer[[]tap]
}

type tap struct {
	want Verdicts
	fn   func(Event)
}

func (t *taps) add(want Verdicts, fn func(Event)) (remove func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fns == nil {
		t.fns = make(map[int]tap)
	}
	id := t.next
	t.next++
	t.fns[id] = tap{want, fn}
	t.publish()
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		delete(t.fns, id)
		t.publish()
	}
}

func (t *taps) publish() {
	list := make([]tap, 0, len(t.fns))
	var want Verdicts
	for _, tp := range t.fns {
		list = append(list, tp)
		want |= tp.want
	}
	t.list.Store(&list)
	t.want.Store(uint32(want))
}

// wants reports whether some tap wants events of verdict v.
func (t *taps) wants(v Verdict) bool { return Verdicts(t.want.Load()).Has(v) }

// emit reports an event about pkt to every tap that wants its verdict.
func (t *taps) emit(where string, pkt *packet, v Verdict, reason string) {
	if !t.wants(v) {
		return
	}
	t.emitEvent(Event{
		Packet: t.number(pkt), Time: time.Now(), Where: where, Proto: pkt.proto, Src: pkt.src, Dst: pkt.dst,
		Class: pkt.class(), Flags: pkt.seg.Flags, Seq: pkt.seg.Seq, Ack: pkt.seg.Ack, Window: pkt.seg.Window,
		Size: pkt.size(), Verdict: v, Reason: reason, Payload: pkt.payload,
		MSS: pkt.seg.MSS, Fragment: pkt.fragmentInfo(),
	})
}

// number returns pkt's number, giving it the next one the first time it is
// tapped. A packet belongs to one goroutine at a time, so this needs no lock.
func (t *taps) number(pkt *packet) uint64 {
	if pkt.id == 0 {
		pkt.id = t.ids.Add(1)
	}
	return pkt.id
}

func (t *taps) emitEvent(ev Event) {
	for _, tp := range *t.list.Load() {
		if tp.want.Has(ev.Verdict) {
			tp.fn(ev)
		}
	}
}
