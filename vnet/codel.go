package vnet

import (
	"math"
	"time"
)

// RFC 8289 section 4.3's and 4.4's defaults.
const (
	defaultCoDelTarget   = 5 * time.Millisecond
	defaultCoDelInterval = 100 * time.Millisecond
)

func (im Impairment) codelTarget() time.Duration {
	if im.CoDelTarget > 0 {
		return im.CoDelTarget
	}
	return defaultCoDelTarget
}

func (im Impairment) codelInterval() time.Duration {
	if im.CoDelInterval > 0 {
		return im.CoDelInterval
	}
	return defaultCoDelInterval
}

// codel is Controlled Delay active queue management as RFC 8289 section 5
// specifies it. It watches each packet's sojourn time, the time it waited
// in the queue, as the packet leaves. Once sojourn times have stayed above
// target for a whole interval, it enters a dropping state: it drops the
// packet at the head, and drops again at intervals of interval/sqrt(count)
// (the control law), count being the drops so far, until a sojourn time
// falls below target. Re-entering the dropping state soon after leaving
// it resumes near the drop rate that last controlled the queue (the Linux
// variant the RFC gives). While the queue holds no more than one packet
// of the largest size seen, it never drops, so a slow link stays busy.
type codel struct {
	target, interval time.Duration

	above      bool          // sojourn times are above target...
	firstAbove time.Duration // ...and may drop from this time on
	dropping   bool
	dropNext   time.Duration
	count      int
	lastCount  int
}

func newCoDel(target, interval time.Duration) *codel {
	return &codel{target: target, interval: interval}
}

// controlLaw returns when the next drop is due: interval/sqrt(count)
// after t.
func (c *codel) controlLaw(t time.Duration, count int) time.Duration {
	return t + time.Duration(float64(c.interval)/math.Sqrt(float64(count)))
}

// doDequeue takes the head packet and says whether CoDel may drop it:
// RFC 8289's dodequeue.
func (c *codel) doDequeue(q *fifo, now time.Duration) (e qentry, ok, okToDrop bool) {
	if q.len() == 0 {
		c.above = false
		return qentry{}, false, false
	}
	e = q.pop()
	switch sojourn := now - e.arrived; {
	case sojourn < c.target || q.bytes <= q.maxPacket:
		c.above = false
	case !c.above:
		c.above, c.firstAbove = true, now+c.interval
	case now >= c.firstAbove:
		okToDrop = true
	}
	return e, true, okToDrop
}

// dequeue is RFC 8289's dequeue.
func (c *codel) dequeue(q *fifo, now time.Duration, d dropper) (qentry, bool) {
	e, ok, okToDrop := c.doDequeue(q, now)
	switch {
	case c.dropping:
		if !okToDrop {
			c.dropping = false
		}
		for c.dropping && now >= c.dropNext {
			d.aqmDrop(e, now, "link CoDel drop")
			c.count++
			if e, ok, okToDrop = c.doDequeue(q, now); !okToDrop {
				c.dropping = false
			} else {
				c.dropNext = c.controlLaw(c.dropNext, c.count)
			}
		}
	case okToDrop:
		d.aqmDrop(e, now, "link CoDel drop")
		e, ok, _ = c.doDequeue(q, now)
		c.dropping = true
		delta := c.count - c.lastCount
		c.count = 1
		if delta > 1 && now-c.dropNext < 16*c.interval {
			c.count = delta
		}
		c.dropNext = c.controlLaw(now, c.count)
		c.lastCount = c.count
	}
	return e, ok
}
