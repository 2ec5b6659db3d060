package scenarios

import (
	"slices"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/relay"
	"github.com/pion/webrtc/v4"
	"go.yaml.in/yaml/v3"
)

// peerPolicies are the fallback policies a peer may have: transport
// fallback and renomination are a media node's.
var peerPolicies = []string{"none", "force-relay", "ice-restart"}

// keyNode returns the key node of field key in mapping n, for errors about
// the field as a whole.
func keyNode(n *yaml.Node, key string) *yaml.Node {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return n
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := resolve(n.Content[i]); k != nil && k.Kind == yaml.ScalarNode && k.Value == key {
			return k
		}
	}
	return n
}

// callKind checks that a file has a media node with clients or peers,
// not both and not neither, naming the line of the offending field.
func (p *parser) callKind(root *yaml.Node, t top) bool {
	switch {
	case t.peers != nil && t.clients != nil:
		p.errorf(keyNode(root, "peers"), "peers", "a file has clients (of a media node) or peers (a peer-to-peer call), not both; clients are at line %d", lineOf(keyNode(root, "clients")))
		return false
	case t.peers != nil && t.node != nil:
		p.errorf(keyNode(root, "node"), "node", "a peer-to-peer call (peers:) has no media node; remove node: or use clients:")
		return false
	case t.peers == nil && t.clients == nil:
		p.errorf(root, "clients", "missing; a scenario needs clients (with a media node) or peers (a peer-to-peer call)")
		return false
	}
	return true
}

// serverList reads servers: standalone STUN/TURN relay hosts.
func (p *parser) serverList(path string, v *yaml.Node) {
	p.list(v, path, func(path string, _ int, v *yaml.Node) { p.server(path, v) })
}

func (p *parser) server(path string, v *yaml.Node) {
	var (
		sv               harness.ServerSpec
		inline, fileNode *yaml.Node
		addrAt           *yaml.Node
		req              tlsRequest
	)
	ok := p.fields(v, path, map[string]field{
		"name": func(path string, v *yaml.Node) {
			name, ok := p.hostName(v, path)
			if !ok {
				return
			}
			if prev, dup := p.servers[name]; dup {
				p.errorf(v, path, "server %q is defined twice (first at line %d)", name, prev.Line)
				return
			}
			sv.Name = name
			p.servers[name] = v
		},
		"lan": func(path string, v *yaml.Node) { sv.LAN = p.lanRef(path, v) },
		"addr": func(path string, v *yaml.Node) {
			a, ok := p.ipv4(path, v)
			if !ok {
				return
			}
			sv.Addr, addrAt = a, v
		},
		"link":        func(path string, v *yaml.Node) { sv.Link = p.impairment(path, v) },
		"config":      func(_ string, v *yaml.Node) { inline = v },
		"config_file": func(_ string, v *yaml.Node) { fileNode = v },
		"tls":         func(path string, v *yaml.Node) { req = p.tlsRequest(path, v) },
	})
	if !ok {
		return
	}
	if sv.Name == "" {
		if _, has := fieldNode(v, "name"); !has {
			p.errorf(v, join(path, "name"), "missing; every server needs a name")
		}
		return
	}
	if addrAt != nil {
		p.checkNodeAddr(join(path, "addr"), addrAt, harness.NodeSpec{LAN: sv.LAN, Addr: sv.Addr})
	}
	switch {
	case inline != nil && fileNode != nil:
		p.errorf(fileNode, join(path, "config_file"), "server has both config and config_file; use one")
		return
	case inline != nil:
		sv.Config, ok = p.inlineConfig(join(path, "config"), inline, &req)
	case fileNode != nil:
		sv.Config, ok = p.configFile(join(path, "config_file"), fileNode, &req)
	}
	if !ok {
		return
	}
	if inline == nil && fileNode == nil {
		sv.Config.Source = p.file
		if req.requested {
			// A certificate needs a domain to be issued for: the one
			// the harness gives a server without a config.
			sv.Config = relay.DefaultConfig()
			sv.Config.TURN.Domain = sv.Name + ".icelab.test"
			sv.Config.Source = p.file
		}
	}
	if req.requested && !req.bad {
		p.certificate(join(path, "tls"), &sv.Config, &req)
	}
	p.s.Spec.Servers = append(p.s.Spec.Servers, sv)
	p.s.place(v, path, "server "+sv.Name, "host "+sv.Name, "relay "+sv.Name)
}

// peerList reads peers: the peers of a peer-to-peer call.
func (p *parser) peerList(path string, v *yaml.Node) {
	p.list(v, path, func(path string, _ int, v *yaml.Node) { p.peer(path, v) })
	if len(p.s.Spec.Peers) < 2 && len(p.errs) == 0 {
		p.errorf(v, path, "a peer-to-peer call needs at least two peers, got %d", len(p.s.Spec.Peers))
	}
}

