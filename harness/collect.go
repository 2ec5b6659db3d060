package harness

import (
	"crypto/x509"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/icelab/icelab/harness/media"
	"github.com/pion/webrtc/v4"
)

// collect fills res with what the run observed.
func (r *runner) collect(res *Result) {
	res.Duration = r.rs.since()
	end := res.Duration
	res.Traffic = r.trafficResults()
	for _, c := range r.clients {
		c.snapshotChecks()
	}
	for _, c := range r.clients {
		cr := c.obs.result()
		r.unbridge(&cr)
		if c.spec.LibwebrtcStats {
			cr.Selected = libwebrtcLocal(cr.Selected, cr.NodeSelected, cr.LocalCandidates, ownAddrs(c.host), endpointIndependent(c.host))
		}
		cr.Media = r.rs.meter.Results(c.spec.Name, end)
		cr.Transport, cr.LostAt = carried(cr, transportOf)
		flows := expectedFlows(c.spec, c.subscribe)
		cr.NoMediaExpected = len(flows) == 0
		cr.MediaBothWays, cr.MediaFlowingAtEnd, cr.Outages = judgeMedia(flows, cr.Media, r.gone())
		if !cr.ok() {
			cr.Failure = r.explain(&c.endpoint, c.iceServers, flows, cr, end)
		}
		if cr.Failure != "" && cr.FailedAt == 0 {
			// Stated, so detected: when signalling failed, or else at
			// the end of the call, where the harness judged it.
			cr.FailedAt = end
			if at := c.obs.signallingFailedAt(); at > 0 && !cr.Signalling {
				cr.FailedAt = at
			}
		}
		res.Clients = append(res.Clients, cr)
	}
	r.collectPeers(res, end)
	r.rs.mu.Lock()
	res.Faults = append([]AppliedFault(nil), r.rs.faults...)
	res.Drops = map[string]int{}
	for k, v := range r.rs.drops {
		res.Drops[k] = v
	}
	r.rs.mu.Unlock()
	r.mu.Lock()
	if r.captured != nil {
		res.Packets = r.captured.result()
	}
	r.mu.Unlock()
	for _, rl := range r.relays {
		st := rl.Stats()
		res.Relay.Allocations += int(st.AllocationsTotal)
		res.Relay.AuthFailures += st.AuthFailures
		res.Relay.ClientToPeerBytes += st.Relayed.ClientToPeer.Bytes
		res.Relay.ClientToPeerPackets += st.Relayed.ClientToPeer.Packets
		res.Relay.PeerToClientBytes += st.Relayed.PeerToClient.Bytes
		res.Relay.PeerToClientPackets += st.Relayed.PeerToClient.Packets
		res.Relay.PacketsRelayed += st.Relayed.ClientToPeer.Packets + st.Relayed.PeerToClient.Packets
	}
	secs := end.Seconds()
	if secs > 0 {
		res.Relay.Bitrate = float64(res.Relay.ClientToPeerBytes+res.Relay.PeerToClientBytes) * 8 / secs
	}
	res.Node = nodeLoad(res.Clients, secs)
}

// nodeLoad sums the media node's RTP flows: the publications it received
// and the subscriptions it sent.
func nodeLoad(clients []ClientResult, secs float64) NodeLoad {
	var l NodeLoad
	for _, c := range clients {
		for _, m := range c.Media {
			if m.Quality == nil {
				continue // data
			}
			switch m.Direction {
			case media.AtNode:
				l.Publications++
				l.PacketsIn += m.Packets
				l.BytesIn += m.Bytes
			case media.Received:
				l.Subscriptions++
				l.PacketsOut += m.Sent
				l.BytesOut += m.Bytes
			}
		}
	}
	if secs > 0 {
		l.BitrateIn, l.BitrateOut = float64(l.BytesIn)*8/secs, float64(l.BytesOut)*8/secs
	}
	return l
}

// ok reports whether a client's call went as a call should: connected to
// the end, with every expected flow carrying media and still flowing.
func (cr *ClientResult) ok() bool {
	if cr.LeftAt > 0 {
		// It hung up: judged up to then, when it connected.
		return cr.Connected && (cr.NoMediaExpected || cr.MediaBothWays)
	}
	return cr.Connected && cr.LostAt == 0 && (cr.NoMediaExpected || (cr.MediaBothWays && cr.MediaFlowingAtEnd))
}

// carried returns what carried a client's call (the transport, named by
// transportOf, of the last pair selected in an attempt that connected) and
// when the connection was lost for good: the first state after its last
// "connected", if any.
func carried(cr ClientResult, transportOf func(*Pair) Transport) (Transport, time.Duration) {
	if !cr.Connected {
		return NoTransport, 0
	}
	carrier := transportOf(cr.Selected)
	for _, a := range cr.Attempts {
		if a.Connected && a.Selected != nil {
			carrier = transportOf(a.Selected)
		}
	}
	connected := webrtc.PeerConnectionStateConnected.String()
	last := -1
	for i, s := range cr.PeerConnectionStates {
		if s.State == connected {
			last = i
		}
	}
	if last >= 0 && last+1 < len(cr.PeerConnectionStates) {
		return carrier, cr.PeerConnectionStates[last+1].At
	}
	return carrier, 0
}

