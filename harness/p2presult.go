package harness

import "time"

// collectPeers adds a result per end of every peer-to-peer connection,
// peers in spec order and each peer's ends in the order of its remotes.
func (r *runner) collectPeers(res *Result, at time.Duration) {
	var ends []*peerEnd
	for _, p := range r.peers {
		ends = append(ends, p.ends...)
	}
	for _, e := range ends {
		e.snapshotChecks()
	}
	byName := map[string]ClientResult{}
	for _, e := range ends {
		cr := e.obs.result()
		cr.Media = r.rs.meter.Results(e.name, at)
		byName[e.name] = cr
	}
	for _, e := range ends {
		cr := byName[e.name]
		other := byName[e.other.name]
		cr.Selected = withRemoteRelay(cr.Selected, other.Selected)
		if e.peer.spec.LibwebrtcStats && other.Selected != nil {
			cr.Selected = libwebrtcLocal(cr.Selected, other.Selected, cr.LocalCandidates, ownAddrs(e.peer.host), endpointIndependent(e.peer.host))
		}
		cr.Route = routeOf(cr.Selected)
		cr.Transport, cr.LostAt = carried(cr, func(p *Pair) Transport { return peerTransportOf(withRemoteRelay(p, other.Selected)) })
		if other.Selected != nil {
			// The remote's end of the pair: its local candidate is the
			// remote's, its remote candidate this peer as the remote
			// saw it, after any NAT (the node's view, for a client).
			p := *other.Selected
			cr.NodeSelected = &p
		}
		flows := e.flows()
		cr.NoMediaExpected = len(flows) == 0
		cr.MediaBothWays, cr.MediaFlowingAtEnd, cr.Outages = judgeMedia(flows, cr.Media, r.gone())
		if !cr.ok() {
			cr.Failure = r.explain(&e.peer.endpoint, e.peer.servers, flows, cr, at)
			if !cr.Connected && !hasRelay(cr.LocalCandidates) && !hasRelay(other.LocalCandidates) {
				cr.Failure += "; neither peer gathered a relay candidate, so only a direct path could work"
			}
		}
		if cr.Failure != "" && cr.FailedAt == 0 {
			cr.FailedAt = at
		}
		res.Clients = append(res.Clients, cr)
	}
}

// withRemoteRelay fills the relay protocol of a pair's remote relay
// candidate from the remote's own view of it, which alone knows how it
// reaches its relay.
func withRemoteRelay(p, other *Pair) *Pair {
	if p == nil {
		return nil
	}
	q := *p
	if q.Remote.Type == "relay" && q.Remote.RelayProtocol == "" && other != nil &&
		other.Local.Type == "relay" && other.Local.Address == q.Remote.Address {
		q.Remote.RelayProtocol = other.Local.RelayProtocol
	}
	return &q
}

// peerTransportOf names what carries a peer-to-peer connection: the
// relay transport of this end if it relays, else the remote's if it does
// (this end sends plain UDP to the remote's allocation, the remote reaches
// its relay over its TURN transport), else ICE/UDP.
func peerTransportOf(p *Pair) Transport {
	if p == nil {
		return NoTransport
	}
	if p.Local.Type == "relay" {
		return turnOver(p.Local.RelayProtocol)
	}
	if p.Remote.Type == "relay" {
		return turnOver(p.Remote.RelayProtocol)
	}
	return ICEUDP
}

func turnOver(protocol string) Transport {
	switch protocol {
	case "tls":
		return TURNTLS
	case "tcp":
		return TURNTCP
	}
	return TURNUDP
}

// routeOf describes a selected pair at both ends, local first.
func routeOf(p *Pair) string {
	if p == nil {
		return ""
	}
	kind := "direct: "
	if p.Local.Type == "relay" || p.Remote.Type == "relay" {
		kind = "relayed: "
	}
	return kind + endOf(p.Local) + " ↔ " + endOf(p.Remote)
}

func endOf(c Candidate) string {
	if c.Type == "relay" {
		return "relay(" + string(turnOver(c.RelayProtocol)) + ")"
	}
	return c.Type
}

func hasRelay(cs []Candidate) bool {
	for _, c := range cs {
		if c.Type == "relay" {
			return true
		}
	}
	return false
}
