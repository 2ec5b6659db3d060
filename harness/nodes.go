package harness

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/icelab/icelab/harness/sfu"
	"github.com/icelab/icelab/relay"
	"github.com/icelab/icelab/relay/pki"
	"github.com/icelab/icelab/vnet"
	"github.com/pion/webrtc/v4"
)

// buildMediaNodes puts the media node on the network (and the second one
// a reconnect may land on, and the load balancer in front of them): each
// an SFU stand-in with its embedded relay, HTTPS signalling on 443 with a
// certificate of ca, and the ICE servers it hands its clients; and names
// the signalling and TURN domains.
func (r *runner) buildMediaNodes(ctx context.Context, ca *pki.CA) error {
	var err error
	cfg := r.spec.Node.Config
	if cfg.TURN.Domain == "" {
		cfg = mergeDefaults(cfg)
	}
	secret := ensureCredentials(&cfg)

	nodeNames := []string{nodeName(r.spec.Node)}
	if r.spec.Node.SecondNode {
		nodeNames = append(nodeNames, secondNodeName)
	}
	var lbAddr netip.Addr
	if r.spec.Node.LoadBalancer != nil {
		lbHost, err := r.topo.addHost(lbName, "", netip.Addr{}, vnet.Impairment{})
		if err != nil {
			return err
		}
		lbAddr = lbHost.Addr()
	}
	var participants []sfu.Participant
	renominate := false
	for _, c := range r.spec.Clients {
		participants = append(participants, sfu.Participant{Name: c.Name, Audio: c.Publish.Audio, Video: c.Publish.Video, Data: c.Publish.Data, Simulcast: c.Publish.Simulcast})
		renominate = renominate || c.Fallback.Policy == Renominate
	}
	var backends []netip.AddrPort
	for i, name := range nodeNames {
		addr := r.spec.Node.Addr
		if i > 0 {
			addr = netip.Addr{}
		}
		if r.spec.Node.IPv6 {
			r.topo.ipv6 = map[string]bool{name: true}
		}
		host, err := r.topo.addHost(name, r.spec.Node.LAN, addr, r.spec.Node.Link)
		if err != nil {
			return err
		}
		if err := host.Link().SetMTU(r.spec.Node.MTU); err != nil {
			return fmt.Errorf("node %s: %w", name, err)
		}
		external := host.ExternalAddr()
		if cfg.RTC.UseExternalIP && cfg.RTC.NodeIP.IsValid() {
			external = cfg.RTC.NodeIP
		}
		nodeCfg := cfg
		nodeCfg.TURN.AllowedPeers = append(slices.Clone(cfg.TURN.AllowedPeers),
			netip.PrefixFrom(host.Addr(), 32), netip.PrefixFrom(host.ExternalAddr(), 32))
		shared := nodeCfg.TURN.Certificate != nil && !nodeCfg.TURN.ExternalTLS && nodeCfg.TURN.TLSPort == sfu.SignalPort && r.spec.Node.LoadBalancer == nil
		relayCfg := nodeCfg
		turnStreams := cfg.TURN.UDPPort
		if shared {
			// One listener on 443 serves HTTPS and TURN/TLS: the relay
			// keeps only UDP and TCP, and the node's TLS front end
			// hands TURN streams to the relay's TCP port.
			relayCfg.TURN.Certificate, relayCfg.TURN.CertFile, relayCfg.TURN.KeyFile = nil, "", ""
			if cfg.TURN.UDPPort == 0 {
				// No TURN/UDP (turn.udp_port: 0), so no TCP listener
				// beside it: the relay takes the decrypted streams as
				// plain TCP on an inner port, as behind a load balancer
				// that terminates TLS.
				relayCfg.TURN.ExternalTLS, relayCfg.TURN.TLSPort = true, sharedTURNInnerPort
				turnStreams = sharedTURNInnerPort
			}
		}
		if cfg.TURN.Enabled {
			rl := r.spec.Node.Relay
			if rl == nil || i > 0 {
				srv, err := relay.New(relayCfg, relay.WithName(name+"-turn"), relay.WithBindIP(host.Addr()),
					relay.WithExternalIP(external), relay.WithLoggerFactory(r.o.loggers))
				if err != nil {
					return err
				}
				rl = srv
			}
			if err := rl.Start(ctx, host); err != nil {
				return fmt.Errorf("node %s: relay: %w", name, err)
			}
			r.relays = append(r.relays, rl)
		}
		if nodeCfg.TURN.TLSEnabled() {
			backends = append(backends, netip.AddrPortFrom(host.Addr(), uint16(nodeCfg.TURN.TLSPort)))
		}
		turnURLHost, byName := cfg.TURN.Domain, r.spec.Node.TURNByName
		ttl := r.spec.Node.CredentialTTL
		if ttl == 0 {
			ttl = credentialTTL
		}
		expiry := func() time.Time { return time.Now().Add(r.spec.Node.MintClockOffset + ttl) }
		ncfg := sfu.Config{
			Name: name, Host: host, External: external,
			PortMin: uint16(cfg.RTC.PortRangeStart), PortMax: uint16(cfg.RTC.PortRangeEnd),
			SinglePort: singlePort(r.spec.Node, cfg), UseExternalIP: cfg.RTC.UseExternalIP,
			Renomination: renominate, Loggers: r.o.loggers,
			Participants: participants, Meter: r.rs.meter, Observer: r.rs,
			ICEServers: func(client string, tlsOnly bool) []webrtc.ICEServer {
				return clientICEServers(nodeCfg, external, turnURLHost, byName, client, secret, expiry, tlsOnly)
			},
			IsRelay: func(addr string) bool { return addr == external.String() || addr == host.Addr().String() },
			Ladder:  ladderConfig(nodeCfg),
		}
		if r.clock == RealClock && cfg.RTC.TCPPort > 0 {
			if ncfg.TCPMux, err = r.iceTCP(host, cfg.RTC.TCPPort); err != nil {
				return fmt.Errorf("node %s: ice-tcp: %w", name, err)
			}
		}
		nd, err := sfu.New(ncfg)
		if err != nil {
			return err
		}
		r.nodes = append(r.nodes, nd)
		domain := signalDomain
		if i > 0 {
			domain = signalDomain2
		}
		sigLeaf, err := ca.Valid(domain)
		if err != nil {
			return err
		}
		l, err := host.ListenTCP("tcp4", &net.TCPAddr{IP: host.Addr().AsSlice(), Port: sfu.SignalPort})
		if err != nil {
			return fmt.Errorf("node %s: signalling on %d: %w", name, sfu.SignalPort, err)
		}
		var front net.Listener = l
		certs := []tls.Certificate{sigLeaf.Certificate}
		if shared {
			d := newDemux(l, host, netip.AddrPortFrom(host.Addr(), uint16(turnStreams)), *nodeCfg.TURN.Certificate, sigLeaf.Certificate, domain)
			r.closers = append(r.closers, d.close)
			front = d.http
			certs = nil
		}
		nd.Serve(front, certs)
		if err := r.topo.addName(domain, external.String()); err != nil {
			return err
		}
	}
	if r.spec.Node.LoadBalancer != nil && cfg.TURN.Certificate != nil {
		r.lb, err = newLoadBalancer(r.topo.hosts[lbName], r.spec.Node.LoadBalancer.Port, *cfg.TURN.Certificate, backends)
		if err != nil {
			return err
		}
	}
	turnTarget := r.nodes[0].External()
	if lbAddr.IsValid() {
		turnTarget = lbAddr
	}
	if _, ok := r.spec.Names[cfg.TURN.Domain]; !ok && cfg.TURN.Domain != "" {
		if err := r.topo.addName(cfg.TURN.Domain, turnTarget.String()); err != nil {
			return err
		}
	}
	return nil
}