// flow is one direction of one track (or of the data channel) as the
// meter counts it.
type flow struct{ track, direction string }

// expectedFlows are what media both ways means for a client: each of its
// publications arriving at the node, each of its subscriptions arriving
// at the client, and its data channel's messages both ways.
func expectedFlows(spec ClientSpec, subscribe []string) []flow {
	var flows []flow
	for _, kind := range spec.Publish.kinds() {
		flows = append(flows, flow{spec.Name + "/" + kind, media.AtNode})
	}
	for _, sub := range subscribe {
		flows = append(flows, flow{sub, media.Received})
	}
	if spec.Publish.Data {
		flows = append(flows, flow{spec.Name + "/data", media.AtNode}, flow{"node/data", media.Received})
	}
	return flows
}

// gone returns whether a track's publisher hung up during the call (a
// leave fault): its flows are not expected to flow at the end.
func (r *runner) gone() func(track string) bool {
	left := map[string]bool{}
	for _, c := range r.clients {
		if c.obs.result().LeftAt > 0 {
			left[c.spec.Name] = true
		}
	}
	for _, p := range r.peers {
		for _, e := range p.ends {
			if e.hasLeft() {
				left[p.spec.Name] = true
			}
		}
	}
	return func(track string) bool {
		publisher, _, _ := strings.Cut(track, "/")
		return left[publisher]
	}
}

// judgeMedia judges media both ways over the whole call (every expected
// flow carried packets) and whether all of it was still flowing at the end
// (none had stopped for good, except flows whose publisher hung up). It
// returns the flows' outages merged, in time order.
func judgeMedia(flows []flow, ms []Media, gone func(track string) bool) (bothWays, atEnd bool, outages []Outage) {
	if len(flows) == 0 {
		return false, false, nil
	}
	bothWays, atEnd = true, true
	var all []Outage
	for _, f := range flows {
		i := slices.IndexFunc(ms, func(m Media) bool { return m.Track == f.track && m.Direction == f.direction })
		if i < 0 || ms[i].Packets == 0 {
			bothWays, atEnd = false, false
			continue
		}
		atEnd = atEnd && (ms[i].FlowingAtEnd() || gone(f.track))
		all = append(all, ms[i].Outages...)
	}
	return bothWays, atEnd, mergeOutages(all)
}

// mergeOutages merges overlapping outages into one list in time order.
func mergeOutages(os []Outage) []Outage {
	sort.Slice(os, func(i, j int) bool { return os[i].Start < os[j].Start })
	var out []Outage
	for _, o := range os {
		if n := len(out); n > 0 && o.Start <= out[n-1].End {
			if o.End > out[n-1].End {
				out[n-1].End = o.End
			}
			out[n-1].Ongoing = out[n-1].Ongoing || o.Ongoing
			continue
		}
		out = append(out, o)
	}
	return out
}

// explain says, for a person, why a client did not end connected with
// media both ways.
func (r *runner) explain(ep *endpoint, servers []webrtc.ICEServer, flows []flow, cr ClientResult, end time.Duration) string {
	who := ep.spec.Name
	var why string
	switch {
	case cr.SignallingError != "" && !cr.Signalling:
		why = "signalling never reached the node: " + cr.SignallingError
	case cr.Failure != "":
		why = cr.Failure
	case !cr.Connected && len(cr.ICEStates) == 0:
		why = fmt.Sprintf("the call ended at %.1f s, before ICE started", end.Seconds())
	case !cr.Connected && !reached(cr.ICEStates, "connected"):
		why = "ICE never connected: no candidate pair succeeded"
	case !cr.Connected:
		why = "DTLS never completed: ICE connected but the peer connection stayed " + cr.FinalState()
	case cr.LostAt > 0:
		why = fmt.Sprintf("connected at %.1f s over %s, lost at %.1f s: peer connection %s", cr.ConnectedAt.Seconds(), cr.Transport, cr.LostAt.Seconds(), cr.FinalState())
	default:
		if cr.MediaBothWays {
			why = "media stopped: " + mediaProblems(flows, cr, end)
		} else {
			why = "media did not flow both ways: " + mediaProblems(flows, cr, end)
		}
	}
	if note := ipv6Note(ep, servers, cr); note != "" {
		why += "; " + note // in ipv6.go
	}
	if len(cr.GatherErrors) > 0 && !cr.Connected {
		why += "; pion: " + strings.Join(cr.GatherErrors, "; ")
		if note := r.chainNote(cr.GatherErrors); note != "" {
			why += "; " + note
		}
		if note := r.tlsPortNote(cr.GatherErrors); note != "" {
			why += "; " + note
		}
	}
	byClient := r.drops.of(who)
	own := topDrops(byClient, 3)
	note := mtuNote(cr, byClient)
	if note != "" {
		why += "; " + note
	}
	if len(own) > 0 {
		why += "; " + strings.Join(own, "; ")
	}
	if !strings.Contains(why, "firewall") && !strings.Contains(why, "link") {
		// The cause may lie on a path the client's own addresses are not
		// on: between the relay and the node, say.
		r.rs.mu.Lock()
		elsewhere := topDrops(r.rs.drops, 2)
		r.rs.mu.Unlock()
		var named []string
		for _, d := range elsewhere {
			if strings.Contains(d, "firewall") || strings.Contains(d, "link") {
				named = append(named, d)
			}
		}
		if len(named) > 0 {
			why += "; elsewhere in the network: " + strings.Join(named, "; ")
		}
	}
	return why
}

