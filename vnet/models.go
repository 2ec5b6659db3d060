package vnet

import (
	"time"
)

// models are the parts of a link direction that its impairment chooses,
// each behind a small interface so that a new model is one file: what the
// wire loses (loss.go), what the queue drops and sends next (queue.go,
// codel.go), when the server has sent a packet (capacity.go, trace.go).
// The wire's delay is one struct, wireDelay.
type models struct {
	delays bool // anything in the impairment can make a packet late
	loss   lossModel
	disc   discipline
	server server // nil: no capacity limit, nothing queues
	limit  queueLimit
	delay  wireDelay
}

// build makes the direction's models for im from time at on. A model
// whose parameters did not change keeps its state: a Gilbert–Elliott
// chain its state, CoDel its drop schedule, a trace its place. The caller
// holds mu.
func (ld *linkDir) build(im Impairment, at time.Duration) {
	old, first := ld.cur, ld.loss == nil
	ld.cur = im
	ld.delays = im.delays()
	if first || im.Loss != old.Loss || im.LossBurst != old.LossBurst {
		ld.loss = newLossModel(im.Loss, im.LossBurst)
		for _, fs := range ld.flows {
			fs.bad = false // a new chain starts good, in every flow
		}
	}
	if first || im.Discipline != old.Discipline || im.codelTarget() != old.codelTarget() || im.codelInterval() != old.codelInterval() {
		ld.disc = newDiscipline(im)
	}
	if first || im.Bandwidth != old.Bandwidth || im.Trace != old.Trace {
		ld.server = newServer(im, at)
	}
	ld.limit = newQueueLimit(im)
	ld.delay = wireDelay{latency: im.Latency, jitter: im.Jitter, reorder: im.Reorder, hold: im.reorderDelay()}
}

// wireDelay is how long a packet spends on the wire: the latency, a
// uniform random extra up to the jitter, and, for a fraction reorder of
// packets, a hold that lets the packets behind overtake it.
type wireDelay struct {
	latency, jitter time.Duration
	reorder         float64
	hold            time.Duration
}

func (w wireDelay) sample(r draw) time.Duration {
	d := w.latency
	if w.jitter > 0 {
		d += time.Duration(r.Float64() * float64(w.jitter))
	}
	if w.reorder > 0 && r.Float64() < w.reorder {
		d += w.hold
	}
	return d
}
