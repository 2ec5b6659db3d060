package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/reports"
	"github.com/icelab/icelab/scenarios"
	"github.com/spf13/cobra"
)

// maxParallel bounds the default parallelism of run.
const maxParallel = 16

// stopGrace bounds how long run waits, after SIGINT or SIGTERM, for the
// runs in flight to end before it writes the reports without them.
const stopGrace = 5 * time.Second

// The clocks run offers.
const (
	clockFake = "fake"
	clockReal = "real"
)

// specRunner runs specs in testing/synctest bubbles; *fakeclock.Runner is
// one. Run returns when every spec has ended; done is called once per
// spec, with its index.
type specRunner interface {
	Run(specs []harness.Spec, parallel int, stop func() bool, done func(i int, res harness.Result), opts ...harness.Option)
}

// runOptions are the flags of icelab run.
type runOptions struct {
	out      string
	parallel int
	filter   string
	capture  int
	// captureLast, captureWindow and captureAround select more packets to
	// keep (harness.Capture).
	captureLast   int
	captureWindow string
	captureAround time.Duration
	captureSpec   harness.Capture // the above, checked
	clock         string
	shard         string
	// repeat is how many times each scenario runs; 0 is once.
	repeat  runCount
	verbose bool
	// fullSeries keeps every second of every series in the reports.
	fullSeries bool
	trust      *trust
	runner     specRunner
	grace      time.Duration
}

