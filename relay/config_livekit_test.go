package relay

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLiveKitTransportKeys parses the livekit.yaml keys that decide which
// transports clients get and checks each means what it means to LiveKit's
// server (the citations are in ConfigKeys), with the warning LiveKit's
// behaviour deserves where a file says something LiveKit ignores.
func TestLiveKitTransportKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, key := writePair(t, dir, "turn.example.com")
	tlsKeys := "  domain: turn.example.com\n  cert_file: " + cert + "\n  key_file: " + key + "\n"
	cases := []struct {
		name, yaml string
		check      func(Config) bool
		warn       string // a warning's "key: message" prefix, "" for none
	}{
		{"defaults", "", func(c Config) bool {
			return c.TURN.UDPEnabled() && !c.TURN.TLSEnabled() && c.TURN.AdvertisedTLSPort() == 443 &&
				c.RTC.ICETCP() && c.RTC.TCPPort == 7881 && !c.RTC.UDPMux() &&
				c.RTC.PortRangeStart == 50000 && c.RTC.PortRangeEnd == 60000 &&
				c.RTC.AllowTCPFallback && c.RTC.TCPFallbackRTTThreshold == 0 && !c.RTC.AllowUDPUnstableFallback &&
				c.TURN.TLSHandshakeTimeout == 10*time.Second && c.TURN.FirstFrameTimeout == 10*time.Second &&
				c.TURN.UnallocatedTimeout == time.Minute && c.TURN.MaxConnectionsPerSource == 1000
		}, ""},
		{"TURN/UDP off, TURN/TLS on 443", "turn:\n  udp_port: 0\n  tls_port: 443\n" + tlsKeys, func(c Config) bool {
			return !c.TURN.UDPEnabled() && c.TURN.TLSEnabled() && c.TURN.TLSPort == 443 && c.TURN.AdvertisedTLSPort() == 443
		}, ""},
		{"TURN/TLS on 5349 is still handed out as 443", "turn:\n  tls_port: 5349\n" + tlsKeys, func(c Config) bool {
			return c.TURN.TLSEnabled() && c.TURN.TLSPort == 5349 && c.TURN.AdvertisedTLSPort() == 443 && c.TURNSEnabled()
		}, ""},
		{"TURN/TLS off", "turn:\n  tls_port: 0\n", func(c Config) bool {
			return c.TURN.UDPEnabled() && !c.TURN.TLSEnabled() && c.TURN.AdvertisedTLSPort() == 0 && !c.TURNSEnabled()
		}, ""},
		{"a certificate without a tls_port", "turn:\n  tls_port: 0\n" + tlsKeys, func(c Config) bool {
			return !c.TURN.TLSEnabled()
		}, "turn.cert_file: unused: tls_port is 0"},
		{"external_tls", "turn:\n  udp_port: 0\n  tls_port: 443\n  external_tls: true\n", func(c Config) bool {
			return c.TURN.TLSEnabled() && c.TURN.Certificate == nil && c.TURN.ExternalTLS
		}, ""},
		{"ICE/TCP off", "rtc:\n  tcp_port: 0\n", func(c Config) bool { return !c.RTC.ICETCP() }, ""},
		{"one UDP media port", "rtc:\n  udp_port: 7882\n", func(c Config) bool {
			return c.RTC.UDPMux() && c.RTC.UDPPort == 7882 && c.RTC.UDPPortEnd == 0 && c.RTC.PortRangeStart == 0 && c.RTC.PortRangeEnd == 0
		}, ""},
		{"a UDP mux range", "rtc:\n  udp_port: 7882-7892\n", func(c Config) bool {
			return c.RTC.UDPMux() && c.RTC.UDPPort == 7882 && c.RTC.UDPPortEnd == 7892
		}, ""},
		{"the port range wins over udp_port", "rtc:\n  udp_port: 7882\n  port_range_start: 45000\n  port_range_end: 46000\n", func(c Config) bool {
			return !c.RTC.UDPMux() && c.RTC.PortRangeStart == 45000 && c.RTC.PortRangeEnd == 46000
		}, "rtc.udp_port: unused: port_range_start and port_range_end take precedence"},
		{"half a port range", "rtc:\n  port_range_start: 45000\n", func(c Config) bool {
			return !c.RTC.UDPMux() && c.RTC.PortRangeStart == 45000 && c.RTC.PortRangeEnd == 0
		}, "rtc.port_range_start: LiveKit uses the port range only with both"},
		{"only the end of a port range", "rtc:\n  port_range_end: 45000\n", func(c Config) bool {
			return c.RTC.PortRangeStart == 50000 && c.RTC.PortRangeEnd == 60000
		}, "rtc.port_range_end: ignored without port_range_start"},
		{"development", "development: true\n", func(c Config) bool {
			return c.Development && c.RTC.UDPMux() && c.RTC.UDPPort == 7882 && c.TURN.RelayRangeStart == 30000 && c.TURN.RelayRangeEnd == 30002
		}, ""},
		{"half a relay range", "turn:\n  relay_range_start: 45000\n", func(c Config) bool {
			return c.TURN.RelayRangeStart == 30000 && c.TURN.RelayRangeEnd == 40000
		}, "turn.relay_range_start: ignored: LiveKit takes relay_range_start and relay_range_end only together"},
		{"node_ip of both families", "rtc:\n  node_ip: 203.0.113.10, 2001:db8::10\n", func(c Config) bool {
			return c.RTC.NodeIP == netip.MustParseAddr("203.0.113.10") && c.RTC.NodeIPv6 == netip.MustParseAddr("2001:db8::10")
		}, ""},
		{"an IPv6 node_ip", "rtc:\n  node_ip: 2001:db8::10\n", func(c Config) bool {
			return !c.RTC.NodeIP.IsValid() && c.RTC.NodeIPv6 == netip.MustParseAddr("2001:db8::10")
		}, ""},
		{"fallback knobs", "rtc:\n  allow_tcp_fallback: true\n  tcp_fallback_rtt_threshold: 250\n  allow_udp_unstable_fallback: true\n", func(c Config) bool {
			return c.RTC.AllowTCPFallback && c.RTC.TCPFallbackRTTThreshold == 250*time.Millisecond && c.RTC.AllowUDPUnstableFallback
		}, ""},
		{"no TCP fallback", "rtc:\n  allow_tcp_fallback: false\n", func(c Config) bool { return !c.RTC.AllowTCPFallback }, ""},
		{"unstable fallback without a threshold", "rtc:\n  allow_udp_unstable_fallback: true\n", func(c Config) bool {
			return c.RTC.AllowUDPUnstableFallback
		}, "rtc.allow_udp_unstable_fallback: has no effect while tcp_fallback_rtt_threshold is 0"},
		{"a threshold without fallback", "rtc:\n  allow_tcp_fallback: false\n  tcp_fallback_rtt_threshold: 300\n", func(c Config) bool {
			return !c.RTC.AllowTCPFallback
		}, "rtc.tcp_fallback_rtt_threshold: has no effect while allow_tcp_fallback is false"},
		{"stream deadlines and limits", "turn:\n  tls_handshake_timeout: 5s\n  first_frame_timeout: 0\n  unallocated_timeout: 1m30s\n  max_connections_per_source: 0\n", func(c Config) bool {
			t := c.TURN
			return t.TLSHandshakeTimeout == 5*time.Second && t.FirstFrameTimeout == 0 && t.UnallocatedTimeout == 90*time.Second && t.MaxConnectionsPerSource == 0
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, warns, err := ParseConfig(filepath.Join(dir, "livekit.yaml"), []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("turn %+v\nrtc %+v", c.TURN, c.RTC)
			}
			var got []string
			for _, w := range warns {
				got = append(got, w.Key+": "+w.Msg)
			}
			switch {
			case tc.warn == "" && len(got) > 0:
				t.Errorf("warnings %q, want none", got)
			case tc.warn != "" && (len(got) != 1 || !strings.HasPrefix(got[0], tc.warn)):
				t.Errorf("warnings %q, want one starting %q", got, tc.warn)
			}
		})
	}
}

