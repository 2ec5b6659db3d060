// Command icelab runs icelab's tools outside `go test`. Each subcommand lives in
// its own file and is added in newRootCmd.
//
// The program runs inside fakeclock.Main, so that `icelab run` can put
// scenarios in testing/synctest bubbles, where pion's production timers
// cost no wall time.
package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/icelab/icelab/harness/fakeclock"
	"github.com/icelab/icelab/relay/pki"
	"github.com/spf13/cobra"
)

func main() {
	// Signals are caught from the start, so that one arriving at any
	// moment ends the command as interrupted.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first signal restores the default action, so that a second
		// one ends the process at once.
		<-ctx.Done()
		stop()
	}()
	fakeclock.Main(func(r *fakeclock.Runner) int {
		return execute(ctx, os.Args[1:], &trust{}, r, os.Stdout, os.Stderr)
	})
}

// execute runs the command line args until ctx ends and returns the exit
// status; tr is the process's one trusted authority. Nil args are no
// arguments: the process's own never leak in (cobra reads os.Args[1:]
// when handed nil, which in a test binary are the test flags).
func execute(ctx context.Context, args []string, tr *trust, runner specRunner, stdout, stderr io.Writer) int {
	var ran bool
	root := newRootCmdWith(tr, runner)
	documentExitStatus(root, &ran)
	if args == nil {
		args = []string{}
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return statusOf(root.ExecuteContext(ctx), ran, stderr)
}

// trust is the process's test certificate authority, made and installed as
// the process's only trusted root the first time a command needs it: pion's
// TURN/TLS client verifies against the system roots, which a process loads
// once, so every run in a process must share one authority.
type trust struct {
	once sync.Once
	ca   *pki.CA
	err  error
}

func (t *trust) authority() (*pki.CA, error) {
	t.once.Do(func() {
		t.ca, t.err = pki.NewCA("icelab run CA")
		if t.err == nil {
			t.err = pki.TrustForProcess(t.ca)
		}
	})
	return t.ca, t.err
}

// newRootCmd builds the icelab command tree for a program without a
// fake-clock runner: run then runs every scenario on the real clock.
func newRootCmd(tr *trust) *cobra.Command { return newRootCmdWith(tr, nil) }

// newRootCmdWith builds the icelab command tree; runner runs fake-clock
// scenarios for run.
func newRootCmdWith(tr *trust, runner specRunner) *cobra.Command {
	root := &cobra.Command{
		Use:           "icelab",
		Short:         "Reproduce WebRTC connectivity failures",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(cmd.ErrOrStderr())
			_ = cmd.Usage()
			return badInput(errors.New("a command is required"))
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return badInput(err) })
	root.AddCommand(newRelayCmd(), newRunCmd(tr, runner), newValidateCmd(), newAuditCmd(tr, runner), newImportCmd(tr, runner))
	return root
}
