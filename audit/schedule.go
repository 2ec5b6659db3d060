package audit

import (
	"sync"
	"time"

	"github.com/icelab/icelab/harness"
)

// job is one call to run and what to do with its result.
type job struct {
	spec harness.Spec
	done func(harness.Result)
}

// wall is the wall time an audit's batches took.
type wall struct {
	fake, real  time.Duration
	interrupted bool
}

// schedule runs jobs in two phases, so that a real-clock call never shares
// the cores with fake-clock calls: first every fake-clock job, c.Parallel
// at once (they use the CPU, not the clock), then every real-clock job,
// c.RealParallel at once, in the order given. Callers that compare two
// configurations interleave their jobs (baseline, candidate, baseline, …),
// so that both see the same load at the same time rather than one after
// the other. done is called one at a time.
func schedule(r Runner, jobs []job, c Config) wall {
	var fake, real []job
	for _, j := range jobs {
		if j.spec.NeedsRealClock() {
			real = append(real, j)
		} else {
			fake = append(fake, j)
		}
	}
	var (
		mu sync.Mutex
		w  wall
	)
	batch := func(js []job, parallel int) time.Duration {
		if len(js) == 0 || (c.Stop != nil && c.Stop()) {
			return 0
		}
		specs := make([]harness.Spec, len(js))
		for i, j := range js {
			specs[i] = j.spec
		}
		start := time.Now()
		r.Run(specs, parallel, c.Stop, func(i int, res harness.Result) {
			mu.Lock()
			defer mu.Unlock()
			if res.Interrupted {
				w.interrupted = true
			}
			js[i].done(res)
		}, c.Options...)
		return time.Since(start)
	}
	w.fake = batch(fake, c.Parallel)
	w.real = batch(real, c.RealParallel)
	if c.Stop != nil && c.Stop() {
		w.interrupted = true
	}
	return w
}
