package harness

import (
	"fmt"
	"sort"
	"strings"

	"github.com/pion/webrtc/v4"
)

// collect fills res with what the run observed.
func (r *runner) collect(res *Result) {
	res.Duration = r.rs.since()
	for _, c := range r.clients {
		c.snapshotChecks()
	}
	for _, c := range r.clients {
		cr := c.obs.result()
		cr.Media = r.rs.meter.media(c.spec.Name)
		if cr.FinalState() == webrtc.PeerConnectionStateConnected.String() {
			cr.Transport = transportOf(cr.Selected)
		} else {
			cr.Transport = NoTransport
		}
		cr.MediaBothWays = mediaBothWays(c.spec, c.subscribe, cr)
		if cr.Transport == NoTransport || !cr.MediaBothWays {
			cr.Failure = r.explain(c, cr)
		}
		res.Clients = append(res.Clients, cr)
	}
	r.rs.mu.Lock()
	res.Faults = append([]AppliedFault(nil), r.rs.faults...)
	res.Drops = map[string]int{}
	for k, v := range r.rs.drops {
		res.Drops[k] = v
	}
	r.rs.mu.Unlock()
	r.mu.Lock()
	res.Packets = r.packets
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
}

// mediaBothWays: every publication reached the node and every
// subscription arrived, after the recovery if there was one.
func mediaBothWays(spec ClientSpec, subscribe []string, cr ClientResult) bool {
	count := func(track, direction string) uint64 {
		for _, m := range cr.Media {
			if m.Track == track && m.Direction == direction {
				if cr.Recovered {
					return m.AfterRecoveryPackets
				}
				return m.Packets
			}
		}
		return 0
	}
	any := false
	for _, kind := range published(spec.Publish) {
		any = true
		if count(spec.Name+"/"+kind, "at-node") == 0 {
			return false
		}
	}
	for _, sub := range subscribe {
		any = true
		if count(sub, "received") == 0 {
			return false
		}
	}
	if spec.Publish.Data {
		any = true
		if count(spec.Name+"/data", "at-node") == 0 || count("node/data", "received") == 0 {
			return false
		}
	}
	return any
}

// explain says, for a person, why a client did not end connected with
// media both ways.
func (r *runner) explain(c *client, cr ClientResult) string {
	var why string
	switch {
	case cr.SignallingError != "" && !cr.Signalling:
		why = "signalling never reached the node: " + cr.SignallingError
	case cr.Failure != "":
		why = cr.Failure
	case !cr.Connected && !reached(cr.ICEStates, "connected"):
		why = "ICE never connected: no candidate pair succeeded"
	case !cr.Connected:
		why = "DTLS never completed: ICE connected but the peer connection stayed " + cr.FinalState()
	case cr.Transport == NoTransport:
		why = fmt.Sprintf("connected at %.1fs, then lost: peer connection %s", cr.ConnectedAt.Seconds(), cr.FinalState())
	default:
		why = "media did not flow both ways"
	}
	if len(cr.GatherErrors) > 0 && !cr.Connected {
		why += "; pion: " + strings.Join(cr.GatherErrors, "; ")
	}
	r.mu.Lock()
	own := topDrops(r.drops[c.spec.Name], 3)
	r.mu.Unlock()
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
