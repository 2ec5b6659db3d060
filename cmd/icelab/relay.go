package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"runtime/debug"
	"strings"

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

// serveFlags are the flags of `relay serve`.
type serveFlags struct {
	config, addr, logLevel string
	lax, ephemeral         bool
}

func newRelayServeCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve --config livekit.yaml [--addr 127.0.0.1]",
		Short: "Serve TURN from a livekit.yaml on real sockets until interrupted",
		Long: `Serve runs the relay described by the turn: and rtc: blocks of a livekit.yaml
on the machine's network, bound to --addr (a specific IPv4 address, never
0.0.0.0), until SIGINT or SIGTERM.

On stdout it prints one "listening TRANSPORT ADDRESS URL" line per bound
listener, with the URL a client on this machine should use, then "ready", and a
"stopped:" summary at exit. Logs go to stderr (log/slog text, --log-level):
listeners and their socket buffers, allocations created, refreshed and
deleted, authentication failures with user and reason, refused peers, quota,
capacity and address-family refusals, and TCP/TLS connections refused or
closed at a deadline (at most one line per reason every 10 s, with a count).

turn.udp_port 0 means no TURN/UDP (nor icelab's TURN/TCP on that port) and
turn.tls_port 0 no TURN/TLS, as in LiveKit; a port another process holds,
even with SO_REUSEPORT, is refused. Unknown keys are errors, as in LiveKit's
own loader (strict YAML decoding); --disable-strict-config makes them
warnings, as LiveKit's flag of that name does. A livekit.yaml the relay
refuses, a flag it cannot use and a port it cannot bind exit with status 2.
Keys read, with their defaults:

` + relay.ConfigKeysHelp() + `
Loopback peers (turnutils_uclient -y, or any peer on 127.0.0.1) need
turn.allowed_peer_cidrs: [127.0.0.0/8]; a test with N clients of one user
needs turn.user_quota of at least N (or 0, unlimited).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return serve(cmd, f) },
	}
	cmd.Flags().StringVar(&f.config, "config", "", "livekit.yaml to read (required)")
	cmd.Flags().StringVar(&f.addr, "addr", "127.0.0.1", "IPv4 address to bind")
	cmd.Flags().StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().BoolVar(&f.lax, "disable-strict-config", false, "warn about unknown config keys instead of refusing them")
	cmd.Flags().BoolVar(&f.ephemeral, "ephemeral-ports", false, "bind each listener the config turns on to a port the kernel picks (for tests; the listening lines name them)")
	return cmd
}

func serve(cmd *cobra.Command, f serveFlags) error {
	bind, err := netip.ParseAddr(f.addr)
	if err != nil {
		return badInput(fmt.Errorf("--addr %q: %w", f.addr, err))
	}
	if !bind.Unmap().Is4() || bind.IsUnspecified() {
		return badInput(fmt.Errorf("--addr %s: want a specific IPv4 address", bind))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return badInput(fmt.Errorf("--log-level %q: want debug, info, warn or error", f.logLevel))
	}
	if f.config == "" {
		return badInput(errors.New("--config is required"))
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
	cfg, err := loadServeConfig(f, log)
	if err != nil {
		return badInput(err)
	}
	n, err := stdnet.NewNet()
	if err != nil {
		return fmt.Errorf("relay: network: %w", err)
	}
	opts := []relay.Option{relay.WithBindIP(bind), relay.WithName(cfg.TURN.Domain), relay.WithLogger(log),
		relay.WithReleaseMemory(debug.FreeOSMemory)}
	if f.ephemeral {
		opts = append(opts, relay.WithEphemeralPorts())
	}
	s, err := relay.New(cfg, opts...)
	if err != nil {
		return badInput(fmt.Errorf("%s: %w", f.config, err))
	}
	ctx := cmd.Context()
	if err := s.Start(ctx, n); err != nil {
		err = fmt.Errorf("%s: %w", f.config, err)
		if le := (*relay.ListenError)(nil); errors.As(err, &le) {
			return badInput(err)
		}
		return err
	}
	printListeners(cmd.OutOrStdout(), log, s, cfg, bind)
	log.Info("relay ready", "config", f.config, "realm", cfg.TURN.Domain,
		"relay_ports", fmt.Sprintf("%d-%d", cfg.TURN.RelayRangeStart, cfg.TURN.RelayRangeEnd),
		"user_quota", cfg.TURN.UserQuota)
	fmt.Fprintln(cmd.OutOrStdout(), "ready")
	<-ctx.Done()
	st := s.Stats()
	err = s.Close()
	log.Info("relay stopped", "allocations", st.AllocationsTotal, "auth_failures", st.AuthFailures,
		"peers_denied", st.PeersDenied, "quota_rejections", st.QuotaRejections, "capacity_failures", st.CapacityFailures,
		"family_refusals", st.FamilyRefusals, "connections_refused", st.Streams.Refused,
		"handshake_timeouts", st.Streams.HandshakeTimeouts, "first_frame_timeouts", st.Streams.FirstFrameTimeouts,
		"unallocated_timeouts", st.Streams.UnallocatedTimeouts)
	fmt.Fprintf(cmd.OutOrStdout(), "stopped: %d allocations, %d/%d client->peer packets/bytes, %d/%d peer->client, %d auth failures, %d peers denied\n",
		st.AllocationsTotal, st.Relayed.ClientToPeer.Packets, st.Relayed.ClientToPeer.Bytes,
		st.Relayed.PeerToClient.Packets, st.Relayed.PeerToClient.Bytes, st.AuthFailures, st.PeersDenied)
	return err
}

// loadServeConfig reads the file; unknown keys are errors unless f.lax.
func loadServeConfig(f serveFlags, log *slog.Logger) (relay.Config, error) {
	cfg, issues, err := relay.LoadConfig(f.config)
	var unknown []string
	for _, w := range issues {
		if w.Unknown && !f.lax {
			unknown = append(unknown, w.Where()+": unknown key")
			continue
		}
		log.Warn("config", "issue", w.Error())
	}
	if len(unknown) > 0 {
		err = errors.Join(err, fmt.Errorf("%s: unknown keys (LiveKit refuses them too; --disable-strict-config makes them warnings):\n  %s",
			f.config, strings.Join(unknown, "\n  ")))
	}
	return cfg, err
}

// printListeners prints and logs each bound listener with the URL a client
// should use: the bound address, which is what a client on this machine can
// reach. For TLS it also names the turn.domain URL, which clients that verify
// the certificate need (the name must resolve to the bound address).
func printListeners(out io.Writer, log *slog.Logger, s *relay.Server, cfg relay.Config, bind netip.Addr) {
	if cfg.TURN.UDPPort == 0 {
		log.Info("no TURN/UDP or TURN/TCP listener", "reason", "turn.udp_port is 0")
	}
	if !cfg.TURN.TLSEnabled() {
		log.Info("no TURN/TLS listener", "reason", "turn.tls_port is 0, or neither cert_file nor external_tls is set")
	}
	for _, l := range s.Addrs() {
		url := l.URL(bind.String())
		fmt.Fprintf(out, "listening %s %s %s\n", l.Transport, l.Addr, url)
		attrs := []any{"transport", string(l.Transport), "addr", l.Addr.String(), "url", url}
		if l.Transport == relay.TLS {
			attrs = append(attrs, "domain_url", l.URL(cfg.TURN.Domain),
				"note", "clients that verify the certificate use domain_url, with "+cfg.TURN.Domain+" resolving to "+bind.String())
		}
		if l.Transport == relay.UDP {
			if rcv, snd, ok := s.ListenerBuffers(); ok {
				attrs = append(attrs, "read_buffer_bytes", rcv, "write_buffer_bytes", snd)
			}
		}
		log.Info("listener bound", attrs...)
	}
}
