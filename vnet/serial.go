package vnet

import (
	"cmp"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// serial is a network's single goroutine for its packets' events when
// Config.Serial is set: every packet a host sends and every packet a link
// direction hands on is put here and handled just after its instant, with
// the others of that instant: each sending host's and each link
// direction's in the order they came (a lane), the lanes in an order drawn
// from the network's seed and the lane's name.
//
// Without it, events of the same instant happen in the order goroutines
// run. On a testing/synctest bubble's fake clock that is common, not rare:
// two peers with equal links send their checks in the same instant, and
// the link directions carrying them wake in the same instant, each on its
// goroutine, and reach the same NAT in either order; which of a peer's
// outbound check and the other peer's inbound one a NAT saw first decided
// whether the inbound one was filtered, and with it the pair ICE chose
// (pion-bare-masquerade-to-home: host/srflx in 15 of 30 runs, host/prflx in
// the others). Within a lane the order stays the senders': a host's
// packets sent from one goroutine in program order, which a canonical
// order of flows would lose (a peer's checks of one instant go out highest
// priority first, and which of them reached the far end first decided
// p2p-full-cone-to-symmetric-direct's pair); those sent from goroutines
// that race (pion gathers srflx and relay candidates in parallel) still
// come in the order those run.
//
// "Just after" is serialStep later: in a bubble a timer fires only once
// every goroutine of the bubble is durably blocked, so by then everything
// the instant's events woke has run and sent what it would. A zero delay
// would not do: a timer due now can fire in the same pass as the other
// timers of the instant, before the goroutines those wake have run. Each
// hop through here so costs a packet a nanosecond of fake time.
type serial struct {
	mu      sync.Mutex
	pending []instantEvent // come since the last flush, in no order
	spare   []instantEvent
	seq     uint64
	timer   *time.Timer
	armed   bool
	closed  bool

	net *Network

	run sync.Mutex // held while a flush runs; guards what follows
	// ready are the events of earlier flushes not yet handled, in order.
	ready []instantEvent
	// woke holds, for each host a packet reached in this flush, the
	// socket it reached: whatever reads it there runs before a packet
	// reaches another socket of that host.
	woke map[*Host]socketKey
	// What order uses, kept from flush to flush.
	lanes    map[uint64]int32 // a lane's key: its number in the run
	laneKeys []uint64         // by number
	ranks    []int32          // by number: the lane's place among the run's lanes
	starts   []int32          // by place: where the lane's events go next
	laneOf   []int32          // by event of the run: its lane's number
	sorted   []instantEvent
	// warmth is what warm read, kept so that its loads are not dropped.
	warmth uint
}

// socketKey names the socket a packet arrives at: for UDP its destination,
// for TCP its connection. Packets for one socket are read in the order they
// arrive, by the one goroutine reading it; packets for two sockets of a
// host are read by two, in the order those run.
type socketKey struct {
	proto    Proto
	dst, src netip.AddrPort
}

func socketOf(pkt *packet) socketKey {
	k := socketKey{proto: pkt.proto, dst: pkt.dst}
	if pkt.proto == TCP {
		k.src = pkt.src
	}
	return k
}

// serialStep is how long after its instant a packet's event is handled.
const serialStep = time.Nanosecond

// instantEvent is a packet a host sent (from set) or a link direction
// handed on (to set) in the current instant.
type instantEvent struct {
	at   time.Duration // when it came, on the network's clock
	key  uint64        // its lane: the sending host, or the link direction
	seq  uint64        // its place in its lane: the order they came
	pkt  *packet
	from *Host
	to   hop
	link string
}

// sent takes a packet host h sends. A host's packets keep the order it
// sent them in: pion sends an instant's checks one after another from one
// goroutine, highest priority first, and on a real wire they leave in that
// order.
func (s *serial) sent(h *Host, pkt *packet) {
	s.add(instantEvent{key: h.seed, pkt: pkt, from: h})
}

// handedOn takes a packet link direction ld hands to hop to; a direction's
// packets keep their order too.
func (s *serial) handedOn(ld *linkDir, to hop, pkt *packet) {
	s.add(instantEvent{key: ld.seed, pkt: pkt, to: to, link: ld.name})
}

func (s *serial) add(e instantEvent) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		e.pkt.release()
		return
	}
	s.seq++
	e.seq = s.seq
	e.at = s.net.now()
	s.pending = append(s.pending, e)
	if !s.armed {
		s.arm()
	}
	s.mu.Unlock()
}

