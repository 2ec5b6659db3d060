package main

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/pion/transport/v5/stdnet"
	"github.com/spf13/cobra"

	"github.com/icelab/icelab/relay"
)

func newRelayCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "relay",
		Short: "Run icelab's TURN relay",
	}
	cmd.AddCommand(newRelayServeCmd())
	return cmd
}

func newRelayServeCmd() *cobra.Command {
	var configPath, addr string
	cmd := &cobra.Command{
		Use:   "serve --config livekit.yaml [--addr 127.0.0.1]",
		Short: "Serve TURN from a livekit.yaml on real sockets until interrupted",
		Long: `Serve runs the relay described by the turn: and rtc: blocks of a livekit.yaml
on the machine's network, bound to --addr (a specific IPv4 address, never
0.0.0.0), until SIGINT or SIGTERM. It prints one "listening" line per listener
and then "ready"; configuration warnings go to stderr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bind, err := netip.ParseAddr(addr)
			if err != nil {
				return fmt.Errorf("--addr %q: %w", addr, err)
			}
			if configPath == "" {
				return errors.New("--config is required")
			}
			cfg, warns, err := relay.LoadConfig(configPath)
			for _, w := range warns {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
			}
			if err != nil {
				return err
			}
			n, err := stdnet.NewNet()
			if err != nil {
				return fmt.Errorf("relay: network: %w", err)
			}
			s, err := relay.New(cfg, relay.WithBindIP(bind), relay.WithName(cfg.TURN.Domain))
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if err := s.Start(ctx, n); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, l := range s.Addrs() {
				fmt.Fprintf(out, "listening %s %s %s\n", l.Transport, l.Addr, l.URL(cfg.TURN.Domain))
			}
			fmt.Fprintln(out, "ready")
			<-ctx.Done()
			st := s.Stats()
			err = s.Close()
			fmt.Fprintf(out, "stopped: %d allocations, %d/%d client->peer packets/bytes, %d/%d peer->client, %d auth failures, %d peers denied\n",
				st.AllocationsTotal, st.Relayed.ClientToPeer.Packets, st.Relayed.ClientToPeer.Bytes,
				st.Relayed.PeerToClient.Packets, st.Relayed.PeerToClient.Bytes, st.AuthFailures, st.PeersDenied)
			return err
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "livekit.yaml to read (required)")
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1", "IPv4 address to bind")
	return cmd
}
