package harness

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pion/webrtc/v4"
)

// plans are the attempts the client's fallback policy makes, in order:
// the first, then (under transport fallback) the reconnects.
func (c *client) plans(nodeName, otherName string) []attemptPlan {
	types := c.spec.NetworkTypes
	if len(types) == 0 {
		types = []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	}
	policy := c.spec.Policy
	if c.spec.Fallback.Policy == ForceRelay {
		policy = webrtc.ICETransportPolicyRelay
	}
	plans := []attemptPlan{{why: "initial", policy: policy, types: types, servers: c.iceServers, base: c.signal, node: nodeName}}
	if c.spec.Fallback.Policy == TransportFallback {
		base, node := c.signal, nodeName
		if c.spec.Fallback.OtherNode && c.other != "" {
			base, node = c.other, otherName
		}
		// Preferring TCP: ICE-TCP to the node and TURN over TCP/TLS. On the
		// fake clock there is no ICE-TCP (pion dials it through the
		// operating system), so the attempt is relay-only over TCP/TLS:
		// a UDP host pair would only meet the same fault again. A relay
		// candidate is a UDP candidate whatever carries it to the relay,
		// and since ice v4.4.9 pion gathers relay candidates only when a
		// UDP network type is configured, so udp4 stays in the list.
		tcpTypes, tcpPolicy := []webrtc.NetworkType{webrtc.NetworkTypeUDP4}, webrtc.ICETransportPolicyRelay
		if c.realClock {
			tcpTypes, tcpPolicy = []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4}, webrtc.ICETransportPolicyAll
		}
		plans = append(plans,
			attemptPlan{why: "reconnect preferring TCP", policy: tcpPolicy, types: tcpTypes,
				servers: serversWhere(c.iceServers, isTCPTURN), resume: true, base: base, node: node},
			attemptPlan{why: "reconnect relay-only over TURN/TLS", policy: webrtc.ICETransportPolicyRelay, types: tcpTypes,
				servers: serversWhere(c.iceServers, func(u string) bool { return strings.HasPrefix(u, "turns:") }), resume: true, base: base, node: node},
		)
	}
	return plans
}

// attemptPlan is how one attempt connects.
type attemptPlan struct {
	why     string
	policy  webrtc.ICETransportPolicy
	types   []webrtc.NetworkType
	servers []webrtc.ICEServer
	resume  bool
	base    string
	node    string
}

func (p attemptPlan) describe() string {
	var ts []string
	for _, t := range p.types {
		ts = append(ts, t.String())
	}
	var urls []string
	for _, s := range p.servers {
		urls = append(urls, s.URLs...)
	}
	return fmt.Sprintf("policy %s, networks %s, servers %s", p.policy, strings.Join(ts, "+"), strings.Join(urls, " "))
}

// serversWhere keeps the URLs of servers that keep accepts.
func serversWhere(servers []webrtc.ICEServer, keep func(url string) bool) []webrtc.ICEServer {
	var out []webrtc.ICEServer
	for _, s := range servers {
		var urls []string
		for _, u := range s.URLs {
			if keep(u) {
				urls = append(urls, u)
			}
		}
		if len(urls) > 0 {
			s.URLs = urls
			out = append(out, s)
		}
	}
	return out
}

// usesRelays returns whether an ICE server URL stays among a client's
// servers when it uses the relay transports relays: STUN always does, TURN
// when its transport is listed.
func usesRelays(relays []string) func(url string) bool {
	return func(u string) bool { return strings.HasPrefix(u, "stun:") || slices.Contains(relays, relayOf(u)) }
}

// relayOf names the transport of a TURN server URL: "udp", "tcp" or
// "tls".
func relayOf(u string) string {
	switch {
	case strings.HasPrefix(u, "turns:"):
		return "tls"
	case strings.Contains(u, "transport=tcp"):
		return "tcp"
	}
	return "udp"
}

func isTCPTURN(u string) bool {
	return strings.HasPrefix(u, "turns:") || (strings.HasPrefix(u, "turn:") && strings.Contains(u, "transport=tcp"))
}