// flush handles the events that are ready, oldest first and each
// instant's in their order, up to the first that would reach another
// socket of a host a packet of this flush reached; the rest wait for the next flush,
// another serialStep later, so that what a host does with a packet (pion
// reads each socket on a goroutine of its own, and its agent takes what
// they read in the order they run) is done before the next packet arrives
// there. Packets for different hosts, and for one socket of a host, are
// handled in one flush: what each host sends in reply goes to its own lane,
// ordered as the lanes are. (Stopping at the first packet for any host cost
// a 16-client room twice its CPU, 15.9 against 7.2 µs per packet: a pass of
// the whole bubble per packet delivered; at the first for a host reached
// already, 14.2, the media node's socket taking every client's packets.) What the
// events cause in turn (a host's reply, a TCP acknowledgement) comes
// after them.
func (s *serial) flush() {
	s.run.Lock()
	defer s.run.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	// Only what came before this instant: a goroutine woken by a timer
	// of this same instant (a link direction's, pion's) may be adding
	// to pending as the flush runs, and whether it came before or after
	// would be the race this is here to end. What came now waits for
	// the next flush.
	now := s.net.now()
	batch := s.spare[:0]
	s.spare = nil
	later := 0
	for _, e := range s.pending {
		if e.at < now {
			batch = append(batch, e)
		} else {
			s.pending[later] = e
			later++
		}
	}
	clear(s.pending[later:])
	s.pending = s.pending[:later]
	s.armed = false
	s.mu.Unlock()

	s.order(batch)
	s.ready = append(s.ready, batch...)
	clear(batch)
	done := 0
	if s.woke == nil {
		s.woke = map[*Host]socketKey{}
	}
	clear(s.woke)
	warmed := 0
	for done < len(s.ready) {
		if done == warmed {
			warmed = s.warm(done)
		}
		e := s.ready[done]
		if e.to.host != nil {
			if k, ok := s.woke[e.to.host]; ok && k != socketOf(e.pkt) {
				break
			}
		}
		s.ready[done] = instantEvent{}
		done++
		if e.from != nil {
			e.from.transmit(e.pkt)
			continue
		}
		e.to.net().taps.emit(e.link, e.pkt, Forwarded, "")
		e.to.take(e.pkt)
	}
	rest := copy(s.ready, s.ready[done:])
	clear(s.ready[rest:])
	s.ready = s.ready[:rest]

	s.mu.Lock()
	s.spare = batch[:0]
	if (rest > 0 || len(s.pending) > 0) && !s.armed && !s.closed {
		s.arm()
	}
	s.mu.Unlock()
}

// warmAhead is how many ready events a flush loads the packets of at once.
const warmAhead = 16

// warm loads the head of the packets of the ready events from i on, up to
// warmAhead of them, and returns where it stopped. A flush handles
// packets that waited behind thousands of others (in the batch, or in a
// link's delay line), long gone from the cache: loaded one at a time as
// each was handled, each load was a stall (reading a packet's addresses in
// socketOf and Host.transmit took 5% of a 64-client room's CPU). Loaded
// here in a loop that does nothing else, the loads do not wait on each
// other and are in flight together.
func (s *serial) warm(i int) int {
	end := min(i+warmAhead, len(s.ready))
	var sum uint
	for j := i; j < end; j++ {
		// The head's first two cache lines: proto in the first, the
		// destination in the second.
		p := s.ready[j].pkt
		sum += uint(p.proto) + uint(p.dst.Port())
	}
	s.warmth += sum
	return end
}

