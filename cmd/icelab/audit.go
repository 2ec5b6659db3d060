package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/icelab/icelab/archetypes"
	"github.com/icelab/icelab/audit"
	"github.com/icelab/icelab/harness"
	"github.com/spf13/cobra"
)

// auditOptions are the flags of icelab audit.
type auditOptions struct {
	firewall   string
	baseline   string
	out        string
	archetypes []string
	profiles   []string
	duration   time.Duration
	trust      *trust
}

func newAuditCmd(tr *trust, runner specRunner) *cobra.Command {
	o := &auditOptions{trust: tr}
	cmd := &cobra.Command{
		Use:   "audit [--node-firewall FILE] [--baseline OLD.yaml] [--out DIR] livekit.yaml",
		Short: "Run every client network archetype × client profile against a deployment and print the matrix",
		Long: `Audit runs one call per network archetype (home router, CGNAT, corporate
443-only, ...) and client profile (browser, pion) against the deployment a
livekit.yaml describes, optionally behind the node firewall in FILE, and
prints which transport each lands on, or why it fails, how long it took to
connect, whether media flowed both ways and whether it recovered. Cells that
need ICE-TCP (the browser profile) run on the real clock, the others on a
fake one; both batches run side by side.

With --baseline it audits OLD.yaml too and prints the cells that changed: a
regression is a cell that connected and now fails, or lands on a costlier
transport (ICE/UDP < ICE/TCP < TURN/UDP < TURN/TCP < TURN/TLS).

Archetypes: ` + strings.Join(archetypes.Names(), ", ") + `.
Profiles: ` + strings.Join(archetypes.ProfileNames(), ", ") + `.

Exit status: 0 when nothing regressed, 1 on a regression, 2 on bad input,
130 when interrupted.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, code := o.prepare(cmd.ErrOrStderr(), args[0])
			if code != exitOK {
				return withStatus(code)
			}
			r := audit.Runner(runner)
			if runner == nil {
				r = audit.RealClockRunner{Ctx: cmd.Context()}
			}
			return withStatus(p.execute(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), r))
		},
	}
	cmd.Flags().StringVar(&o.firewall, "node-firewall", "", "the node's inbound firewall (security group) file")
	cmd.Flags().StringVar(&o.baseline, "baseline", "", "the livekit.yaml to compare with; regressions exit 1")
	cmd.Flags().StringVar(&o.out, "out", "reports/out/audit", "directory for audit.md, audit.json and junit.xml")
	cmd.Flags().StringSliceVar(&o.archetypes, "archetypes", nil, "audit only these archetypes (default: all)")
	cmd.Flags().StringSliceVar(&o.profiles, "profiles", nil, "audit only these profiles (default: all)")
	cmd.Flags().DurationVar(&o.duration, "duration", 35*time.Second, "length of each call, on its clock (at least 35s: the browser's fallback chain must end first)")
	return cmd
}

// auditPlan is a checked audit, ready to run.
type auditPlan struct {
	o          *auditOptions
	candidate  *audit.Deployment
	baseline   *audit.Deployment
	config     audit.Config
	archetypes int
}

// prepare checks the input and loads the deployments; a non-zero status
// means bad input, already printed.
func (o *auditOptions) prepare(stderr io.Writer, config string) (*auditPlan, int) {
	bad := func(err error) (*auditPlan, int) {
		printLines(stderr, err)
		return nil, exitBadInput
	}
	nets, err := archetypes.Select(o.archetypes)
	if err != nil {
		return bad(fmt.Errorf("--archetypes: %w", err))
	}
	profs, err := archetypes.SelectProfiles(o.profiles)
	if err != nil {
		return bad(fmt.Errorf("--profiles: %w", err))
	}
	if o.duration < 35*time.Second || o.duration > 10*time.Minute {
		return bad(fmt.Errorf("--duration: %v; want between 35s and 10m", o.duration))
	}
	ca, err := o.trust.authority()
	if err != nil {
		return bad(fmt.Errorf("test certificate authority: %w", err))
	}
	opts := audit.Options{CA: ca, Firewall: o.firewall}
	p := &auditPlan{o: o, archetypes: len(nets), config: audit.Config{
		Archetypes: nets, Profiles: profs, Duration: o.duration,
		Options: []harness.Option{harness.WithCA(ca)},
	}}
	var errs []error
	if p.candidate, err = audit.LoadDeployment(config, opts); err != nil {
		errs = append(errs, err)
	}
	if o.baseline != "" {
		if p.baseline, err = audit.LoadDeployment(o.baseline, opts); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return bad(errors.Join(errs...))
	}
	for _, d := range []*audit.Deployment{p.baseline, p.candidate} {
		if d != nil {
			for _, w := range d.Warnings {
				fmt.Fprintf(stderr, "warning: %s\n", w)
			}
		}
	}
	return p, 0
}

// execute runs the audit (and the baseline's, side by side), prints the
// matrix and the changes, writes the reports and returns the exit status.
func (p *auditPlan) execute(ctx context.Context, stdout, stderr io.Writer, r audit.Runner) int {
	cfg := p.config
	cfg.Stop = func() bool { return ctx.Err() != nil }
	var (
		mu   sync.Mutex
		done int
	)
	total := p.archetypes * len(cfg.Profiles)
	if p.baseline != nil {
		total *= 2
	}
	pending := map[string]int{}
	for _, n := range cfg.Archetypes {
		for _, pr := range cfg.Profiles {
			pending[n.Name+"/"+pr.Name] += total / (p.archetypes * len(cfg.Profiles))
		}
	}
	cfg.Progress = func(c audit.Cell) {
		mu.Lock()
		defer mu.Unlock()
		done++
		pending[c.Archetype+"/"+c.Profile]--
		fmt.Fprintf(stderr, "[%d/%d] %s/%s: %s (%s clock, %.1fs)\n", done, total, c.Archetype, c.Profile, firstLine(c.Outcome()), c.Clock, c.Wall.Seconds())
	}
	start := time.Now()
	// A call whose teardown never ends (a harness bug, not a verdict)
	// would hang the audit: say which cells, and stop.
	watchdog := time.AfterFunc(3*cfg.Duration+time.Minute, func() {
		mu.Lock()
		defer mu.Unlock()
		var stuck []string
		for name, n := range pending {
			if n > 0 {
				stuck = append(stuck, name)
			}
		}
		sort.Strings(stuck)
		fmt.Fprintf(stderr, "icelab audit: cells %s have not ended %v after the audit began, long after their calls did: the harness did not finish tearing them down; no verdict\n",
			strings.Join(stuck, ", "), 3*cfg.Duration+time.Minute)
		os.Exit(exitNotMet) // a hung bubble cannot be ended from outside
	})
	defer watchdog.Stop()
	var (
		candidate, baseline audit.Matrix
		wg                  sync.WaitGroup
	)
	wg.Add(1)
	go func() { defer wg.Done(); candidate = audit.Run(r, p.candidate, cfg) }()
	if p.baseline != nil {
		wg.Add(1)
		go func() { defer wg.Done(); baseline = audit.Run(r, p.baseline, cfg) }()
	}
	wg.Wait()
	interrupted := ctx.Err() != nil || candidate.Interrupted || baseline.Interrupted
	var (
		changes []audit.Change
		base    *audit.Matrix
	)
	if p.baseline != nil && !interrupted {
		changes = audit.Diff(baseline, candidate)
		if changes == nil {
			changes = []audit.Change{}
		}
		base = &baseline
	}
	if err := audit.Markdown(stdout, candidate, changes); err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
	}
	if err := audit.Write(p.o.out, candidate, base, changes); err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return exitNotMet
	}
	regressions := audit.Regressions(changes)
	fmt.Fprintf(stdout, "\n%d archetypes × %d profiles in %.1fs; reports in %s\n", p.archetypes, len(cfg.Profiles), time.Since(start).Seconds(), p.o.out)
	switch {
	case interrupted:
		fmt.Fprintln(stderr, "interrupted: the matrix is incomplete")
		return exitInterrupted
	case len(regressions) > 0:
		fmt.Fprintf(stdout, "%d cells regressed against %s:\n", len(regressions), p.baseline.Source)
		for _, c := range regressions {
			fmt.Fprintf(stdout, "  %s\n", c)
		}
		return exitNotMet
	}
	return 0
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, ';'); i > 0 {
		return s[:i]
	}
	return s
}

// printLines prints err's message a line at a time, each ended.
func printLines(w io.Writer, err error) {
	for line := range strings.Lines(err.Error()) {
		fmt.Fprint(w, line)
		if !strings.HasSuffix(line, "\n") {
			fmt.Fprintln(w)
		}
	}
}
