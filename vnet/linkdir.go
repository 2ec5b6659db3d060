package vnet

import (
	"sync"
	"sync/atomic"
	"time"
)

// linkDir is one direction of a link, a small discrete-event simulation
// run on the network's clock. A packet entering it goes through four
// models, each an interface with one job, built from the direction's
// Impairment by models.go:
//
//	queue (discipline) ─► server (capacity) ─► wire loss ─► delay line ─► next hop
//
// The queue holds packets waiting for the server: a discipline (drop-tail,
// CoDel) picks what leaves it and what is dropped on the way, and a limit
// in packets, bytes or time what may join it. The server sends one packet
// at a time at the link's capacity (a constant rate, or a trace's delivery
// opportunities). A packet leaving the server may be lost on the wire
// (independent or burst loss); otherwise it spends the wire's delay
// (latency, jitter, reordering) in the delay line and is handed on. A
// schedule swaps the models at given times.
//
// Events are computed in time order from the times packets arrived, so a
// late wake on the real clock does not shift them. Packets are handed on
// by the direction's own goroutine, started with its first delayed packet,
// in the order of their arrival times: directions run in parallel, and a
// delayed packet costs no allocation. A direction that delays nothing
// hands packets on from the sender's goroutine.
type linkDir struct {
	// What every packet reads, in the line its lock is in: the link's
	// network and name and the MTU, copied from the link (whose own line
	// was a cache miss for every packet sent, 1% of a 64-client room's
	// CPU, in Host.egress).
	link *Link
	net  *Network
	name string
	mtu  atomic.Pointer[MTU] // the link's (see Link.SetMTU); nil: no limit
	dir  Direction

	mu  sync.Mutex
	imp Impairment // as set
	cur Impairment // in force: imp, or its schedule's latest step
	// origin is when imp was set, on the network's clock; the schedule's
	// steps count from it, and next is the index of the next one.
	origin time.Duration
	next   int
	cut    bool
	// seed and flows give each packet its random draws (draws.go).
	seed  uint64
	flows map[linkFlow]*linkFlowState
	models

	queue     fifo
	busy      bool   // the server is sending inService
	inService qentry // until doneAt
	doneAt    time.Duration
	wire      delayLine

	// out is the runner's batch of packets to hand on; only it uses out.
	out []wentry
	// run is the direction's goroutine, nil until needed; wake is when it
	// is set to wake next (never: forever).
	run  *runner
	wake time.Duration

	// Pad to whole cache lines, so that the down direction's lock does
	// not share a line with the up direction's runner state (see Link).
	_ [16]byte
}

// forever is a time no event reaches.
const forever = time.Duration(1<<63 - 1)

// qentry is a packet in the queue: where it goes next and when it joined.
type qentry struct {
	pkt     *packet
	to      hop
	arrived time.Duration
}

func (ld *linkDir) init(l *Link, d Direction) {
	ld.link, ld.net, ld.name, ld.dir = l, l.net, l.name, d
	ld.seed = l.net.linkSeed(l.name, d)
	ld.wake = forever
	ld.build(Impairment{}, 0)
}

func (ld *linkDir) impairment() Impairment {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return ld.imp
}

// impair sets the direction's impairment from now on.
func (ld *linkDir) impair(im Impairment) {
	ld.mu.Lock()
	now := ld.net.now()
	ld.advance(now)
	ld.imp, ld.origin, ld.next = im, now, 0
	ld.build(im.step(), now)
	ld.advance(now) // a first step at offset zero, a queue with no server left
	ld.kick()
	ld.mu.Unlock()
}

// step returns the impairment without its schedule: what a link applies.
func (im Impairment) step() Impairment {
	im.Schedule = nil
	return im
}

func (ld *linkDir) isCut() bool {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return ld.cut
}

// setCut cuts or restores the direction; a cut loses everything queued or
// in flight.
func (ld *linkDir) setCut(cut bool) {
	ld.mu.Lock()
	ld.cut = cut
	var lost []wentry
	if cut {
		lost = ld.takeAll()
	}
	ld.mu.Unlock()
	for _, e := range lost {
		reason := e.reason // already lost on the wire: say why
		if reason == "" {
			reason = "link cut"
		}
		ld.net.drop(ld.name, e.pkt, reason)
	}
}

// takeAll empties the queue, the server and the wire. The caller holds mu.
func (ld *linkDir) takeAll() []wentry {
	var all []wentry
	for ld.queue.len() > 0 {
		all = append(all, wentry{pkt: ld.queue.pop().pkt})
	}
	if ld.busy {
		all = append(all, wentry{pkt: ld.inService.pkt})
		ld.busy, ld.inService = false, qentry{}
	}
	for ld.wire.len() > 0 {
		all = append(all, ld.wire.pop())
	}
	return all
}