// TestLiveKitTransportKeyErrors checks the refusals of the transport keys,
// each at its file, line and key.
func TestLiveKitTransportKeyErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, yaml, want string }{
		{"no TURN listener", "turn:\n  udp_port: 0\n", `livekit.yaml:2: turn.udp_port: no TURN listener: udp_port is 0 and there is no TURN/TLS (LiveKit refuses this too, "invalid TURN ports", pkg/service/turn.go:69)`},
		{"no TURN listener with external_tls off", "turn:\n  udp_port: 0\n  tls_port: 0\n", "livekit.yaml:2: turn.udp_port: no TURN listener"},
		{"bad udp mux range", "rtc:\n  udp_port: 7892-7882\n", `livekit.yaml:2: rtc.udp_port: "7892-7882": the end port must be above the start port`},
		{"udp_port not a port", "rtc:\n  udp_port: lots\n", `livekit.yaml:2: rtc.udp_port: "lots": want a port 1..65535 or a range such as "7882-7892"`},
		{"three node addresses", "rtc:\n  node_ip: 1.2.3.4,5.6.7.8\n", `livekit.yaml:2: rtc.node_ip: "1.2.3.4,5.6.7.8" gives two addresses of one family`},
		{"negative threshold", "rtc:\n  tcp_fallback_rtt_threshold: -5\n", "livekit.yaml:2: rtc.tcp_fallback_rtt_threshold: -5 is out of range 0..60000 milliseconds"},
		{"threshold as a duration", "rtc:\n  tcp_fallback_rtt_threshold: 200ms\n", `livekit.yaml:2: rtc.tcp_fallback_rtt_threshold: want an integer, got "200ms"`},
		{"ICE/TCP on the TURN/TLS port", "turn:\n  tls_port: 443\n  external_tls: true\nrtc:\n  tcp_port: 443\n", "livekit.yaml:5: rtc.tcp_port: 443 is also turn.tls_port"},
		{"ICE/UDP on the TURN/UDP port", "rtc:\n  udp_port: 3470-3480\n", "livekit.yaml:2: rtc.udp_port: 3470-3480 includes turn.udp_port 3478"},
		{"deadline without a unit", "turn:\n  first_frame_timeout: 10\n", `livekit.yaml:2: turn.first_frame_timeout: want a duration such as "10s" or 0 (no deadline), got "10"`},
		{"negative deadline", "turn:\n  unallocated_timeout: -1s\n", "livekit.yaml:2: turn.unallocated_timeout: -1s is out of range 0..24h"},
		{"negative connection cap", "turn:\n  max_connections_per_source: -1\n", "livekit.yaml:2: turn.max_connections_per_source: -1 is negative (0 means unlimited)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseConfig("livekit.yaml", []byte(tc.yaml))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %v\nwant %s", err, tc.want)
			}
		})
	}
}
