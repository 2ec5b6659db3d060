// Package fakeclock runs harness specs on a testing/synctest fake clock from
// a program that is not a test, such as the icelab command, where pion's
// production timers (ICE failed after 30 s, TURN refreshes) would otherwise
// cost their full time on the machine's clock.
//
// A bubble needs a *testing.T, which only the testing package makes. Main
// obtains one through testing.Main, the public entry point kept for
// programs that drive tests themselves: the program runs as the single test
// of a test binary it builds in memory, and each spec runs in a parallel
// subtest of its own with harness.RunT. The package's own test builds such
// a program and fails if a Go release changes what this relies on.
//
// It knows harness specs and results only; it must not know scenario files
// or reports.
package fakeclock

import (
	"flag"
	"os"
	"strconv"
	"testing"

	"github.com/icelab/icelab/harness"
)

// Main runs program with a Runner and exits the process with the status
// program returns. It never returns, and must be called once, from main,
// before anything else parses the standard flag set.
func Main(program func(*Runner) int) {
	testing.Init()
	// The program's own flags are not the testing package's: mark the
	// standard flag set parsed so testing.Main leaves os.Args alone, and
	// lift its bound on parallel subtests (Runner.Run bounds them itself).
	_ = flag.CommandLine.Parse(nil)
	_ = flag.Set("test.parallel", strconv.Itoa(1<<16))
	testing.Main(matchAll, []testing.InternalTest{{
		Name: "icelab",
		F: func(t *testing.T) {
			// Exit from inside the test: testing.Main would otherwise
			// print its verdict and exit with a status of its own.
			os.Exit(program(&Runner{t: t}))
		},
	}}, nil, nil)
}

func matchAll(string, string) (bool, error) { return true, nil }

// Runner runs specs for a program started by Main.
type Runner struct {
	t *testing.T
}

// Run runs specs concurrently, at most parallel at once (all of them when
// parallel < 1), each in a testing/synctest bubble of its own unless it
// needs the real clock (harness.Spec.NeedsRealClock). done is called once
// per spec as it ends, with its index, from the spec's own goroutine. Run
// returns when every spec has ended. With stop set, runs still going end
// as interrupted once stop reports true. Run may be called more than once.
func (r *Runner) Run(specs []harness.Spec, parallel int, stop func() bool, done func(i int, res harness.Result), opts ...harness.Option) {
	if parallel < 1 {
		parallel = len(specs)
	}
	if stop != nil {
		opts = append(opts[:len(opts):len(opts)], harness.WithStop(stop))
	}
	slots := make(chan struct{}, parallel)
	r.t.Run("specs", func(t *testing.T) {
		for i, spec := range specs {
			t.Run(strconv.Itoa(i), func(t *testing.T) {
				t.Parallel()
				slots <- struct{}{}
				defer func() { <-slots }()
				done(i, harness.RunT(t, spec, opts...))
			})
		}
	})
}