func (p *parser) peer(path string, v *yaml.Node) {
	var servers []string
	c, ok := p.clientSpec(path, v, "peer", map[string]field{
		"servers": func(path string, v *yaml.Node) {
			servers = []string{}
			p.list(v, path, func(path string, _ int, v *yaml.Node) {
				var name string
				if !p.str(v, path, &name) {
					return
				}
				if _, ok := p.servers[name]; !ok {
					p.errorf(v, path, "unknown server %q; want one of: %s", name, oneOf(mapKeys(p.servers)))
					return
				}
				servers = append(servers, name)
			})
		},
	})
	if !ok {
		return
	}
	if !slices.Contains(peerPolicies, string(c.Fallback.Policy)) {
		fb, _ := fieldNode(v, "fallback")
		if fb == nil {
			fb = keyNode(v, "profile")
		}
		p.errorf(fb, join(path, "fallback.policy"), "%q is a media node's policy; a peer has %s", c.Fallback.Policy, oneOf(peerPolicies))
		return
	}
	if slices.Contains(c.NetworkTypes, webrtc.NetworkTypeTCP4) {
		at, ok := fieldNode(v, "network_types")
		if !ok {
			at = keyNode(v, "profile")
		}
		p.errorf(at, join(path, "network_types"), "ICE-TCP between peers is not modelled; want udp4 (TURN over TCP and TLS still work)")
		return
	}
	if c.ICEServers != nil && servers != nil {
		p.errorf(keyNode(v, "servers"), join(path, "servers"), "a peer has ice_servers or servers, not both")
		return
	}
	p.s.Spec.Peers = append(p.s.Spec.Peers, harness.PeerSpec{ClientSpec: c, Servers: servers})
	p.s.place(v, path, "peer "+c.Name, "host "+c.Name)
}

// peerExpectations reads expect: for a peer-to-peer call: by peer, each
// applying to every connection of the peer, with per-remote overrides
// under with:. They become expectations of the results "peer→remote".
func (p *parser) peerExpectations(path string, v *yaml.Node) {
	peers := map[string]bool{}
	for _, ps := range p.s.Spec.Peers {
		peers[ps.Name] = true
	}
	p.pairs(v, path, func(name string, k, v *yaml.Node) {
		fp := join(path, name)
		if !peers[name] {
			p.errorf(k, fp, "unknown peer %q; want one of: %s", name, oneOf(mapKeys(peers)))
			return
		}
		var with *yaml.Node
		all := p.expectationWith(fp, v, map[string]field{
			"ladder": nil, // a peer-to-peer call has no media node, so no ladder
			"with":   func(_ string, v *yaml.Node) { with = v },
		})
		over := map[string]Expectation{}
		if with != nil {
			wp := join(fp, "with")
			p.pairs(with, wp, func(remote string, k, v *yaml.Node) {
				if !peers[remote] || remote == name {
					p.errorf(k, join(wp, remote), "unknown remote %q; want another peer: %s", remote, oneOf(mapKeys(peers)))
					return
				}
				over[remote] = p.expectation(join(wp, remote), v)
			})
		}
		for _, ps := range p.s.Spec.Peers {
			if ps.Name != name {
				p.s.Expect[harness.PeerResultName(name, ps.Name)] = all.with(over[ps.Name])
			}
		}
	})
}

// with returns e with the fields o sets replacing e's.
func (e Expectation) with(o Expectation) Expectation {
	if len(o.Transports) > 0 {
		e.Transports = o.Transports
	}
	if o.Connected != nil {
		e.Connected = o.Connected
	}
	if len(o.LocalCandidates) > 0 {
		e.LocalCandidates = o.LocalCandidates
	}
	if len(o.RemoteCandidates) > 0 {
		e.RemoteCandidates = o.RemoteCandidates
	}
	if o.Ladder != nil {
		e.Ladder = o.Ladder
	}
	if o.FlowingAtEnd != nil {
		e.FlowingAtEnd = o.FlowingAtEnd
	}
	if o.MediaBothWays != nil {
		e.MediaBothWays = o.MediaBothWays
	}
	q, oq := &e.Quality, o.Quality
	if oq.MinBitrate != 0 {
		q.MinBitrate = oq.MinBitrate
	}
	if oq.MaxLoss != nil {
		q.MaxLoss = oq.MaxLoss
	}
	if oq.MaxRTT != 0 {
		q.MaxRTT = oq.MaxRTT
	}
	if oq.MaxJitter != 0 {
		q.MaxJitter = oq.MaxJitter
	}
	if oq.MaxFreeze != 0 {
		q.MaxFreeze = oq.MaxFreeze
	}
	if o.Recovered != nil {
		e.Recovered = o.Recovered
	}
	if o.RecoverWithin != 0 {
		e.RecoverWithin = o.RecoverWithin
	}
	if o.FailureContains != "" {
		e.FailureContains = o.FailureContains
	}
	if o.FinalState != "" {
		e.FinalState = o.FinalState
	}
	return e
}
