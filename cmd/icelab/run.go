package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/relay/pki"
	"github.com/icelab/icelab/reports"
	"github.com/icelab/icelab/scenarios"
	"github.com/spf13/cobra"
)

// Exit statuses of run and validate.
const (
	exitFailed  = 1 // a scenario did not meet its expectations
	exitInvalid = 2 // a scenario file could not be loaded
)

// maxParallel bounds the default parallelism of run.
const maxParallel = 16

// errFailed reports that scenarios failed; the verdicts are already printed.
var errFailed = errors.New("scenarios failed their expectations")

// runOptions are the flags of icelab run.
type runOptions struct {
	out      string
	parallel int
	filter   string
	capture  int
	trust    *trust
}

func newRunCmd(tr *trust) *cobra.Command {
	o := &runOptions{trust: tr}
	cmd := &cobra.Command{
		Use:   "run [--out DIR] [--parallel N] [--filter REGEX] PATH...",
		Short: "Run scenario files (or directories of them) and write reports",
		Long: `Run loads the scenarios in each PATH (a file, or a directory of *.yaml files),
runs them concurrently on the real clock, checks their expectations, prints a
verdict per scenario and writes JUnit, JSON and Markdown reports to --out.

Exit status: 0 when every scenario meets its expectations, 1 when one does
not, 2 when a scenario file is invalid.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return exitWith(o.run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args))
		},
	}
	cmd.Flags().StringVar(&o.out, "out", "reports/out", "directory for the reports")
	cmd.Flags().IntVar(&o.parallel, "parallel", 0, "scenarios run at once (default: all of them, up to 16)")
	cmd.Flags().StringVar(&o.filter, "filter", "", "run only scenarios whose name matches this regular expression")
	cmd.Flags().IntVar(&o.capture, "capture", 0, "keep up to this many packets per scenario and write them to SCENARIO.pcapng")
	return cmd
}

func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate PATH...",
		Short: "Load scenario files (or directories of them) and report problems without running them",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return exitWith(validate(cmd.OutOrStdout(), cmd.ErrOrStderr(), args))
		},
	}
}

// exitWith turns an exit status into what the root command understands.
// The root maps every error to status 1, so status 2 exits here, after
// everything has been printed.
func exitWith(code int) error {
	switch code {
	case 0:
		return nil
	case exitInvalid:
		os.Exit(exitInvalid)
	}
	return errFailed
}

// validate loads every path and prints each scenario or each problem.
func validate(stdout, stderr io.Writer, paths []string) int {
	list, err := load(&scenarios.Loader{}, paths)
	printWarnings(stderr, list)
	if err != nil {
		printLoadError(stderr, err)
		return exitInvalid
	}
	for _, s := range list {
		clock := "fake clock"
		if s.RealClock {
			clock = "real clock"
		}
		fmt.Fprintf(stdout, "ok   %s  (%s: %d clients, %s)\n", s.File, s.Name, len(s.Spec.Clients), clock)
	}
	return 0
}

func (o *runOptions) run(ctx context.Context, stdout, stderr io.Writer, paths []string) int {
	var filter *regexp.Regexp
	if o.filter != "" {
		re, err := regexp.Compile(o.filter)
		if err != nil {
			fmt.Fprintf(stderr, "--filter: %v\n", err)
			return exitInvalid
		}
		filter = re
	}
	if o.parallel < 0 {
		fmt.Fprintf(stderr, "--parallel: %d is negative\n", o.parallel)
		return exitInvalid
	}
	// The CA that signs the scenarios' certificates must be the one the
	// process trusts.
	ca, err := o.trust.authority()
	if err != nil {
		fmt.Fprintf(stderr, "test certificate authority: %v\n", err)
		return exitInvalid
	}
	list, err := load(&scenarios.Loader{CA: ca}, paths)
	printWarnings(stderr, list)
	if err != nil {
		printLoadError(stderr, err)
		return exitInvalid
	}
	if filter != nil {
		var kept []*scenarios.Scenario
		for _, s := range list {
			if filter.MatchString(s.Name) {
				kept = append(kept, s)
			}
		}
		list = kept
	}
	if len(list) == 0 {
		fmt.Fprintln(stderr, "no scenarios to run")
		return exitInvalid
	}
	if o.capture < 0 {
		fmt.Fprintf(stderr, "--capture: %d is negative\n", o.capture)
		return exitInvalid
	}
	for _, s := range list {
		s.Spec.Capture = o.capture
	}
	parallel := o.parallel
	if parallel == 0 {
		parallel = min(len(list), maxParallel)
	}
	fmt.Fprintf(stdout, "running %d scenarios, %d at a time, on the real clock\n", len(list), parallel)

	runs := runAll(ctx, list, parallel, ca, func(r reports.Run) {
		printVerdict(stdout, r)
	})
	if err := reports.Write(o.out, runs); err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return exitFailed
	}
	failed := 0
	for _, r := range runs {
		if v := r.Verdict(); v == reports.Fail || v == reports.Error {
			failed++
		}
	}
	fmt.Fprintf(stdout, "%d of %d scenarios met their expectations; reports in %s\n", len(runs)-failed, len(runs), o.out)
	if failed > 0 || ctx.Err() != nil {
		return exitFailed
	}
	return 0
}

// runAll runs the scenarios with at most parallel at once and returns
// their runs in the order of list; done is called as each finishes.
func runAll(ctx context.Context, list []*scenarios.Scenario, parallel int, ca *pki.CA, done func(reports.Run)) []reports.Run {
	runs := make([]reports.Run, len(list))
	sem := make(chan struct{}, parallel)
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	for i, s := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				runs[i] = reports.Run{Scenario: s, Skipped: "interrupted before it ran"}
				return
			}
			defer func() { <-sem }()
			res := harness.Run(ctx, s.Spec, harness.WithCA(ca))
			runs[i] = reports.NewRun(s, res)
			mu.Lock()
			defer mu.Unlock()
			done(runs[i])
		}()
	}
	wg.Wait()
	return runs
}

// load loads every path, a file or a directory; it returns every problem.
func load(l *scenarios.Loader, paths []string) ([]*scenarios.Scenario, error) {
	var (
		list []*scenarios.Scenario
		errs []error
	)
	seen := map[string]string{}
	add := func(s *scenarios.Scenario) {
		if prev, ok := seen[s.Name]; ok {
			errs = append(errs, &scenarios.Error{File: s.File, Field: "name", Msg: fmt.Sprintf("%q is also the name of %s", s.Name, prev)})
			return
		}
		seen[s.Name] = s.File
		list = append(list, s)
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if fi.IsDir() {
			got, err := l.LoadDir(p)
			for _, s := range got {
				add(s)
			}
			if err != nil {
				errs = append(errs, err)
			}
			continue
		}
		s, err := l.Load(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		add(s)
	}
	return list, errors.Join(errs...)
}

func printLoadError(w io.Writer, err error) {
	for line := range strings.Lines(err.Error()) {
		fmt.Fprint(w, line)
		if !strings.HasSuffix(line, "\n") {
			fmt.Fprintln(w)
		}
	}
}

func printWarnings(w io.Writer, list []*scenarios.Scenario) {
	for _, s := range list {
		for _, warn := range s.Warnings {
			fmt.Fprintf(w, "warning: %s\n", warn)
		}
	}
}

// printVerdict prints one line per scenario, the transport per client, and
// the mismatches beneath.
func printVerdict(w io.Writer, r reports.Run) {
	var clients []string
	for _, c := range r.Result.Clients {
		t := string(c.Transport)
		if t == "" {
			t = string(harness.NoTransport)
		}
		clients = append(clients, c.Name+"="+t)
	}
	fmt.Fprintf(w, "%-5s %s  [%s]  %.1fs\n", r.Verdict(), r.Scenario.Name, strings.Join(clients, " "), r.Result.Wall.Seconds())
	if r.Result.Err != "" {
		fmt.Fprintf(w, "      run error: %s\n", r.Result.Err)
	}
	for _, m := range r.Mismatches {
		fmt.Fprintf(w, "      %s\n", m)
	}
}
