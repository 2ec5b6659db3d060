package harness

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/icelab/icelab/middlebox"
	"github.com/icelab/icelab/relay"
	"github.com/icelab/icelab/vnet"
	"github.com/pion/webrtc/v4"
)

// PeerSpec is one peer of a peer-to-peer call: an application's pion peer
// with a client's connect options, connecting to every other peer of the
// spec (a full mesh) with signalling out of band. The earlier-listed peer
// of each pair offers.
//
// Of the embedded ClientSpec, every field applies as it does to a client
// except: ICEServers, when not nil, are the peer's servers as given;
// Relays filters those its Servers offer (nil: every transport they
// offer); NetworkTypes may only be UDP (ICE-TCP between peers is not
// modelled); and the fallback policies are none, force-relay and
// ice-restart (the offerer of a pair restarts ICE when either end's ICE
// fails and either end asks for it). Transport fallback and renomination
// are a media node's.
type PeerSpec struct {
	ClientSpec
	// Servers names the standalone servers (Spec.Servers) whose STUN and
	// TURN the peer is handed, with credentials, as an application's
	// backend hands them out. Nil means every server of the spec; an empty
	// list means none (host candidates and peer-reflexive ones only).
	Servers []string
}

// ServerSpec is a standalone STUN/TURN relay host: pion/turn from the
// relay package, configured by the turn: block of a livekit.yaml.
type ServerSpec struct {
	Name string
	// LAN is where the host sits; empty means the internet. A LAN with a
	// 1:1 NAT is a cloud VM without a public IP: the relay advertises its
	// private address in relay candidates unless Config.RTC.UseExternalIP
	// (as LiveKit's relay does, and coturn without external-ip).
	LAN string
	// Addr is the host's address on its LAN; zero picks one.
	Addr netip.Addr
	Link vnet.Impairment
	// Config is the relay's configuration; a zero TURN.Domain means
	// LiveKit's defaults with the domain NAME.icelab.test. Credentials
	// are made when it has none.
	Config relay.Config
}

// PeerResultName names a peer's end of its connection to remote in
// Result.Clients: "alice→bob".
func PeerResultName(peer, remote string) string { return peer + "→" + remote }

// Peer returns the results of the named peer's ends of its connections,
// in the order of the spec's peers.
func (r *Result) Peer(name string) []ClientResult {
	var out []ClientResult
	for _, c := range r.Clients {
		if c.Peer == name {
			out = append(out, c)
		}
	}
	return out
}

// validatePeers checks a peer-to-peer spec's peers, adding their names to
// hosts (the names faults may target).
func (s Spec) validatePeers(lans, hosts map[string]bool) error {
	if len(s.Clients) > 0 {
		return errors.New("a call has a media node with clients, or peers, not both")
	}
	if n := s.Node; n.Name != "" || n.LAN != "" || n.Addr.IsValid() || n.Relay != nil || n.LoadBalancer != nil || n.SecondNode || n.SinglePort != 0 || n.Config.TURN.Domain != "" {
		return errors.New("a peer-to-peer call has no media node; leave Node empty")
	}
	if len(s.Peers) < 2 {
		return errors.New("a peer-to-peer call needs at least two peers")
	}
	servers := map[string]bool{}
	for _, sv := range s.Servers {
		servers[sv.Name] = true
	}
	for i, p := range s.Peers {
		if p.Name == "" {
			return fmt.Errorf("peers[%d]: a name is required", i)
		}
		if hosts[p.Name] || servers[p.Name] || lans[p.Name] {
			return fmt.Errorf("peers[%d]: duplicate name %q", i, p.Name)
		}
		hosts[p.Name] = true
		if !lans[p.LAN] {
			return fmt.Errorf("peer %s: lan %q is not defined", p.Name, p.LAN)
		}
		for _, sv := range p.Servers {
			if !servers[sv] {
				return fmt.Errorf("peer %s: server %q is not defined", p.Name, sv)
			}
		}
		if hasTCP(p.NetworkTypes) {
			return fmt.Errorf("peer %s: ICE-TCP between peers is not modelled; want udp4 (TURN over TCP and TLS work)", p.Name)
		}
		switch p.Fallback.Policy {
		case "", NoFallback, ForceRelay, ICERestart:
		default:
			return fmt.Errorf("peer %s: fallback %q is a media node's; a peer has none, force-relay or ice-restart", p.Name, p.Fallback.Policy)
		}
		if p.Fallback.OtherNode {
			return fmt.Errorf("peer %s: other_node: a peer-to-peer call has no media node", p.Name)
		}
		if p.Publish.Simulcast {
			return fmt.Errorf("peer %s: simulcast: layers are for a media node to choose from; a peer sends one", p.Name)
		}
	}
	return nil
}

