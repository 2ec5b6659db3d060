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
	confirm    int
	failOn     string
	strict     bool
	realPar    int
	lbPort     int
	trust      *trust
}

func newAuditCmd(tr *trust, runner specRunner) *cobra.Command {
	o := &auditOptions{trust: tr}
	cmd := &cobra.Command{
		Use:   "audit [--node-firewall FILE] [--baseline OLD.yaml] [--out DIR] livekit.yaml",
		Short: "Run every client network archetype × client profile against a deployment and print the matrix",
		Long: `Audit runs one call per network archetype (home router, CGNAT, corporate
443-only, ...) and client profile (browser: LiveKit's JS SDK in Chrome; pion:
a Go SDK on pion's defaults) against the deployment a livekit.yaml describes,
optionally behind the node firewall (security group) in FILE, and prints a
table: one row per archetype, a column per profile, each cell the transport
it lands on and its time to connect, or "fails" and the deciding fact
("TCP 5349 dropped by the corporate firewall"), with the whole account in the
details below. Reports: audit.md, audit.html, audit.json and junit.xml in
--out.

The keys that decide which transports clients get are read as LiveKit reads
them: turn.udp_port 0 is no TURN/UDP, tls_port 0 no TURN/TLS, external_tls a
load balancer that terminates TLS, rtc.tcp_port 0 no ICE/TCP, rtc.udp_port a
single muxed port, rtc.port_range_start/end, use_external_ip, node_ip.
LiveKit hands clients TURN/TLS as turns:DOMAIN:443 whatever tls_port is
(roommanager.go iceServersForParticipant), expecting tls_port to be 443 or
a load balancer on 443 in front of it. The audit models a load balancer only
where the file says there is one: with external_tls: true it listens on
tls_port (so tls_port 5349 behind it is not reached on 443); say
--load-balancer-port 443 when yours listens on 443.

With --baseline it audits OLD.yaml too, in the same run, and compares them
cell by cell: a regression is a cell that connected and now fails, lands on
a costlier transport (ICE/UDP < ICE/TCP < TURN/UDP < TURN/TCP < TURN/TLS) or
no longer has media both ways. Every cell that differs is run again
--confirm times on both sides (a baseline call and a candidate call started
together each time) before it is reported: "regressed 3/3", "improved 3/3",
or "unstable (2/3)" when the re-runs disagree. Only confirmed regressions
fail the gate, unless --fail-on unstable (or --strict).

Timing: fake-clock cells (every pion cell) run first, 4 at once, in
testing/synctest bubbles where pion's timers cost no wall time. Browser cells
need ICE-TCP, which pion dials through the operating system, so they run on
the machine's clock afterwards, alone, baseline and candidate interleaved,
at most --real-parallel at once. Their deadlines are LiveKit's JS SDK's: 15 s
for the signal connection, 15 s for a peer connection to connect after it,
and LiveKit's server ladder. Measured on a 2-core machine beside two busy
CPU hogs, browser cells connect in 0.4-4.1 s (0.7-3.8 s unloaded), 3.6 times
inside those deadlines; the two whose answer is a fallback connect at 11.4 s
unloaded, 12.8 s at most loaded. A self-comparison takes 40-50 s there; a
comparison with changes about 85 s (each round of real-clock cells is one
35 s call plus teardown).

Archetypes: ` + strings.Join(archetypes.Names(), ", ") + `.
Profiles: ` + strings.Join(archetypes.ProfileNames(), ", ") + `.

Exit status: 0 when nothing fails the gate, 1 when something does (a
confirmed regression; with --fail-on unstable an unstable cell too) or a
cell could not run at all, 2 on bad input, 130 when interrupted.`,
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
	cmd.Flags().StringVar(&o.baseline, "baseline", "", "the livekit.yaml to compare with; confirmed regressions exit 1")
	cmd.Flags().StringVar(&o.out, "out", "reports/out/audit", "directory for audit.md, audit.html, audit.json and junit.xml")
	cmd.Flags().StringSliceVar(&o.archetypes, "archetypes", nil, "audit only these archetypes (default: all)")
	cmd.Flags().StringSliceVar(&o.profiles, "profiles", nil, "audit only these profiles (default: all)")
	cmd.Flags().IntVar(&o.confirm, "confirm", audit.DefaultConfirm, "with --baseline: run every cell that changed this many times more on each side before reporting it")
	cmd.Flags().StringVar(&o.failOn, "fail-on", "regressed", "with --baseline: what fails the gate: regressed (confirmed regressions) or unstable (those and unstable cells)")
	cmd.Flags().BoolVar(&o.strict, "strict", false, "same as --fail-on unstable")
	cmd.Flags().IntVar(&o.realPar, "real-parallel", audit.DefaultRealParallel, "real-clock (browser) cells run at once")
	cmd.Flags().IntVar(&o.lbPort, "load-balancer-port", 0, "put a layer-4 load balancer that terminates TLS on this port in front of turn.tls_port (default: on tls_port when external_tls is true, else none)")
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
	switch {
	case o.confirm < 1 || o.confirm > 20:
		return bad(fmt.Errorf("--confirm: %d; want between 1 and 20", o.confirm))
	case o.failOn != string(audit.Regressed) && o.failOn != string(audit.Unstable):
		return bad(fmt.Errorf("--fail-on: %q; want regressed or unstable", o.failOn))
	case o.realPar < 1:
		return bad(fmt.Errorf("--real-parallel: %d; want at least 1", o.realPar))
	case o.lbPort < 0 || o.lbPort > 65535:
		return bad(fmt.Errorf("--load-balancer-port: %d; want a port", o.lbPort))
	}
	if o.strict {
		o.failOn = string(audit.Unstable)
	}
	ca, err := o.trust.authority()
	if err != nil {
		return bad(fmt.Errorf("test certificate authority: %w", err))
	}
	opts := audit.Options{CA: ca, Firewall: o.firewall, LoadBalancerPort: o.lbPort}
	p := &auditPlan{o: o, archetypes: len(nets), config: audit.Config{
		Archetypes: nets, Profiles: profs, Duration: o.duration, RealParallel: o.realPar,
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

// execute runs the audit (with the baseline, audit.Compare), prints the
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
		fmt.Fprintf(stderr, "[%d/%d] %s/%s: %s (%s clock, %.1fs)\n", done, total, c.Archetype, c.Profile, c.Summary(), c.Clock, c.Wall.Seconds())
	}
	cfg.Confirming = func(changes []audit.Change) {
		var names []string
		for _, ch := range changes {
			names = append(names, ch.Archetype+"/"+ch.Profile)
		}
		fmt.Fprintf(stderr, "confirming %d changed cells, %d more runs on each side: %s\n", len(changes), p.o.confirm, strings.Join(names, ", "))
	}
	start := time.Now()
	// A call whose teardown never ends (a harness bug, not a verdict)
	// would hang the audit: say which cells, and stop. The audit runs in
	// up to four rounds on the real clock (cells, certificate attribution,
	// confirmation), each about one call long.
	limit := 5*cfg.Duration + 2*time.Minute
	watchdog := time.AfterFunc(limit, func() {
		mu.Lock()
		defer mu.Unlock()
		var stuck []string
		for name, n := range pending {
			if n > 0 {
				stuck = append(stuck, name)
			}
		}
		sort.Strings(stuck)
		if len(stuck) == 0 {
			stuck = []string{"re-run for confirmation or certificate attribution"}
		}
		fmt.Fprintf(stderr, "icelab audit: cells %s have not ended %v after the audit began, long after their calls did: the harness did not finish tearing them down; no verdict\n",
			strings.Join(stuck, ", "), limit)
		os.Exit(exitNotMet) // a hung bubble cannot be ended from outside
	})
	defer watchdog.Stop()
	rep := audit.Report{FailOn: audit.Verdict(p.o.failOn)}
	if p.baseline != nil {
		cmp := audit.Compare(r, p.baseline, p.candidate, cfg, p.o.confirm)
		rep.Matrix, rep.Comparison = cmp.Candidate, &cmp
	} else {
		rep.Matrix = audit.Run(r, p.candidate, cfg)
	}
	interrupted := ctx.Err() != nil || rep.Matrix.Interrupted || (rep.Comparison != nil && rep.Comparison.Interrupted())
	if err := audit.Markdown(stdout, rep); err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
	}
	if err := audit.Write(p.o.out, rep); err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return exitNotMet
	}
	fmt.Fprintf(stdout, "\n%d archetypes × %d profiles in %.1fs; reports in %s\n", p.archetypes, len(cfg.Profiles), time.Since(start).Seconds(), p.o.out)
	failing := rep.Failing()
	switch {
	case interrupted:
		fmt.Fprintln(stderr, "interrupted: the matrix is incomplete")
		return exitInterrupted
	case len(rep.NotRun()) > 0:
		notRun := rep.NotRun()
		fmt.Fprintf(stdout, "%d cells could not run, so there is no verdict; the first: %s/%s: %s\n", len(notRun), notRun[0].Archetype, notRun[0].Profile, notRun[0].Error)
		return exitNotMet
	case len(failing) > 0:
		fmt.Fprintf(stdout, "%d cells fail the gate (--fail-on %s) against %s:\n", len(failing), p.o.failOn, p.baseline.Source)
		for _, c := range failing {
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
