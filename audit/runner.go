package audit

import (
	"context"
	"sync"
	"testing"

	"github.com/icelab/icelab/harness"
)

// TestRunner runs an audit's cells from a Go test, each with harness.RunT
// on T: in a testing/synctest bubble of its own unless it needs the real
// clock. It is harness/fakeclock's Runner for code that already has a
// *testing.T, such as a Ginkgo suite's. It bounds parallelism itself
// rather than with t.Parallel, whose bound (go test -parallel, GOMAXPROCS
// by default) would queue real-clock cells that spend their time waiting.
type TestRunner struct {
	T *testing.T
}

// Run implements Runner.
func (r TestRunner) Run(specs []harness.Spec, parallel int, stop func() bool, done func(i int, res harness.Result), opts ...harness.Option) {
	r.T.Helper()
	concurrently(specs, parallel, stop, done, opts, func(spec harness.Spec, opts []harness.Option) harness.Result {
		return harness.RunT(r.T, spec, opts...)
	})
}

// RealClockRunner runs every cell on the machine's clock until Ctx ends:
// the runner for a program without harness/fakeclock.
type RealClockRunner struct {
	Ctx context.Context
}

// Run implements Runner.
func (r RealClockRunner) Run(specs []harness.Spec, parallel int, stop func() bool, done func(i int, res harness.Result), opts ...harness.Option) {
	concurrently(specs, parallel, stop, done, opts, func(spec harness.Spec, opts []harness.Option) harness.Result {
		return harness.Run(r.Ctx, spec, opts...)
	})
}

// concurrently runs specs with run, at most parallel at once (all when
// parallel < 1), each stopped early once stop reports true, and reports each
// to done as it ends.
func concurrently(specs []harness.Spec, parallel int, stop func() bool, done func(int, harness.Result), opts []harness.Option,
	run func(harness.Spec, []harness.Option) harness.Result) {
	if parallel < 1 {
		parallel = len(specs)
	}
	if stop != nil {
		opts = append(opts[:len(opts):len(opts)], harness.WithStop(stop))
	}
	slots := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, spec := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			done(i, run(spec, opts))
		}()
	}
	wg.Wait()
}