// send takes a packet entering the direction.
func (ld *linkDir) send(pkt *packet, to hop) {
	n := ld.net
	ld.mu.Lock()
	if ld.cut {
		ld.mu.Unlock()
		n.drop(ld.name, pkt, "link cut")
		return
	}
	now := n.now()
	ld.advance(now)
	if !ld.delays && !ld.busy && ld.wire.len() == 0 {
		// Nothing delays the packet and nothing is ahead of it: it
		// crosses now, on the sender's goroutine.
		lost := false
		if _, none := ld.loss.(noLoss); !none {
			r, fs := ld.drawsFor(pkt)
			lost = ld.loss.lose(&r, &fs.bad)
		}
		ld.mu.Unlock()
		if lost {
			n.drop(ld.name, pkt, "link loss")
			return
		}
		n.taps.emit(ld.name, pkt, Forwarded, "")
		to.take(pkt)
		return
	}
	e := qentry{pkt: pkt, to: to, arrived: now}
	if ld.server == nil {
		ld.depart(now, e)
	} else {
		if !ld.limit.admits(&ld.queue, ld.inServiceSize(), pkt.size(), ld.server) {
			ld.mu.Unlock()
			n.drop(ld.name, pkt, "link queue full")
			return
		}
		ld.queue.push(e)
		if !ld.busy {
			ld.serve(now)
		}
	}
	if !ld.kick() {
		// The network is closed: nothing will carry what is queued.
		lost := ld.takeAll()
		ld.mu.Unlock()
		release(lost)
		return
	}
	ld.mu.Unlock()
}

func release(es []wentry) {
	for _, e := range es {
		e.pkt.release()
	}
}

func (ld *linkDir) inServiceSize() int {
	if ld.busy {
		return ld.inService.pkt.size()
	}
	return 0
}

// advance runs the direction's events up to now, in time order: the
// server finishing packets and the schedule's steps. The caller holds mu.
func (ld *linkDir) advance(now time.Duration) {
	for {
		stepAt := forever
		if s := ld.imp.Schedule; s != nil && ld.next < len(s.Steps) {
			stepAt = ld.origin + s.Steps[ld.next].At
		}
		switch {
		case ld.busy && ld.doneAt <= now && ld.doneAt <= stepAt:
			e, at := ld.inService, ld.doneAt
			ld.busy, ld.inService = false, qentry{}
			ld.depart(at, e)
			ld.serve(at)
		case stepAt <= now:
			ld.build(ld.imp.Schedule.Steps[ld.next].Impairment.step(), stepAt)
			ld.next++
			if !ld.busy {
				ld.serve(stepAt)
			}
		default:
			return
		}
	}
}

// serve starts sending the next packet the discipline gives at time t, or
// sends everything queued at once when the link no longer has a capacity.
// The caller holds mu and the server is idle.
func (ld *linkDir) serve(t time.Duration) {
	for ld.queue.len() > 0 {
		e, ok := ld.disc.dequeue(&ld.queue, t, ld)
		if !ok {
			return
		}
		if ld.server == nil {
			ld.depart(t, e)
			continue
		}
		ld.busy, ld.inService = true, e
		ld.doneAt = ld.server.finish(t, e.pkt.size())
		return
	}
}

// aqmDrop is how a discipline drops a packet it dequeued at t.
func (ld *linkDir) aqmDrop(e qentry, t time.Duration, reason string) {
	ld.wire.push(wentry{at: t, pkt: e.pkt, reason: reason})
}

// depart puts a packet the server finished at t on the wire: it is lost,
// or arrives after the wire's delay.
func (ld *linkDir) depart(t time.Duration, e qentry) {
	r, fs := ld.drawsFor(e.pkt)
	if ld.loss.lose(&r, &fs.bad) {
		ld.wire.push(wentry{at: t, pkt: e.pkt, reason: "link loss"})
		return
	}
	ld.wire.push(wentry{at: t + ld.delay.sample(&r), pkt: e.pkt, to: e.to})
}

// nextEvent returns when the direction next has something to do.
func (ld *linkDir) nextEvent() time.Duration {
	t := forever
	if ld.wire.len() > 0 {
		t = ld.wire.min()
	}
	if ld.busy && ld.doneAt < t {
		t = ld.doneAt
	}
	return t
}

// kick makes sure the direction's goroutine wakes in time for its next
// event, starting it if need be. It reports false when the network is
// closed and nothing will run. The caller holds mu.
func (ld *linkDir) kick() bool {
	t := ld.nextEvent()
	if t >= ld.wake {
		return true
	}
	if ld.run == nil {
		ld.run = newRunner()
		if !ld.net.startRunner(ld) {
			return false
		}
	}
	ld.wake = t
	ld.run.poke()
	return true
}

