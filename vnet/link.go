package vnet

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Direction is the way a packet crosses a link: up, away from the host
// towards the internet, or down towards the host.
type Direction uint8

// Link directions.
const (
	Up Direction = iota
	Down
)

func (d Direction) String() string {
	if d == Up {
		return "up"
	}
	return "down"
}

// Impairment is what a link does to the packets that cross it one way.
// The zero value is a perfect link.
type Impairment struct {
	// Latency delays every packet by this much.
	Latency time.Duration
	// Jitter adds to each packet's delay a random extra between zero and
	// this much, chosen independently per packet, so packets reorder as
	// they do on real paths.
	Jitter time.Duration
	// Loss is the probability, from 0 to 1, that a packet is lost.
	Loss float64
	// Bandwidth caps the rate in bits per second; zero is unlimited. Packets
	// wait in a queue while the link serialises earlier ones.
	Bandwidth int64
	// QueueBytes bounds that queue; a packet that does not fit is dropped.
	// Zero means 64 KiB. It applies only with a bandwidth cap.
	QueueBytes int
}

func (im Impairment) delays() bool {
	return im.Latency > 0 || im.Jitter > 0 || im.Bandwidth > 0
}

func (im Impairment) validate() error {
	switch {
	case im.Latency < 0:
		return fmt.Errorf("latency %v is negative", im.Latency)
	case im.Jitter < 0:
		return fmt.Errorf("jitter %v is negative", im.Jitter)
	case im.Loss < 0 || im.Loss > 1:
		return fmt.Errorf("loss %v is not between 0 and 1", im.Loss)
	case im.Bandwidth < 0:
		return fmt.Errorf("bandwidth %d is negative", im.Bandwidth)
	case im.QueueBytes < 0:
		return fmt.Errorf("queue size %d is negative", im.QueueBytes)
	}
	return nil
}

const defaultQueueBytes = 64 << 10

// Link joins a host's interface, or a router's WAN side, to the router above
// it. Impairments and cuts belong to links, so one host's bad Wi-Fi does not
// slow its neighbours.
type Link struct {
	name string
	net  *Network

	mu   sync.Mutex
	dirs [2]linkDir
	cut  bool
	// epoch counts cuts: a packet in flight when the link is cut is lost.
	epoch uint64

	mtu atomic.Pointer[MTU] // nil: no limit; in mtu.go
}

type linkDir struct {
	imp Impairment
	// busyUntil is when the link finishes serialising what is queued.
	busyUntil time.Time
}

func newLink(n *Network, name string) *Link {
	return &Link{name: name, net: n}
}

// Name returns the link's name, such as "alice-eth0" or "office-wan".
func (l *Link) Name() string { return l.name }

// Impair sets the impairment of both directions.
func (l *Link) Impair(im Impairment) error {
	if err := l.ImpairDirection(Up, im); err != nil {
		return err
	}
	return l.ImpairDirection(Down, im)
}

// ImpairDirection sets the impairment of one direction.
func (l *Link) ImpairDirection(d Direction, im Impairment) error {
	if err := im.validate(); err != nil {
		return fmt.Errorf("link %s: %w", l.name, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dirs[d].imp = im
	return nil
}

// Impairment returns the impairment of one direction.
func (l *Link) Impairment(d Direction) Impairment {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dirs[d].imp
}

// Cut makes the link drop everything, including packets already in flight,
// until Restore.
func (l *Link) Cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = true
	l.epoch++
}

// Restore ends a cut.
func (l *Link) Restore() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = false
}

// IsCut reports whether the link is cut.
func (l *Link) IsCut() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cut
}

// send carries pkt across the link in direction d and hands it to next,
// now or after the link's delay. It takes ownership of pkt.
func (l *Link) send(d Direction, pkt *packet, next func(*packet)) {
	if l.checkMTU(d, pkt, next) {
		return
	}
	l.mu.Lock()
	if l.cut {
		l.mu.Unlock()
		l.net.drop(l.name, pkt, "link cut")
		return
	}
	dir := &l.dirs[d]
	im := dir.imp
	if im.Loss > 0 && l.net.random() < im.Loss {
		l.mu.Unlock()
		l.net.drop(l.name, pkt, "link loss")
		return
	}
	if !im.delays() {
		l.mu.Unlock()
		l.net.taps.emit(l.name, pkt, Forwarded, "")
		next(pkt)
		return
	}
	now := time.Now()
	depart := now
	if im.Bandwidth > 0 {
		start := dir.busyUntil
		if start.Before(now) {
			start = now
		}
		limit := im.QueueBytes
		if limit == 0 {
			limit = defaultQueueBytes
		}
		backlog := int64(start.Sub(now)) * im.Bandwidth / 8 / int64(time.Second)
		if backlog+int64(pkt.size()) > int64(limit) {
			l.mu.Unlock()
			l.net.drop(l.name, pkt, "link queue full")
			return
		}
		depart = start.Add(time.Duration(int64(pkt.size()) * 8 * int64(time.Second) / im.Bandwidth))
		dir.busyUntil = depart
	}
	at := depart.Add(im.Latency)
	if im.Jitter > 0 {
		at = at.Add(time.Duration(l.net.random() * float64(im.Jitter)))
	}
	epoch := l.epoch
	l.mu.Unlock()
	l.net.sched.at(at, func() {
		l.mu.Lock()
		lost := l.epoch != epoch
		l.mu.Unlock()
		if lost {
			l.net.drop(l.name, pkt, "link cut")
			return
		}
		l.net.taps.emit(l.name, pkt, Forwarded, "")
		next(pkt)
	})
}
