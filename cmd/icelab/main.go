// Command icelab runs icelab's tools outside `go test`. Each subcommand lives in
// its own file and is added in newRootCmd.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "icelab:", err)
		os.Exit(1)
	}
}

// newRootCmd builds the icelab command tree.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "icelab",
		Short:         "Reproduce WebRTC connectivity failures",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newRelayCmd(), newRunCmd(), newValidateCmd())
	return root
}
