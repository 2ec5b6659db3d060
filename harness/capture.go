package harness

import (
	"slices"
	"sync"
	"time"

	"github.com/icelab/icelab/vnet"
)

// Capture says which packets a run keeps in Result.Packets, with every
// event about each on its path (each link it crossed, the NATs that
// translated it, where it ended), so a capture shows a packet before and
// after a NAT. The selections add up; the zero value keeps nothing.
type Capture struct {
	// First keeps the first First packets of the call.
	First int
	// Last keeps the last Last packets: what led up to the end of the call
	// (a ring buffer).
	Last int
	// From and To keep the packets first seen in that window of the call,
	// on the run's clock; To zero means the end.
	From, To time.Duration
	// AroundFaults keeps the packets first seen within this long before or
	// after each fault, so a fault 5.4 s into a video call is in the
	// capture however many packets came before it.
	AroundFaults time.Duration
}

func (c Capture) enabled() bool {
	return c.First > 0 || c.Last > 0 || c.From > 0 || c.To > 0 || c.AroundFaults > 0
}

// capturer selects and keeps packets for a run. Safe for concurrent use.
type capturer struct {
	sel   Capture
	since func(time.Time) time.Duration // a packet's time on the run's clock

	mu      sync.Mutex
	packets map[uint64]*captured // every packet being watched, by number
	order   []uint64             // their numbers in order of first sight
	firsts  int                  // packets kept as among the first
	faults  []time.Duration      // when faults were applied
}

type captured struct {
	first  time.Duration
	events []vnet.Event
	keep   bool // selected by First, a window or a fault
}

func newCapturer(sel Capture, since func(time.Time) time.Duration) *capturer {
	return &capturer{sel: sel, since: since, packets: map[uint64]*captured{}}
}

// event records e, copying its payload, if its packet is or may be kept.
func (c *capturer) event(e vnet.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.packets[e.Packet]
	if p == nil {
		at := c.since(e.Time)
		p = &captured{first: at}
		if c.sel.First > 0 && c.firsts < c.sel.First {
			p.keep = true
			c.firsts++
		}
		if (c.sel.From > 0 || c.sel.To > 0) && at >= c.sel.From && (c.sel.To == 0 || at <= c.sel.To) {
			p.keep = true
		}
		for _, f := range c.faults {
			if at <= f+c.sel.AroundFaults {
				p.keep = true
			}
		}
		if !p.keep && c.sel.Last == 0 && c.sel.AroundFaults == 0 {
			return // nothing could select it later
		}
		c.packets[e.Packet] = p
		c.order = append(c.order, e.Packet)
		c.trim(at)
	}
	e.Payload = append([]byte(nil), e.Payload...)
	p.events = append(p.events, e)
}

// trim forgets the packets nothing can select any more: not kept, older
// than AroundFaults, and not among the last Last.
func (c *capturer) trim(now time.Duration) {
	if len(c.order) < 2*max(c.sel.Last, 64) {
		return
	}
	keepFrom := len(c.order) - c.sel.Last
	out := c.order[:0]
	for i, n := range c.order {
		p := c.packets[n]
		if p.keep || i >= keepFrom || now-p.first <= c.sel.AroundFaults {
			out = append(out, n)
			continue
		}
		delete(c.packets, n)
	}
	c.order = out
}

// fault keeps the packets first seen within AroundFaults before at, and
// makes those up to AroundFaults after it kept too.
func (c *capturer) fault(at time.Duration) {
	if c.sel.AroundFaults == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = append(c.faults, at)
	for _, p := range c.packets {
		if p.first >= at-c.sel.AroundFaults {
			p.keep = true
		}
	}
}

// result returns the kept packets' events in the order their packets were
// first seen.
func (c *capturer) result() []vnet.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	lastFrom := len(c.order) - c.sel.Last
	var out []vnet.Event
	for i, n := range c.order {
		if p := c.packets[n]; p.keep || (c.sel.Last > 0 && i >= lastFrom) {
			out = append(out, p.events...)
		}
	}
	return slices.Clip(out)
}
