package harness

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

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
	var order []string
	for _, c := range r.spec.Clients {
		order = append(order, c.Name)
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
		shared := nodeCfg.TURN.Certificate != nil && !nodeCfg.TURN.ExternalTLS && nodeCfg.TURN.TLSPort == signalPort && r.spec.Node.LoadBalancer == nil
		relayCfg := nodeCfg
		if shared {
			// One listener on 443 serves HTTPS and TURN/TLS: the relay
			// keeps only UDP and TCP, and the node's TLS front end
			// hands TURN streams to the relay's TCP port.
			relayCfg.TURN.Certificate, relayCfg.TURN.CertFile, relayCfg.TURN.KeyFile = nil, "", ""
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
		nopts := nodeOptions{
			portMin: uint16(cfg.RTC.PortRangeStart), portMax: uint16(cfg.RTC.PortRangeEnd),
			singlePort: r.spec.Node.SinglePort, useExternalIP: cfg.RTC.UseExternalIP, loggers: r.o.loggers,
		}
		for _, c := range r.spec.Clients {
			nopts.renomination = nopts.renomination || c.Fallback.Policy == Renominate
		}
		if r.clock == RealClock && cfg.RTC.TCPPort > 0 {
			if nopts.tcpMux, err = r.iceTCP(host, cfg.RTC.TCPPort); err != nil {
				return fmt.Errorf("node %s: ice-tcp: %w", name, err)
			}
		}
		nd, err := newNode(name, host, nodeCfg, external, nopts, r.rs, r.spec.Clients)
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
		l, err := host.ListenTCP("tcp4", &net.TCPAddr{IP: host.Addr().AsSlice(), Port: signalPort})
		if err != nil {
			return fmt.Errorf("node %s: signalling on %d: %w", name, signalPort, err)
		}
		var front net.Listener = l
		certs := []tls.Certificate{sigLeaf.Certificate}
		if shared {
			d := newDemux(l, host, netip.AddrPortFrom(host.Addr(), uint16(cfg.TURN.UDPPort)), *nodeCfg.TURN.Certificate, sigLeaf.Certificate, domain)
			r.closers = append(r.closers, d.close)
			front = d.http
			certs = nil
		}
		turnURLHost, byName := cfg.TURN.Domain, r.spec.Node.TURNByName
		tlsPort := cfg.TURN.TLSPort
		if r.spec.Node.LoadBalancer != nil {
			tlsPort = r.spec.Node.LoadBalancer.Port
		}
		ext := external
		ttl := r.spec.Node.CredentialTTL
		if ttl == 0 {
			ttl = credentialTTL
		}
		expiry := func() time.Time { return time.Now().Add(r.spec.Node.MintClockOffset + ttl) }
		iceServers := func(client string) []webrtc.ICEServer {
			return clientICEServers(nodeCfg, ext, turnURLHost, byName, tlsPort, client, secret, expiry)
		}
		nd.serve(front, certs, iceServers, order)
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
	turnTarget := r.nodes[0].external
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
