package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/icelab/icelab/fieldimport"
	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/relay"
	"github.com/icelab/icelab/reports"
	"github.com/icelab/icelab/scenarios"
	"github.com/spf13/cobra"
)

// importOptions are the flags of icelab import.
type importOptions struct {
	out        string
	config     string
	connection string
	format     string
	report     string
	run        bool
	clock      string
	trust      *trust
	runner     specRunner
}

func newImportCmd(tr *trust, runner specRunner) *cobra.Command {
	o := &importOptions{trust: tr, runner: runner}
	cmd := &cobra.Command{
		Use:   "import FILE [--out scenario.yaml] [--config livekit.yaml] [--connection ID] [--run]",
		Short: "Turn a field dump (webrtc-internals, getStats(), pion GetStats()) into a scenario",
		Long: `Import reads what a user attaches to a bug: Chrome's chrome://webrtc-internals
download (plain or gzipped), a getStats() report as JSON (an array of stats, [id,
stats] entries, a map by id, or a list of reports over time), or pion's GetStats()
as JSON. From the candidates, pairs, states and servers it shows, it infers the
user's network (as an archetype where one fits) and the server side, and writes a
scenario file that reproduces the call: each inference a comment beside what it
produced, numbered and marked observed, inferred or assumed (what the dump cannot
show, with its alternatives); every address replaced by one from the
documentation ranges, the mapping in a comment; expect: the field outcome.

The scenario goes to --out, or to stdout. --config makes the media node run the
deployment's livekit.yaml instead of a turn: block made from the dump's ICE
servers. --run then runs it as icelab run does and says whether icelab reproduces
the field outcome (the stage the call reached, what carried it and the candidate
types of its pair) and, if not, which inferences to revisit. Without --run the
exit status is 0 once the scenario is written; with it, 0 when the field outcome
is reproduced and 1 when it is not.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStatus(o.importDump(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0]))
		},
	}
	cmd.Flags().StringVar(&o.out, "out", "", "write the scenario to this file instead of stdout")
	cmd.Flags().StringVar(&o.config, "config", "", "the deployment's livekit.yaml, for the media node")
	cmd.Flags().StringVar(&o.connection, "connection", "", "the peer connection to import, by its id in a webrtc-internals dump (default: the one that shows the most)")
	cmd.Flags().StringVar(&o.format, "format", "", "read the dump as this format: webrtc-internals, getStats or pion-getstats (default: found from its content)")
	cmd.Flags().StringVar(&o.report, "report", "", "the field report in the reporter's words, for report: (default: what the dump shows)")
	cmd.Flags().BoolVar(&o.run, "run", false, "run the scenario and say whether icelab reproduces the field outcome")
	cmd.Flags().StringVar(&o.clock, "clock", clockFake, "with --run: fake runs in a testing/synctest bubble where the scenario can; real on the machine's clock")
	return cmd
}

// importDump imports one dump and returns the exit status.
func (o *importOptions) importDump(ctx context.Context, stdout, stderr io.Writer, file string) int {
	if o.clock != clockFake && o.clock != clockReal {
		fmt.Fprintf(stderr, "--clock %q: want fake or real\n", o.clock)
		return exitBadInput
	}
	opt := fieldimport.Options{Connection: o.connection, Report: o.report, File: o.out}
	if o.config != "" {
		cfg, issues, err := relay.LoadConfig(o.config)
		for _, is := range issues {
			fmt.Fprintf(stderr, "%v\n", is)
		}
		if err != nil {
			fmt.Fprintf(stderr, "--config: %v\n", err)
			return exitBadInput
		}
		opt.Config, opt.ConfigFile = &cfg, o.configRef()
	}
	if o.out != "" {
		opt.Name = strings.TrimSuffix(strings.TrimSuffix(filepath.Base(o.out), ".yaml"), ".yml")
		if fi, err := os.Stat(filepath.Dir(o.out)); err != nil || !fi.IsDir() {
			fmt.Fprintf(stderr, "--out %s: %s is not a directory\n", o.out, filepath.Dir(o.out))
			return exitBadInput
		}
	}
	data, err := readDump(file)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", file, err)
		return exitBadInput
	}
	var d *fieldimport.Dump
	if o.format != "" {
		d, err = fieldimport.ParseAs(file, data, fieldimport.Format(o.format))
	} else {
		d, err = fieldimport.Parse(file, data)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitBadInput
	}
	im, err := fieldimport.Convert(d, opt)
	if err != nil {
		fmt.Fprintln(stderr, err)
		var fe *fieldimport.Error
		if errors.As(err, &fe) {
			return exitBadInput
		}
		return exitNotMet
	}
	name := o.out
	if name == "" {
		if _, err := stdout.Write(im.Scenario); err != nil {
			fmt.Fprintf(stderr, "write scenario: %v\n", err)
			return exitNotMet
		}
		name = filepath.Join(filepath.Dir(file), "imported.yaml")
	} else if err := os.WriteFile(o.out, im.Scenario, 0o644); err != nil {
		fmt.Fprintf(stderr, "--out: %v\n", err)
		return exitBadInput
	}
	summary := stdout
	if o.out == "" {
		summary = stderr // stdout holds the scenario
	}
	fmt.Fprintf(summary, "%s: %s; field outcome: %s\n", describeImport(o.out, im), inferenceCounts(im.Inferences), im.Outcome.Summary())
	if !o.run {
		return exitOK
	}
	return o.runImported(ctx, summary, stderr, name, im)
}

// configRef is how the scenario refers to --config: relative to the
// scenario file when it has one, absolute otherwise.
func (o *importOptions) configRef() string {
	abs, err := filepath.Abs(o.config)
	if err != nil {
		return o.config
	}
	if o.out == "" {
		return abs
	}
	outDir, err := filepath.Abs(filepath.Dir(o.out))
	if err != nil {
		return abs
	}
	if rel, err := filepath.Rel(outDir, abs); err == nil {
		return rel
	}
	return abs
}

func describeImport(out string, im *fieldimport.Import) string {
	where := "scenario written to stdout"
	if out != "" {
		where = "wrote " + out
	}
	kind := "a client of a media node"
	if im.PeerToPeer {
		kind = "a peer-to-peer call"
	}
	s := fmt.Sprintf("%s (%s", where, kind)
	if im.Archetype != "" {
		s += ", network archetype " + im.Archetype
	}
	return s + ")"
}

// inferenceCounts renders "12 inferences (5 observed, 4 inferred, 3
// assumed)".
func inferenceCounts(list []*fieldimport.Inference) string {
	n := map[fieldimport.Certainty]int{}
	for _, in := range list {
		n[in.Certainty]++
	}
	return fmt.Sprintf("%s (%d observed, %d inferred, %d assumed)", reports.Plural(len(list), "inference"),
		n[fieldimport.Observed], n[fieldimport.Inferred], n[fieldimport.Assumed])
}

// readDump reads a dump file of bounded size.
func readDump(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, unwrapPath(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	const limit = 256 << 20
	if fi.Size() > limit {
		return nil, fmt.Errorf("larger than %d MiB", limit>>20)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, unwrapPath(err)
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit+1))
}

// runImported runs the imported scenario as icelab run does and compares
// the dumped endpoint's result with the field outcome.
func (o *importOptions) runImported(ctx context.Context, stdout, stderr io.Writer, name string, im *fieldimport.Import) int {
	ca, err := o.trust.authority()
	if err != nil {
		fmt.Fprintf(stderr, "test certificate authority: %v\n", err)
		return exitNotMet
	}
	s, err := (&scenarios.Loader{CA: ca}).Parse(name, im.Scenario)
	if err != nil {
		for _, e := range located(name, err) {
			fmt.Fprintln(stderr, e)
		}
		return exitNotMet // icelab wrote it: not the user's input
	}
	ro := &runOptions{clock: o.clock, trust: o.trust, runner: o.runner, grace: stopGrace}
	fmt.Fprintf(stdout, "running %s on the %s clock\n", s.Name, ro.clockOf(s))
	stop := func() bool { return ctx.Err() != nil }
	res := ro.runOne(ctx, s, stop, []harness.Option{harness.WithCA(ca)})
	run := reports.NewRun(s, res)
	printVerdict(stdout, run)
	if res.Interrupted || ctx.Err() != nil {
		return exitInterrupted
	}
	who := im.Client
	if im.PeerToPeer {
		who = harness.PeerResultName(im.Client, s.Spec.Peers[1].Name)
	}
	c := res.Client(who)
	if c == nil {
		fmt.Fprintf(stderr, "the run has no result for %s: %s\n", who, res.Err)
		return exitNotMet
	}
	v := im.Compare(c)
	fmt.Fprint(stdout, v.String())
	if !v.Reproduced {
		return exitNotMet
	}
	return exitOK
}