// ladderConfig reads LiveKit's transport ladder knobs from a node's
// livekit.yaml: rtc.allow_tcp_fallback (true unless set false),
// rtc.tcp_fallback_rtt_threshold, rtc.allow_udp_unstable_fallback, and
// whether the deployment serves TURN/TLS.
func ladderConfig(cfg relay.Config) sfu.LadderConfig {
	return sfu.LadderConfig{
		AllowTCPFallback:         cfg.RTC.AllowTCPFallback,
		TCPFallbackRTTThreshold:  cfg.RTC.TCPFallbackRTTThreshold,
		AllowUDPUnstableFallback: cfg.RTC.AllowUDPUnstableFallback,
		TURNTLSEnabled:           cfg.TURN.Enabled && cfg.TURN.TLSEnabled(),
	}
}

// singlePort is the one UDP port the node muxes media on: the spec's, or
// rtc.udp_port when the livekit.yaml sets it without a port range (LiveKit
// muxes a udp_port range, one port per CPU; the node takes its first).
func singlePort(n NodeSpec, cfg relay.Config) int {
	if n.SinglePort > 0 {
		return n.SinglePort
	}
	if cfg.RTC.UDPMux() {
		return cfg.RTC.UDPPort
	}
	return 0
}

// sharedTURNInnerPort is where the relay of a node that serves TURN/TLS on
// its HTTPS port, with no TURN/UDP, takes the streams the front end
// decrypted (5349, TURN over TLS's own port, RFC 7350).
const sharedTURNInnerPort = 5349
