// Command icelab runs icelab's tools outside `go test`. Each subcommand lives in
// its own file and is added in newRootCmd.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/icelab/icelab/relay/pki"
	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd(&trust{}).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "icelab:", err)
		os.Exit(1)
	}
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

// newRootCmd builds the icelab command tree.
func newRootCmd(tr *trust) *cobra.Command {
	root := &cobra.Command{
		Use:           "icelab",
		Short:         "Reproduce WebRTC connectivity failures",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newRelayCmd(), newRunCmd(tr), newValidateCmd())
	root.AddCommand(newAuditCmd(tr))
	return root
}
