package vnet

import "time"

// server is a link's capacity: it sends the queue's packets one at a time.
type server interface {
	// finish returns when a packet of size bytes whose sending starts
	// at start (the server being idle then) has been sent.
	finish(start time.Duration, size int) time.Duration
	// rate returns the capacity in bits per second, a trace's mean: what
	// sizes a queue bounded in time.
	rate() int64
}

func newServer(im Impairment, at time.Duration) server {
	switch {
	case im.Trace != nil:
		return newTraceServer(im.Trace, at)
	case im.Bandwidth > 0:
		return rateServer(im.Bandwidth)
	}
	return nil
}

// rateServer sends at a constant rate in bits per second. A packet being
// sent when a schedule changes the rate finishes at the old one.
type rateServer int64

func (r rateServer) finish(start time.Duration, size int) time.Duration {
	return start + time.Duration(int64(size)*8*int64(time.Second)/int64(r))
}

func (r rateServer) rate() int64 { return int64(r) }
