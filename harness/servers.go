package harness

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"time"

	"github.com/icelab/icelab/relay"
	"github.com/pion/webrtc/v4"
)

// mergeDefaults fills a zero config with LiveKit's documented defaults.
func mergeDefaults(cfg relay.Config) relay.Config {
	d := relay.DefaultConfig()
	d.Keys, d.TURN.Users, d.TURN.Certificate = cfg.Keys, cfg.TURN.Users, cfg.TURN.Certificate
	return d
}

// ensureCredentials makes sure the relay has credentials the node can hand
// out, returning the TURN REST secret to use ("" for static users).
func ensureCredentials(cfg *relay.Config) string {
	if len(cfg.Keys) > 0 {
		keys := make([]string, 0, len(cfg.Keys))
		for k := range cfg.Keys {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return cfg.Keys[keys[0]]
	}
	if len(cfg.TURN.Users) > 0 {
		return ""
	}
	cfg.Keys = map[string]string{"icelab": "icelab-secret"}
	return "icelab-secret"
}

// clientICEServers is what the node hands a client: STUN and TURN over UDP
// and TCP on the node's address, TURN/TLS on the TURN domain. Clients keep
// what their Relays setting asks for (LiveKit's SDKs: UDP and TLS).
//
// byName puts the TURN domain in the STUN and TURN/UDP/TCP URLs instead of
// the node's address.
func clientICEServers(cfg relay.Config, external netip.Addr, domain string, byName bool, tlsPort int, client, secret string, expiry func() time.Time) []webrtc.ICEServer {
	if !cfg.TURN.Enabled {
		return nil
	}
	user, pass := "", ""
	if secret != "" {
		user, pass = relay.RESTCredentials(secret, client, expiry())
	} else {
		names := make([]string, 0, len(cfg.TURN.Users))
		for u := range cfg.TURN.Users {
			names = append(names, u)
		}
		sort.Strings(names)
		user, pass = names[0], cfg.TURN.Users[names[0]]
	}
	hp := net.JoinHostPort(external.String(), fmt.Sprint(cfg.TURN.UDPPort))
	if byName {
		hp = net.JoinHostPort(domain, fmt.Sprint(cfg.TURN.UDPPort))
	}
	urls := []string{"turn:" + hp + "?transport=udp", "turn:" + hp + "?transport=tcp"}
	if cfg.TURN.TLSEnabled() {
		urls = append(urls, "turns:"+net.JoinHostPort(domain, fmt.Sprint(tlsPort))+"?transport=tcp")
	}
	return []webrtc.ICEServer{
		{URLs: []string{"stun:" + hp}},
		{URLs: urls, Username: user, Credential: pass},
	}
}
