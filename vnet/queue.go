package vnet

import "time"

// discipline picks the packet the server sends next, and may drop packets
// on the way as an active queue manager does at dequeue (RFC 8289). What
// may join the queue is the queue limit's to say.
type discipline interface {
	// dequeue removes the next packet to send at now from q; false when
	// q is empty (or the discipline dropped all it held).
	dequeue(q *fifo, now time.Duration, d dropper) (qentry, bool)
}

// dropper takes the packets a discipline drops.
type dropper interface {
	aqmDrop(e qentry, at time.Duration, reason string)
}

func newDiscipline(im Impairment) discipline {
	if im.Discipline == CoDel {
		return newCoDel(im.codelTarget(), im.codelInterval())
	}
	return dropTail{}
}

// dropTail sends packets in the order they came; the queue limit drops
// the arrivals that do not fit.
type dropTail struct{}

func (dropTail) dequeue(q *fifo, _ time.Duration, _ dropper) (qentry, bool) {
	if q.len() == 0 {
		return qentry{}, false
	}
	return q.pop(), true
}

// Default queue limits: a drop-tail queue of 64 KiB, as vnet's links had
// before queues could be sized otherwise, and Linux sch_codel's limit of
// 1000 packets (DEFAULT_CODEL_LIMIT), CoDel's queue being meant to be
// large and kept short by its control law.
const (
	defaultQueueBytes   = 64 << 10
	defaultCoDelPackets = 1000
)

// queueLimit bounds the queue, the packet being sent included, in
// packets, bytes, and time at the link's capacity; zero fields do not
// bound. A packet arriving at an idle, empty link is always taken, so a
// limit below one packet slows a link rather than silencing it.
type queueLimit struct {
	packets, bytes int
	delay          time.Duration
}

func newQueueLimit(im Impairment) queueLimit {
	l := queueLimit{packets: im.QueuePackets, bytes: im.QueueBytes, delay: im.QueueDelay}
	if l == (queueLimit{}) {
		if im.Discipline == CoDel {
			l.packets = defaultCoDelPackets
		} else {
			l.bytes = defaultQueueBytes
		}
	}
	return l
}

// admits reports whether a packet of size bytes may join q while the
// server sends one of inService bytes (zero: idle).
func (l queueLimit) admits(q *fifo, inService, size int, s server) bool {
	if q.len() == 0 && inService == 0 {
		return true
	}
	packets, bytes := q.len()+1, q.bytes+inService+size
	if inService > 0 {
		packets++
	}
	switch {
	case l.packets > 0 && packets > l.packets:
		return false
	case l.bytes > 0 && bytes > l.bytes:
		return false
	case l.delay > 0 && int64(bytes)*8*int64(time.Second) > int64(l.delay)*s.rate():
		return false
	}
	return true
}