// order sorts a batch by time, lane and place in the lane, the order in
// which a flush handles events. A batch comes in the order its events
// came (by seq, and so by time: both are taken under mu), so each run of
// one instant's events is put in lane order by a stable counting sort of
// its lanes, which keeps each lane's events in their order: the order a
// comparison sort of (at, key, seq) gives, for a fraction of its cost
// (it was 2.3% of a 32-client room's CPU, moving 80-byte events).
func (s *serial) order(batch []instantEvent) {
	for start := 0; start < len(batch); {
		end := start + 1
		for end < len(batch) && batch[end].at == batch[start].at {
			end++
		}
		s.orderLanes(batch[start:end])
		start = end
	}
}

// orderLanes puts run, events of one instant in the order they came, in
// lane order, each lane's events in the order they came.
func (s *serial) orderLanes(run []instantEvent) {
	if len(run) < 2 {
		return
	}
	if s.lanes == nil {
		s.lanes = map[uint64]int32{}
	}
	clear(s.lanes)
	s.laneKeys, s.laneOf = s.laneKeys[:0], s.laneOf[:0]
	inOrder := true // the lanes' first events already come in lane order, none interleaved
	last := int32(-1)
	for i := range run {
		k := run[i].key
		lane, ok := s.lanes[k]
		if !ok {
			lane = int32(len(s.laneKeys))
			s.lanes[k] = lane
			s.laneKeys = append(s.laneKeys, k)
			if lane > 0 && k < s.laneKeys[lane-1] {
				inOrder = false
			}
		} else if lane != last {
			inOrder = false // a lane resumes after another's
		}
		last = lane
		s.laneOf = append(s.laneOf, lane)
	}
	if inOrder {
		return
	}
	lanes := len(s.laneKeys)
	// ranks: the lanes by key (a small sort: lanes, not events).
	byKey := s.starts[:0]
	for l := range lanes {
		byKey = append(byKey, int32(l))
	}
	slices.SortFunc(byKey, func(a, b int32) int { return cmp.Compare(s.laneKeys[a], s.laneKeys[b]) })
	s.ranks = slices.Grow(s.ranks[:0], lanes)[:lanes]
	for place, l := range byKey {
		s.ranks[l] = int32(place)
	}
	// starts: each place's first slot, from the lanes' sizes.
	s.starts = slices.Grow(byKey[:0], lanes+1)[:lanes+1]
	clear(s.starts)
	for _, l := range s.laneOf {
		s.starts[s.ranks[l]+1]++
	}
	for p := 1; p <= lanes; p++ {
		s.starts[p] += s.starts[p-1]
	}
	s.sorted = slices.Grow(s.sorted[:0], len(run))[:len(run)]
	for i, l := range s.laneOf {
		p := s.ranks[l]
		s.sorted[s.starts[p]] = run[i]
		s.starts[p]++
	}
	copy(run, s.sorted)
	clear(s.sorted)
}

// arm sets the timer for the next flush. The caller holds mu.
func (s *serial) arm() {
	s.armed = true
	if s.timer == nil {
		s.timer = time.AfterFunc(serialStep, s.flush)
	} else {
		s.timer.Reset(serialStep)
	}
}

// reached notes that pkt reached host h. Only a flush calls it.
func (s *serial) reached(h *Host, pkt *packet) {
	if _, ok := s.woke[h]; !ok && s.woke != nil {
		s.woke[h] = socketOf(pkt)
	}
}

// close drops what is pending and waits for a batch being handled.
func (s *serial) close() {
	s.mu.Lock()
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
	pending := s.pending
	s.pending = nil
	s.mu.Unlock()
	s.run.Lock()
	ready := s.ready
	s.ready = nil
	s.run.Unlock()
	for _, e := range pending {
		e.pkt.release()
	}
	for _, e := range ready {
		e.pkt.release()
	}
}

func (h hop) net() *Network {
	if h.host != nil {
		return h.host.net
	}
	return h.router.net
}