// loop is the direction's goroutine: it wakes for the next event, runs
// the events that are due and hands on the packets whose time has come.
func (ld *linkDir) loop() {
	r := ld.run
	defer close(r.exited)
	timer := time.NewTimer(forever)
	defer timer.Stop()
	n := ld.net
	for {
		ld.mu.Lock()
		now := n.now()
		ld.advance(now)
		for ld.wire.len() > 0 && ld.wire.min() <= now {
			ld.out = append(ld.out, ld.wire.pop())
		}
		ld.wake = ld.nextEvent()
		wait := ld.wake - now
		ld.mu.Unlock()

		if len(ld.out) > 0 {
			for i, e := range ld.out {
				switch {
				case e.reason != "":
					n.drop(ld.name, e.pkt, e.reason)
				case n.serial != nil:
					n.serial.handedOn(ld, e.to, e.pkt)
				default:
					n.taps.emit(ld.name, e.pkt, Forwarded, "")
					e.to.take(e.pkt)
				}
				ld.out[i] = wentry{}
			}
			ld.out = ld.out[:0]
			continue // handing them on took time; look again
		}
		if wait < forever {
			timer.Reset(wait)
		}
		select {
		case <-r.done:
			return
		case <-r.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// runner is a direction's goroutine's controls.
type runner struct {
	wake   chan struct{}
	done   chan struct{}
	exited chan struct{}
}

func newRunner() *runner {
	return &runner{wake: make(chan struct{}, 1), done: make(chan struct{}), exited: make(chan struct{})}
}

func (r *runner) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// stop ends the direction's goroutine and drops what it still holds.
func (ld *linkDir) stop() {
	close(ld.run.done)
	<-ld.run.exited
	ld.mu.Lock()
	lost := ld.takeAll()
	ld.mu.Unlock()
	release(lost)
}

// fifo is a ring of queued packets that tracks their bytes.
type fifo struct {
	ring  []qentry
	head  int
	n     int
	bytes int
	// maxPacket is the largest packet that has joined, for CoDel.
	maxPacket int
}

func (q *fifo) len() int { return q.n }

func (q *fifo) push(e qentry) {
	if q.n == len(q.ring) {
		grown := make([]qentry, max(16, 2*len(q.ring)))
		for i := 0; i < q.n; i++ {
			grown[i] = q.ring[(q.head+i)%len(q.ring)]
		}
		q.ring, q.head = grown, 0
	}
	q.ring[(q.head+q.n)%len(q.ring)] = e
	q.n++
	size := e.pkt.size()
	q.bytes += size
	q.maxPacket = max(q.maxPacket, size)
}

func (q *fifo) pop() qentry {
	e := q.ring[q.head]
	q.ring[q.head] = qentry{}
	q.head = (q.head + 1) % len(q.ring)
	q.n--
	q.bytes -= e.pkt.size()
	return e
}

// wentry is a packet on the wire: it arrives at at, or, with a reason, was
// lost at at and is reported then.
type wentry struct {
	at     time.Duration
	seq    uint64
	pkt    *packet
	to     hop
	reason string
}

// delayLine is the wire: packets by arrival time and, for equal times, by
// the order they entered it. Packets that arrive in the order they entered,
// as on a wire without jitter or reordering, go through a ring at constant
// cost; those that overtake others go through a heap. Neither allocates
// once grown.
type delayLine struct {
	ring []wentry
	head int
	n    int
	heap timeHeap[wentry]
	seq  uint64
}

func (w *delayLine) len() int { return w.n + w.heap.len() }

// fromRing reports whether the next packet is the ring's.
func (w *delayLine) fromRing() bool {
	return w.heap.len() == 0 || w.n > 0 && w.ring[w.head].before(w.heap[0])
}

func (w *delayLine) min() time.Duration {
	if w.fromRing() {
		return w.ring[w.head].at
	}
	return w.heap[0].at
}

func (w *delayLine) push(e wentry) {
	w.seq++
	e.seq = w.seq
	if w.n > 0 && e.at < w.ring[(w.head+w.n-1)%len(w.ring)].at {
		w.heap.push(e) // it overtakes the ring's last packet
		return
	}
	if w.n == len(w.ring) {
		grown := make([]wentry, max(16, 2*len(w.ring)))
		for i := 0; i < w.n; i++ {
			grown[i] = w.ring[(w.head+i)%len(w.ring)]
		}
		w.ring, w.head = grown, 0
	}
	w.ring[(w.head+w.n)%len(w.ring)] = e
	w.n++
}

func (w *delayLine) pop() wentry {
	if !w.fromRing() {
		return w.heap.pop()
	}
	e := w.ring[w.head]
	w.ring[w.head] = wentry{}
	w.head = (w.head + 1) % len(w.ring)
	w.n--
	return e
}

func (e wentry) before(o wentry) bool {
	if e.at != o.at {
		return e.at < o.at
	}
	return e.seq < o.seq
}