// mediaProblems names the flows that never flowed and the outage that
// lasted to the end of the call.
func mediaProblems(flows []flow, cr ClientResult, end time.Duration) string {
	var out []string
	for _, f := range flows {
		i := slices.IndexFunc(cr.Media, func(m Media) bool { return m.Track == f.track && m.Direction == f.direction })
		if i >= 0 && cr.Media[i].Packets > 0 {
			continue
		}
		switch f.direction {
		case media.AtNode:
			out = append(out, f.track+" never reached the node")
		case media.AtRemote:
			out = append(out, f.track+" never reached "+cr.Remote)
		default:
			out = append(out, f.track+" never reached "+cr.Name)
		}
	}
	if n := len(cr.Outages); n > 0 && cr.Outages[n-1].Ongoing {
		out = append(out, fmt.Sprintf("media stopped at %.1f s and had not flowed again by the end of the call (%.1f s)",
			cr.Outages[n-1].Start.Seconds(), end.Seconds()))
	}
	if len(out) == 0 {
		return "no expected media"
	}
	return strings.Join(out, "; ")
}

// topDrops lists the n most frequent drop reasons with their counts.
func topDrops(drops map[string]int, n int) []string {
	type kv struct {
		k string
		v int
	}
	list := make([]kv, 0, len(drops))
	for k, v := range drops {
		list = append(list, kv{k, v})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].v > list[j].v || (list[i].v == list[j].v && list[i].k < list[j].k) })
	var out []string
	for i, e := range list {
		if i == n {
			break
		}
		out = append(out, fmt.Sprintf("%s (%d)", e.k, e.v))
	}
	return out
}

func reached(states []StateChange, s string) bool {
	for _, st := range states {
		if st.State == s {
			return true
		}
	}
	return false
}

// chainNote explains an unknown-authority error from the relay's TLS
// certificate: Go names no issuer, so say which one the chain the relay
// sends lacks.
func (r *runner) chainNote(errs []string) string {
	if !slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, "certificate signed by unknown authority") }) {
		return ""
	}
	cert := r.spec.Node.Config.TURN.Certificate
	if cert == nil || len(cert.Certificate) == 0 {
		return ""
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return ""
	}
	for _, der := range cert.Certificate[1:] {
		if c, err := x509.ParseCertificate(der); err == nil && c.Subject.String() == leaf.Issuer.String() {
			return ""
		}
	}
	return fmt.Sprintf("the relay's certificate for %s was issued by %s, which the chain it sends does not include (a missing intermediate)", leaf.Subject.CommonName, leaf.Issuer)
}

// tlsPortNote explains a TURN/TLS failure on port 443 when the deployment
// serves TURN/TLS on another port with no load balancer on 443: LiveKit
// hands clients turns:<domain>:443 whatever turn.tls_port is (livekit/livekit
// 788d4c35, pkg/service/roommanager.go:1065), expecting a load balancer on
// 443 in front of the node.
func (r *runner) tlsPortNote(errs []string) string {
	cfg := r.spec.Node.Config.TURN
	lb := r.spec.Node.LoadBalancer
	if !cfg.TLSEnabled() || cfg.TLSPort == 443 || (lb != nil && lb.Port == 443) || cfg.Domain == "" {
		return ""
	}
	if !slices.ContainsFunc(errs, func(e string) bool {
		return strings.Contains(e, ":443") || strings.Contains(e, "not "+cfg.Domain)
	}) {
		return ""
	}
	where := "no load balancer"
	if lb != nil {
		where = fmt.Sprintf("the load balancer listens on %d", lb.Port)
	}
	return fmt.Sprintf("LiveKit hands out turns:%s:443 whatever turn.tls_port is (%d here, and %s): nothing serves TURN/TLS on 443 (LiveKit's roommanager.go builds the URL with port 443; set tls_port: 443, or put a load balancer on 443 in front)",
		cfg.Domain, cfg.TLSPort, where)
}
