package main

import (
	"fmt"
	"io"

	"github.com/icelab/icelab/reports"
	"github.com/icelab/icelab/scenarios"
	"github.com/spf13/cobra"
)

func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate PATH...",
		Short: "Load scenario files (or directories of them) and report problems without running them",
		Long: `Validate loads the scenarios in each PATH (a file, or every *.yaml and *.yml
file in a directory and its subdirectories) and checks them as run would,
without running them. It prints one line per valid file, with the clock
the scenario runs on, and every problem of the others with its file, line
and field.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStatus(validate(cmd.OutOrStdout(), cmd.ErrOrStderr(), args))
		},
	}
}

// validate loads every path and prints each scenario or each problem; it
// returns the exit status.
func validate(stdout, stderr io.Writer, paths []string) int {
	files, bad := scenarioFiles(paths)
	got := loadFiles(&scenarios.Loader{}, files)
	printWarnings(stderr, got.list)
	invalid := append(pathRuns(bad), got.invalid...)
	for _, r := range invalid {
		for _, e := range r.Invalid {
			fmt.Fprintln(stderr, e)
		}
	}
	for _, s := range got.list {
		who := reports.Plural(len(s.Spec.Clients), "client")
		if len(s.Spec.Peers) > 0 {
			who = reports.Plural(len(s.Spec.Peers), "peer")
		}
		fmt.Fprintf(stdout, "ok   %s  (%s: %s, %s clock)\n", s.File, s.Name, who, clockOf(s))
	}
	if len(invalid) > 0 {
		fmt.Fprintf(stderr, "%s valid, %d invalid\n", reports.Plural(len(got.list), "scenario file"), len(invalid))
		return exitBadInput
	}
	fmt.Fprintf(stdout, "%s valid\n", reports.Plural(len(got.list), "scenario file"))
	return exitOK
}

// clockOf is the clock a scenario runs on by default, as results.json
// and run's verdict lines name it.
func clockOf(s *scenarios.Scenario) string {
	if s.RealClock {
		return clockReal
	}
	return clockFake
}