// validateServers checks the standalone servers' names and LANs.
func (s Spec) validateServers(lans map[string]bool) error {
	seen := map[string]bool{}
	for i, sv := range s.Servers {
		if sv.Name == "" {
			return fmt.Errorf("servers[%d]: a name is required", i)
		}
		if seen[sv.Name] || lans[sv.Name] || sv.Name == nodeName(s.Node) && len(s.Peers) == 0 {
			return fmt.Errorf("servers[%d]: duplicate name %q", i, sv.Name)
		}
		seen[sv.Name] = true
		if !lans[sv.LAN] {
			return fmt.Errorf("server %s: lan %q is not defined", sv.Name, sv.LAN)
		}
	}
	return nil
}

// standalone is a built standalone server: its relay and what it hands a
// peer.
type standalone struct {
	spec     ServerSpec
	cfg      relay.Config
	external netip.Addr
	secret   string
}

// iceServers is what the server's operator hands user: STUN, and TURN
// with credentials minted now.
func (s *standalone) iceServers(user string) []webrtc.ICEServer {
	expiry := func() time.Time { return time.Now().Add(credentialTTL) }
	return operatorICEServers(s.cfg, s.external, user, s.secret, expiry)
}

// buildServers starts the spec's standalone relays, each on a host of its
// own, and names their TURN domains.
func (r *runner) buildServers(ctx context.Context) error {
	for _, sv := range r.spec.Servers {
		cfg := sv.Config
		if cfg.TURN.Domain == "" {
			cfg = mergeDefaults(cfg)
			cfg.TURN.Domain = sv.Name + ".icelab.test"
		}
		secret := ensureCredentials(&cfg)
		host, err := r.topo.addHost(sv.Name, sv.LAN, sv.Addr, sv.Link)
		if err != nil {
			return fmt.Errorf("server %s: %w", sv.Name, err)
		}
		external := host.ExternalAddr()
		if cfg.RTC.UseExternalIP && cfg.RTC.NodeIP.IsValid() {
			external = cfg.RTC.NodeIP
		}
		// Two peers relaying through the same server are each other's
		// peer at the server's own address: allow it, as the node does.
		cfg.TURN.AllowedPeers = append(slices.Clone(cfg.TURN.AllowedPeers),
			netip.PrefixFrom(host.Addr(), 32), netip.PrefixFrom(external, 32))
		srv, err := relay.New(cfg, relay.WithName(sv.Name), relay.WithBindIP(host.Addr()),
			relay.WithExternalIP(external), relay.WithLoggerFactory(r.o.loggers))
		if err != nil {
			return fmt.Errorf("server %s: %w", sv.Name, err)
		}
		if err := srv.Start(ctx, host); err != nil {
			return fmt.Errorf("server %s: relay: %w", sv.Name, err)
		}
		r.relays = append(r.relays, srv)
		if _, ok := r.spec.Names[cfg.TURN.Domain]; !ok {
			if err := r.topo.addName(cfg.TURN.Domain, external.String()); err != nil {
				return fmt.Errorf("server %s: %w", sv.Name, err)
			}
		}
		r.servers = append(r.servers, &standalone{spec: sv, cfg: cfg, external: external, secret: secret})
	}
	return nil
}

// buildPeers adds a host per peer and one end per pair of peers on each
// side, the earlier-listed peer of a pair offering.
func (r *runner) buildPeers(proxies map[string]*middlebox.Proxy, runCA *x509.Certificate) error {
	for _, ps := range r.spec.Peers {
		ep, err := r.placeEndpoint("peer", ps.ClientSpec)
		if err != nil {
			return err
		}
		if err := ep.configureProxy(proxies, runCA); err != nil {
			return err
		}
		r.peers = append(r.peers, &peer{endpoint: ep, spec: ps, run: r.rs, servers: r.peerServers(ps)})
	}
	for i, a := range r.peers {
		for _, b := range r.peers[i+1:] {
			offer, answer := a.end(b, true), b.end(a, false)
			offer.other, answer.other = answer, offer
		}
	}
	return nil
}

// peerServers is what a peer is handed: its own list, or its servers'
// STUN and TURN URLs of the transports it uses.
func (r *runner) peerServers(ps PeerSpec) []webrtc.ICEServer {
	if ps.ICEServers != nil {
		return ps.ICEServers
	}
	var out []webrtc.ICEServer
	for _, sv := range r.servers {
		if ps.Servers != nil && !slices.Contains(ps.Servers, sv.spec.Name) {
			continue
		}
		servers := sv.iceServers(ps.Name)
		if ps.Relays != nil {
			servers = serversWhere(servers, usesRelays(ps.Relays))
		}
		out = append(out, servers...)
	}
	return out
}

// peerNamed returns the named peer, or nil.
func (r *runner) peerNamed(name string) *peer {
	for _, p := range r.peers {
		if p.spec.Name == name {
			return p
		}
	}
	return nil
}
