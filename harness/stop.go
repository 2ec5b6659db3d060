package harness

import (
	"context"
	"time"
)

// stopPoll is how often, on the run's clock, a run asks its stop function
// whether to end. A fake-clock run cannot wait on a channel from outside its
// bubble (the bubble would never be durably blocked), so it polls.
const stopPoll = 100 * time.Millisecond

// WithStop ends the run early, as an interrupted run, once stop reports
// true. stop is polled on the run's clock, so it works inside a
// testing/synctest bubble where a context from outside cannot be used; it
// must be safe to call from any goroutine. The icelab command uses it to
// end fake-clock runs on SIGINT.
func WithStop(stop func() bool) Option { return func(o *options) { o.stop = stop } }

// waitCall waits for the call's duration d. It reports whether the call
// ran its full duration: false when ctx ended or stop reported true first.
func waitCall(ctx context.Context, d time.Duration, stop func() bool) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	var poll <-chan time.Time
	if stop != nil {
		if stop() {
			return false
		}
		t := time.NewTicker(stopPoll)
		defer t.Stop()
		poll = t.C
	}
	for {
		select {
		case <-timer.C:
			return true
		case <-ctx.Done():
			return false
		case <-poll:
			if stop() {
				return false
			}
		}
	}
}