func newRunCmd(tr *trust, runner specRunner) *cobra.Command {
	o := &runOptions{trust: tr, runner: runner, grace: stopGrace, repeat: 1}
	cmd := &cobra.Command{
		Use:   "run [--out DIR] [--clock fake|real] [--parallel N] [--filter REGEX] [--shard K/N] [--repeat N] PATH...",
		Short: "Run scenario files (or directories of them) and write reports",
		Long: `Run loads the scenarios in each PATH (a file, or every *.yaml and *.yml file
in a directory and its subdirectories), runs them concurrently, checks their
expectations, prints a verdict per scenario as it finishes and writes JUnit,
JSON, Markdown and HTML reports to --out, which is checked before anything
runs.

With --clock fake (the default) every scenario that can runs in a
testing/synctest bubble, where pion's timers cost no wall time; scenarios
with client ICE-TCP need the real clock and run on it, once the fake-clock
ones have finished, so that they have the machine's cores to themselves.
With --clock real every scenario runs on the machine's clock.

A file that cannot be loaded is reported as an ERROR with its file, line and
field; the others still run. A scenario without expect: is reported as
OBSERVED: what happened, judged against nothing.

With --repeat N every scenario runs N times, and its line, once all N have
ended, says how many met its expectations and every part of a client's
outcome that differed between them (transport, candidate types, connected,
recovered, failure stage, final state), with the runs that saw each value;
the reports show the first run that did not meet the expectations (or the
first run) and the same account. The exit status is 1 when any run did not
meet its expectations.

On SIGINT or SIGTERM the runs in flight end and are reported as
INTERRUPTED, the others are not run, and the reports are still written.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStatus(o.run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args))
		},
	}
	cmd.Flags().StringVar(&o.out, "out", "reports/out", "directory for the reports")
	cmd.Flags().StringVar(&o.clock, "clock", clockFake, "fake: run scenarios in testing/synctest bubbles where they can; real: on the machine's clock")
	cmd.Flags().IntVar(&o.parallel, "parallel", 0, "scenarios run at once (default: all of them, up to 16)")
	cmd.Flags().StringVar(&o.filter, "filter", "", "run only scenarios whose name matches this regular expression")
	cmd.Flags().StringVar(&o.shard, "shard", "", "run only shard K of N (K/N): every N-th file in name order, for a CI matrix")
	cmd.Flags().Var(&o.repeat, "repeat", "run each scenario N times and report how many met expectations and which outcomes differed")
	cmd.Flags().BoolVarP(&o.verbose, "verbose", "v", false, "also print a line as each scenario starts")
	cmd.Flags().BoolVar(&o.fullSeries, "full-series", false, fmt.Sprintf("keep every second of every flow's series in the JSON and HTML reports (by default each series keeps at most %d entries, and a run's series share %d, at least %d each: longer ones are summarised; in a room with more series than that, only the flows worst off keep theirs)", reports.MaxSeriesPoints, reports.RunSeriesPoints, reports.MinSeriesPoints))
	cmd.Flags().IntVar(&o.capture, "capture", 0, "keep the first N packets of each scenario and write them to SCENARIO.pcapng")
	cmd.Flags().IntVar(&o.captureLast, "capture-last", 0, "keep the last N packets of each scenario (a ring buffer)")
	cmd.Flags().StringVar(&o.captureWindow, "capture-window", "", "keep the packets first seen in this window of the call, like 5s-15s (or 5s- to the end)")
	cmd.Flags().DurationVar(&o.captureAround, "capture-around-faults", 0, "keep the packets first seen within this long before or after each fault")
	return cmd
}

// check checks the flags; it returns the compiled filter and the shard.
func (o *runOptions) check() (*regexp.Regexp, shard, error) {
	var filter *regexp.Regexp
	if o.filter != "" {
		re, err := regexp.Compile(o.filter)
		if err != nil {
			return nil, shard{}, fmt.Errorf("--filter: %w", err)
		}
		filter = re
	}
	sh, err := parseShard(o.shard)
	switch {
	case err != nil:
		return nil, shard{}, err
	case o.parallel < 0:
		return nil, shard{}, fmt.Errorf("--parallel: %d is negative", o.parallel)
	case o.capture < 0:
		return nil, shard{}, fmt.Errorf("--capture: %d is negative", o.capture)
	case o.captureLast < 0:
		return nil, shard{}, fmt.Errorf("--capture-last: %d is negative", o.captureLast)
	case o.captureAround < 0:
		return nil, shard{}, fmt.Errorf("--capture-around-faults: %v is negative", o.captureAround)
	case o.clock != clockFake && o.clock != clockReal:
		return nil, shard{}, fmt.Errorf("--clock %q: want fake or real", o.clock)
	case o.out == "":
		return nil, shard{}, fmt.Errorf("--out: empty")
	}
	from, to, err := parseWindow(o.captureWindow)
	if err != nil {
		return nil, shard{}, fmt.Errorf("--capture-window %q: %w", o.captureWindow, err)
	}
	o.captureSpec = harness.Capture{First: o.capture, Last: o.captureLast, From: from, To: to, AroundFaults: o.captureAround}
	if err := reports.Writable(o.out); err != nil {
		return nil, shard{}, fmt.Errorf("--out %s: %w", o.out, err)
	}
	return filter, sh, nil
}

// run runs the scenarios in paths and returns the exit status.
func (o *runOptions) run(ctx context.Context, stdout, stderr io.Writer, paths []string) int {
	start := time.Now()
	filter, sh, err := o.check()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitBadInput
	}
	// The CA that signs the scenarios' certificates must be the one the
	// process trusts.
	ca, err := o.trust.authority()
	if err != nil {
		fmt.Fprintf(stderr, "test certificate authority: %v\n", err)
		return exitNotMet
	}
	files, bad := scenarioFiles(paths)
	files = sh.of(files)
	got := loadFiles(&scenarios.Loader{CA: ca}, files)
	invalid := append(pathRuns(bad), got.invalid...)
	list := got.list
	printWarnings(stderr, list)
	for _, r := range invalid {
		printVerdict(stdout, r)
	}
	if filter != nil {
		var kept []*scenarios.Scenario
		for _, s := range list {
			if filter.MatchString(s.Name) {
				kept = append(kept, s)
			}
		}
		if len(kept) == 0 && len(list) > 0 {
			fmt.Fprintf(stderr, "--filter %q matches none of %s\n", o.filter, reports.Plural(len(list), "scenario"))
			return exitBadInput
		}
		list = kept
	}
	for _, s := range list {
		s.Spec.Capture = o.captureSpec
	}
	// Each scenario's runs follow one another in jobs: run k of
	// scenario i is jobs[i*repeat+k].
	repeat := o.repeat.n()
	jobs := make([]*scenarios.Scenario, 0, len(list)*repeat)
	for _, s := range list {
		for range repeat {
			jobs = append(jobs, s)
		}
	}
	parallel := o.parallel
	if parallel == 0 {
		parallel = min(max(len(jobs), 1), maxParallel)
	}
	if len(list) > 0 {
		times := ""
		if repeat > 1 {
			times = fmt.Sprintf(" %d times each (%s)", repeat, reports.Plural(len(jobs), "run"))
		}
		fmt.Fprintf(stdout, "running %s%s, %d at a time, %s\n", reports.Plural(len(list), "scenario"), times, parallel, o.clocks(list))
	} else if len(invalid) == 0 {
		fmt.Fprintf(stdout, "shard %d/%d holds none of the %s\n", sh.k, sh.n, reports.Plural(len(files), "file"))
	}
	var mu sync.Mutex // one line at a time
	started := func(i int, s *scenarios.Scenario) {
		if o.verbose {
			mu.Lock()
			defer mu.Unlock()
			run := ""
			if repeat > 1 {
				run = fmt.Sprintf(" (run %d of %d)", i%repeat+1, repeat)
			}
			fmt.Fprintf(stdout, "start %s%s  %s clock\n", s.Name, run, o.clockOf(s))
		}
	}
	// A scenario's line is printed once all its runs have ended.
	ended, left := make([]reports.Run, len(jobs)), make([]int, len(list))
	finished := func(i int, r reports.Run) {
		mu.Lock()
		defer mu.Unlock()
		s := i / repeat
		ended[i] = r
		if left[s]++; left[s] == repeat {
			printVerdict(stdout, reports.Repeat(ended[s*repeat:(s+1)*repeat]))
		}
	}
	all := o.runAll(ctx, jobs, parallel, []harness.Option{harness.WithCA(ca)}, started, finished)
	runs := make([]reports.Run, len(list))
	for i := range list {
		runs[i] = reports.Repeat(all[i*repeat : (i+1)*repeat])
	}
	suite := reports.Suite{Runs: append(invalid, runs...), Wall: time.Since(start), Interrupted: ctx.Err() != nil, FullSeries: o.fullSeries}
	if err := reports.Write(o.out, suite); err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return exitBadInput
	}
	fmt.Fprintf(stdout, "%s; reports in %s\n", reports.Summary(suite), o.out)
	if suite.Interrupted {
		return exitInterrupted
	}
	return status(suite)
}

// status is the exit status of a run's suite: interrupted first, then bad
// input, then unmet expectations.
func status(s reports.Suite) int {
	code := exitOK
	for _, r := range s.Runs {
		switch v := r.Verdict(); {
		case v == reports.Interrupted:
			return exitInterrupted
		case len(r.Invalid) > 0:
			code = exitBadInput
		case !v.Met() && code == exitOK:
			code = exitNotMet
		}
	}
	return code
}

// clocks says on which clocks the scenarios will run.
func (o *runOptions) clocks(list []*scenarios.Scenario) string {
	if o.clock == clockReal {
		return "on the real clock"
	}
	real := 0
	for _, s := range list {
		if s.RealClock {
			real++
		}
	}
	switch real {
	case 0:
		return "on the fake clock"
	case len(list):
		return "on the real clock (client ICE-TCP needs it)"
	}
	return fmt.Sprintf("%d on the fake clock, %d on the real clock (client ICE-TCP needs it)", len(list)-real, real)
}

// runAll runs the scenarios with at most parallel at once, those on the
// fake clock first and those needing the real clock after them (see
// launchGroups), and returns their runs in the order of list; done
// is called as each finishes, with its index in list. When ctx ends, the
// runs in flight end as interrupted, those not started are skipped, and
// runAll returns once the runs in flight have ended or o.grace has passed,
// whichever is first.
func (o *runOptions) runAll(ctx context.Context, list []*scenarios.Scenario, parallel int, opts []harness.Option, start func(int, *scenarios.Scenario), done func(int, reports.Run)) []reports.Run {
	var (
		mu       sync.Mutex
		runs     = make([]reports.Run, len(list))
		finished = make([]bool, len(list))
		left     = len(list)
		allDone  = make(chan struct{})
	)
	finish := func(i int, r reports.Run) {
		mu.Lock()
		defer mu.Unlock()
		if finished[i] {
			return
		}
		finished[i], runs[i] = true, r
		done(i, r)
		if left--; left == 0 {
			close(allDone)
		}
	}
	if len(list) == 0 {
		return runs
	}
	stop := func() bool { return ctx.Err() != nil }
	slots := make(chan struct{}, parallel)
	go func() {
		for _, group := range launchGroups(list) {
			var wg sync.WaitGroup
			for _, i := range group {
				s := list[i]
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
				}
				if ctx.Err() != nil {
					finish(i, reports.Run{Scenario: s, Skipped: "not run: interrupted before it started"})
					continue
				}
				start(i, s)
				wg.Go(func() {
					defer func() { <-slots }()
					finish(i, reports.NewRun(s, o.runOne(ctx, s, stop, opts)))
				})
			}
			wg.Wait()
		}
	}()
	select {
	case <-allDone:
		return runs
	case <-ctx.Done():
	}
	select {
	case <-allDone:
	case <-time.After(o.grace):
	}
	mu.Lock()
	defer mu.Unlock()
	for i, s := range list {
		if !finished[i] {
			finished[i] = true
			runs[i] = reports.Run{Scenario: s, Result: harness.Result{Name: s.Name, Interrupted: true},
				Skipped: fmt.Sprintf("interrupted; the run did not end within %s of the signal, so nothing it observed is reported", o.grace)}
			done(i, runs[i])
		}
	}
	return runs
}

// clockOf is the clock a scenario runs on.
func (o *runOptions) clockOf(s *scenarios.Scenario) string {
	if o.clock == clockReal {
		return clockReal
	}
	return clockOf(s)
}

// runOne runs one scenario on the clock it gets: a bubble of its own unless
// it needs the real clock or --clock real says so.
func (o *runOptions) runOne(ctx context.Context, s *scenarios.Scenario, stop func() bool, opts []harness.Option) harness.Result {
	if o.clockOf(s) == clockReal || o.runner == nil {
		return harness.Run(ctx, s.Spec, append(opts, harness.WithStop(stop))...)
	}
	var res harness.Result
	o.runner.Run([]harness.Spec{s.Spec}, 1, stop, func(_ int, r harness.Result) { res = r }, opts...)
	return res
}

// launchGroups are the groups runAll runs one after the other, each in
// file order: the fake-clock scenarios, then those on the real clock. A
// real-clock run's verdict depends on the machine keeping up with its
// clock (a second without a packet is an outage), so it does not share
// the cores with fake-clock runs, which take all they can get; it costs its
// duration of wall time either way.
func launchGroups(list []*scenarios.Scenario) [][]int {
	var fake, real []int
	for i, s := range list {
		if s.RealClock {
			real = append(real, i)
		} else {
			fake = append(fake, i)
		}
	}
	return [][]int{fake, real}
}

func printWarnings(w io.Writer, list []*scenarios.Scenario) {
	for _, s := range list {
		for _, warn := range s.Warnings {
			fmt.Fprintf(w, "warning: %s\n", warn)
		}
	}
}

// printVerdict prints one line per scenario: verdict, name, the transport
// per client, the clock and times (for a repeated scenario, how many runs
// met its expectations); then its problem and mismatches, or the repeats'
// account: what differed and what was not met, in which runs.
func printVerdict(w io.Writer, r reports.Run) {
	v := r.Verdict()
	if len(r.Invalid) > 0 {
		fmt.Fprintf(w, "%-5s %s\n", v, r.File)
		for _, e := range r.Invalid {
			fmt.Fprintf(w, "      %s\n", e)
		}
		return
	}
	var clients []string
	for _, c := range r.Result.Clients {
		t := string(c.Transport)
		if t == "" {
			t = string(harness.NoTransport)
		}
		clients = append(clients, c.Name+"="+t)
	}
	when := ""
	switch {
	case r.Repeats != nil:
		when = fmt.Sprintf("  %s clock, %.1fs of call, %s", r.Result.Clock, r.Result.Duration.Seconds(), r.Repeats.Tally())
	case r.Result.Clock != "":
		when = fmt.Sprintf("  %s clock, %.1fs of call in %.1fs", r.Result.Clock, r.Result.Duration.Seconds(), r.Result.Wall.Seconds())
	}
	fmt.Fprintf(w, "%-5s %s  [%s]%s\n", v, r.Scenario.Name, strings.Join(clients, " "), when)
	if p := r.Problem(); p != "" {
		fmt.Fprintf(w, "      %s\n", p)
	}
	if r.Repeats != nil {
		for _, l := range r.Repeats.Lines() {
			fmt.Fprintf(w, "      %s\n", l)
		}
		return
	}
	for _, line := range r.Reasons() {
		fmt.Fprintf(w, "      %s\n", line)
	}
}

// runCount is how many times each scenario runs: a flag that takes 1 or
// more; its zero value is once.
type runCount int

func (c *runCount) String() string { return strconv.Itoa(c.n()) }

func (c *runCount) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return fmt.Errorf("%q: want a number of runs, 1 or more", s)
	}
	*c = runCount(n)
	return nil
}

func (c *runCount) Type() string { return "N" }

func (c runCount) n() int { return max(int(c), 1) }

// parseWindow reads FROM-TO ("5s-15s"), or FROM- for the rest of the call;
// "" is no window.
func parseWindow(w string) (from, to time.Duration, err error) {
	if w == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(w, "-")
	if !ok {
		return 0, 0, errors.New("want FROM-TO, like 5s-15s, or FROM- for the rest of the call")
	}
	if from, err = time.ParseDuration(strings.TrimSpace(a)); err != nil || from < 0 {
		return 0, 0, fmt.Errorf("start %q is not a duration like 5s", a)
	}
	if strings.TrimSpace(b) != "" {
		if to, err = time.ParseDuration(strings.TrimSpace(b)); err != nil || to <= from {
			return 0, 0, fmt.Errorf("end %q is not a duration after the start", b)
		}
	}
	if from == 0 && to == 0 {
		return 0, 0, errors.New("an empty window")
	}
	return from, to, nil
}
