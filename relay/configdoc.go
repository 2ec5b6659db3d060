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
	// Doc says what the key does, and for LiveKit's keys where LiveKit
	// gives it that meaning (livekit/livekit at 788d4c3, or
	// livekit/mediatransportutil at 77f742a for rtcconfig).
	Doc string
}

// ConfigKeys lists every key the relay reads, with its default.
func ConfigKeys() []ConfigKey {
	d := DefaultConfig()
	t, r := d.TURN, d.RTC
	return []ConfigKey{
		{"keys", "none", "api_key: secret pairs; every secret is also a TURN REST shared secret"},
		{"development", "false", "LiveKit dev mode: rtc.udp_port 7882 and relay range 30000-30002 when unset (rtcconfig/config.go:89-97, pkg/config/config.go:644-653)"},
		{"turn.enabled", fmt.Sprint(t.Enabled), "serve TURN at all (LiveKit's default is false, pkg/config/config.go:572)"},
		{"turn.domain", t.Domain, "TURN realm and the name TLS clients verify; clients get turns:DOMAIN:443 (pkg/service/roommanager.go:1068-1070)"},
		{"turn.udp_port", fmt.Sprint(t.UDPPort), "TURN/UDP and STUN, and icelab's TURN/TCP; 0 = none (pkg/service/turn.go:200); no TURN/TLS either is an error (turn.go:69)"},
		{"turn.tls_port", fmt.Sprint(t.TLSPort), "TURN/TLS, or plain TCP behind external_tls; 0 = none (pkg/service/turn.go:164); clients are told 443 whatever it is"},
		{"turn.cert_file", "none", "PEM certificate chain for TURN/TLS, relative to the config file (pkg/service/turn.go:171)"},
		{"turn.key_file", "none", "PEM private key for cert_file"},
		{"turn.external_tls", fmt.Sprint(t.ExternalTLS), "a load balancer terminates TLS; tls_port serves plain TCP (pkg/service/turn.go:168-169)"},
		{"turn.relay_range_start", fmt.Sprint(t.RelayRangeStart), "first relay port; used only with relay_range_end, else 30000-40000 (pkg/config/config.go:644-653)"},
		{"turn.relay_range_end", fmt.Sprint(t.RelayRangeEnd), "last relay port (inclusive)"},
		{"turn.users", "none", "icelab: static user: password long-term credentials"},
		{"turn.user_quota", fmt.Sprint(t.UserQuota), "icelab: live allocations per username, 0 = unlimited"},
		{"turn.allow_private_peers", fmt.Sprint(t.AllowPrivatePeers), "icelab: relay to RFC 1918, 100.64.0.0/10 and fc00::/7 peers"},
		{"turn.allowed_peer_cidrs", "none", "icelab: prefixes always allowed as peers (e.g. [127.0.0.0/8] for loopback tests)"},
		{"turn.listener_socket_buffer", fmt.Sprint(t.ListenerSocketBuffer), "icelab: UDP listener SO_RCVBUF/SO_SNDBUF bytes, capped by net.core.rmem_max/wmem_max; 0 = system default"},
		{"turn.relay_socket_buffer", fmt.Sprint(t.RelaySocketBuffer), "icelab: each relay socket's SO_RCVBUF/SO_SNDBUF bytes; 0 = system default"},
		{"turn.tls_handshake_timeout", t.TLSHandshakeTimeout.String(), "icelab: close a TLS connection whose handshake is not done by then (pion/turn's own bound); 0 = none"},
		{"turn.first_frame_timeout", t.FirstFrameTimeout.String(), "icelab: close a TCP/TLS connection without a whole STUN message by then; 0 = none"},
		{"turn.unallocated_timeout", t.UnallocatedTimeout.String(), "icelab: close a TCP/TLS connection without an allocation by then (coturn's --max-allocate-timeout); 0 = none"},
		{"turn.max_connections_per_source", fmt.Sprint(t.MaxConnectionsPerSource), "icelab: TCP/TLS connections open at once per client IP; more are closed at accept; 0 = unlimited"},
		{"rtc.udp_port", "none", "one ICE/UDP port (or range) muxing every peer connection, used without a port range (webrtc_config.go:126-170)"},
		{"rtc.tcp_port", fmt.Sprint(r.TCPPort), "ICE/TCP port; 0 = no ICE/TCP (webrtc_config.go:177-198)"},
		{"rtc.port_range_start", fmt.Sprint(r.PortRangeStart), "ICE/UDP port per peer connection, from start to end; 50000-60000 when neither this nor udp_port is set (rtcconfig/config.go:89-97)"},
		{"rtc.port_range_end", fmt.Sprint(r.PortRangeEnd), "end of the ICE/UDP port range"},
		{"rtc.use_external_ip", fmt.Sprint(r.UseExternalIP), "advertise the node's external address, which LiveKit finds by STUN (rtcconfig/config.go:99-110); it overrides an IPv4 node_ip"},
		{"rtc.node_ip", "none", "the node's address(es), \"v4\", \"v6\" or \"v4,v6\": ICE host candidates and the relay address (pkg/service/turn.go:111-127)"},
		{"rtc.allow_tcp_fallback", fmt.Sprint(r.AllowTCPFallback), "on ICE failure move to ICE/TCP, then TURN/TLS (pkg/rtc/transportmanager.go:782-860; default true, roommanager.go:451-455)"},
		{"rtc.tcp_fallback_rtt_threshold", "0", "milliseconds: ICE/TCP only while signalling RTT is below it, else TURN/TLS; 0 = no check (transportmanager.go:1055-1057)"},
		{"rtc.allow_udp_unstable_fallback", fmt.Sprint(r.AllowUDPUnstableFallback), "UDP losing >= 25% in 20 of 32 reports counts as a failure; needs the threshold (transportmanager.go:980-1000)"},
	}
}

// ConfigKeysHelp formats ConfigKeys as an aligned table for --help.
func ConfigKeysHelp() string {
	var b strings.Builder
	for _, k := range ConfigKeys() {
		fmt.Fprintf(&b, "  %-32s %-9s %s\n", k.Key, k.Default, k.Doc)
	}
	return b.String()
}
