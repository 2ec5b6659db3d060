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

// clientICEServers is what the node hands a client, as LiveKit's
// iceServersForParticipant builds it (livekit/livekit 788d4c35,
// pkg/service/roommanager.go:1049-1145): with TURN enabled, one server
// with TURN/UDP on each of the node's addresses at udp_port (LiveKit's
// embedded TURN serves STUN there too, and hands out no stun: URL for it)
// and TURN/TLS at the TURN domain on port 443 — always 443, whatever
// tls_port is: LiveKit expects a load balancer on 443 in front of another
// tls_port — with TURN REST credentials. tlsOnly (a ladder step to TURN/TLS)
// drops the TURN/UDP URL, unless TURN/TLS is not served. Without TURN there
// is nothing (LiveKit would fall back to Google's public STUN servers,
// which a virtual network cannot reach). Clients keep what their Relays
// setting asks for (LiveKit's SDKs: UDP and TLS).
//
// byName puts the TURN domain in the TURN/UDP URL instead of the node's
// address (icelab's, for a DNS64 to synthesize an address for it).
func clientICEServers(cfg relay.Config, external netip.Addr, domain string, byName bool, client, secret string, expiry func() time.Time, tlsOnly bool) []webrtc.ICEServer {
	if !cfg.TURN.Enabled {
		return nil
	}
	if tlsOnly && !cfg.TURN.TLSEnabled() {
		tlsOnly = false
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
	var urls []string
	if cfg.TURN.UDPPort > 0 && !tlsOnly {
		hp := net.JoinHostPort(external.String(), fmt.Sprint(cfg.TURN.UDPPort))
		if byName {
			hp = net.JoinHostPort(domain, fmt.Sprint(cfg.TURN.UDPPort))
		}
		urls = append(urls, "turn:"+hp+"?transport=udp")
	}
	if cfg.TURN.TLSEnabled() {
		urls = append(urls, "turns:"+net.JoinHostPort(domain, "443")+"?transport=tcp")
	}
	if len(urls) == 0 {
		return nil
	}
	return []webrtc.ICEServer{{URLs: urls, Username: user, Credential: pass}}
}

// operatorICEServers is what a standalone STUN/TURN operator (coturn-like,
// not a LiveKit node) hands out: STUN and TURN over UDP and TCP on its
// address, TURN/TLS on the TURN domain at tls_port.
func operatorICEServers(cfg relay.Config, external netip.Addr, user, secret string, expiry func() time.Time) []webrtc.ICEServer {
	if !cfg.TURN.Enabled {
		return nil
	}
	name, pass := user, ""
	if secret != "" {
		name, pass = relay.RESTCredentials(secret, user, expiry())
	} else {
		names := make([]string, 0, len(cfg.TURN.Users))
		for u := range cfg.TURN.Users {
			names = append(names, u)
		}
		sort.Strings(names)
		name, pass = names[0], cfg.TURN.Users[names[0]]
	}
	hp := net.JoinHostPort(external.String(), fmt.Sprint(cfg.TURN.UDPPort))
	urls := []string{"turn:" + hp + "?transport=udp", "turn:" + hp + "?transport=tcp"}
	if cfg.TURN.TLSEnabled() {
		urls = append(urls, "turns:"+net.JoinHostPort(cfg.TURN.Domain, fmt.Sprint(cfg.TURN.TLSPort))+"?transport=tcp")
	}
	return []webrtc.ICEServer{
		{URLs: []string{"stun:" + hp}},
		{URLs: urls, Username: name, Credential: pass},
	}
}
