package relay

import (
	"fmt"
	"strings"
)

// ConfigKey documents one key the relay reads from a livekit.yaml file.
type ConfigKey struct {
	// Key is the dotted key ("turn.udp_port").
	Key string
	// Default is the value used when the file does not set the key.
	Default string
	// Doc says what the key does.
	Doc string
}

// ConfigKeys lists every key the relay reads, with its default.
func ConfigKeys() []ConfigKey {
	d := DefaultConfig()
	t, r := d.TURN, d.RTC
	return []ConfigKey{
		{"keys", "none", "api_key: secret pairs; every secret is also a TURN REST shared secret"},
		{"turn.enabled", fmt.Sprint(t.Enabled), "serve TURN at all"},
		{"turn.domain", t.Domain, "TURN realm and the name TLS clients verify"},
		{"turn.udp_port", fmt.Sprint(t.UDPPort), "TURN/UDP, STUN and TURN/TCP port (0 picks a free port)"},
		{"turn.tls_port", fmt.Sprint(t.TLSPort), "TURN/TLS port, or plain TCP behind external_tls (0 picks a free port)"},
		{"turn.cert_file", "none", "PEM certificate chain for TURN/TLS, relative to the config file"},
		{"turn.key_file", "none", "PEM private key for cert_file"},
		{"turn.external_tls", fmt.Sprint(t.ExternalTLS), "a load balancer terminates TLS; tls_port serves plain TCP"},
		{"turn.relay_range_start", fmt.Sprint(t.RelayRangeStart), "first relay port"},
		{"turn.relay_range_end", fmt.Sprint(t.RelayRangeEnd), "last relay port (inclusive)"},
		{"turn.users", "none", "icelab: static user: password long-term credentials"},
		{"turn.user_quota", fmt.Sprint(t.UserQuota), "icelab: live allocations per username, 0 = unlimited"},
		{"turn.allow_private_peers", fmt.Sprint(t.AllowPrivatePeers), "icelab: relay to RFC 1918, 100.64.0.0/10 and fc00::/7 peers"},
		{"turn.allowed_peer_cidrs", "none", "icelab: prefixes always allowed as peers (e.g. [127.0.0.0/8] for loopback tests)"},
		{"turn.listener_socket_buffer", fmt.Sprint(t.ListenerSocketBuffer), "icelab: UDP listener SO_RCVBUF/SO_SNDBUF bytes, capped by net.core.rmem_max/wmem_max; 0 = system default"},
		{"turn.relay_socket_buffer", fmt.Sprint(t.RelaySocketBuffer), "icelab: each relay socket's SO_RCVBUF/SO_SNDBUF bytes; 0 = system default"},
		{"rtc.use_external_ip", fmt.Sprint(r.UseExternalIP), "advertise rtc.node_ip as the relay address"},
		{"rtc.node_ip", "none", "the node's external address"},
		{"rtc.tcp_port", fmt.Sprint(r.TCPPort), "read to check port overlaps"},
		{"rtc.port_range_start", fmt.Sprint(r.PortRangeStart), "read to check overlap with the relay range"},
		{"rtc.port_range_end", fmt.Sprint(r.PortRangeEnd), "read to check overlap with the relay range"},
	}
}

// ConfigKeysHelp formats ConfigKeys as an aligned table for --help.
func ConfigKeysHelp() string {
	var b strings.Builder
	for _, k := range ConfigKeys() {
		fmt.Fprintf(&b, "  %-28s %-9s %s\n", k.Key, k.Default, k.Doc)
	}
	return b.String()
}
