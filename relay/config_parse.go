package relay

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// livekitIgnored lists top-level LiveKit keys (pkg/config/config.go:74-116)
// that the relay accepts and does not model.
var livekitIgnored = []string{
	"port", "bind_addresses", "log_level", "logging", "redis", "room", "webhook",
	"region", "limit", "prometheus_port", "prometheus", "audio", "video",
	"ingress", "signal_relay", "psrpc", "node_selector", "sip", "agents", "metric", "trace",
	"node_stats", "enable_data_tracks", "enable_participant_data_blob", "api", "debug_handler",
}

// rtcIgnored lists rtc: keys of LiveKit (pkg/config/config.go:119-186,
// rtcconfig/config.go:44-70) that the relay accepts and does not model.
var rtcIgnored = []string{
	"stun_servers", "turn_servers", "use_ice_lite", "interfaces", "ips",
	"enable_loopback_candidate", "use_mdns", "strict_acks", "congestion_control",
	"packet_buffer_size", "packet_buffer_size_video", "packet_buffer_size_audio", "batch_io",
	"reconnect_on_publication_error", "reconnect_on_subscription_error", "reconnect_on_data_channel_error",
	"pli_throttle", "force_tcp", "allow_pause", "min_playout_delay", "max_playout_delay",
	"use_stun_port_as_ice", "external_ip_only", "sctp_min_cwnd", "sctp_fast_rtx_wnd", "sctp_cwnd_ca_step",
	"enable_warp", "data_channel_max_buffered_amount", "datachannel_slow_threshold",
	"datachannel_lossy_target_latency", "datachannel_data_track_target_latency", "forward_stats",
	"enable_rtp_stream_restart_detection",
}

type parser struct {
	file  string
	cfg   Config
	errs  []*ConfigIssue
	warns []*ConfigIssue
	// set records the dotted keys present in the file.
	set map[string]*yaml.Node
}

func (p *parser) errorf(n *yaml.Node, key, format string, args ...any) {
	p.errs = append(p.errs, &ConfigIssue{File: p.file, Line: line(n), Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) warnf(n *yaml.Node, key, format string, args ...any) {
	p.warns = append(p.warns, &ConfigIssue{File: p.file, Line: line(n), Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) unknown(n *yaml.Node, key string) {
	p.warns = append(p.warns, &ConfigIssue{File: p.file, Line: line(n), Key: key, Msg: "unknown key, ignored", Unknown: true})
}

func line(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	return n.Line
}

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 8; i++ {
		n = n.Alias
	}
	return n
}

func (p *parser) parse(data []byte) {
	p.set = map[string]*yaml.Node{}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		ln, msg := yamlMsg(err)
		p.errs = append(p.errs, &ConfigIssue{File: p.file, Line: ln, Msg: msg})
		return
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		p.validate()
		return // empty file: defaults
	}
	root := deref(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		p.errorf(root, "", "want a mapping of keys at the top level, got %s", kindName(root))
		return
	}
	p.mapping(root, "", func(key string, k, v *yaml.Node) {
		switch key {
		case "turn":
			p.turnBlock(v)
		case "rtc":
			p.rtcBlock(v)
		case "keys":
			p.cfg.Keys = p.stringMap(v, "keys")
		case "key_file":
			p.warnf(k, key, "not read by the relay; put the api_key: secret pairs under keys:")
		case "development":
			p.boolean(v, key, &p.cfg.Development)
		default:
			if !slices.Contains(livekitIgnored, key) {
				p.unknown(k, key)
			}
		}
	})
	p.validate()
}

// yamlMsg moves yaml.v3's "line N: " prefix into the issue's location.
func yamlMsg(err error) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var ln int
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, after, ok := strings.Cut(rest, ": "); ok {
			if v, err := strconv.Atoi(num); err == nil {
				ln, msg = v, after
			}
		}
	}
	return ln, "invalid YAML: " + msg
}

// mapping walks a mapping node, reporting duplicate and non-string keys.
func (p *parser) mapping(n *yaml.Node, prefix string, each func(key string, k, v *yaml.Node)) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		p.errorf(n, strings.TrimSuffix(prefix, "."), "want a mapping, got %s", kindName(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k == nil || v == nil || k.Kind != yaml.ScalarNode {
			p.errorf(n.Content[i], strings.TrimSuffix(prefix, "."), "keys must be plain strings")
			continue
		}
		full := prefix + k.Value
		if seen[k.Value] {
			p.errorf(k, full, "duplicate key")
			continue
		}
		seen[k.Value] = true
		p.set[full] = v
		each(k.Value, k, v)
	}
}

func kindName(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return fmt.Sprintf("%q", n.Value)
	default:
		return "an unsupported node"
	}
}

func (p *parser) scalar(n *yaml.Node, key, want string) bool {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errorf(n, key, "want %s, got %s", want, kindName(n))
		return false
	}
	return true
}

func (p *parser) boolean(n *yaml.Node, key string, dst *bool) {
	if !p.scalar(n, key, "true or false") {
		return
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		p.errorf(n, key, "want true or false, got %q", n.Value)
		return
	}
	*dst = b
}

func (p *parser) integer(n *yaml.Node, key string, dst *int) bool {
	if !p.scalar(n, key, "an integer") {
		return false
	}
	var v int64
	if n.Tag != "!!int" || n.Decode(&v) != nil {
		p.errorf(n, key, "want an integer, got %q", n.Value)
		return false
	}
	if v < -1<<31 || v > 1<<31 {
		p.errorf(n, key, "%s is out of range", n.Value)
		return false
	}
	*dst = int(v)
	return true
}

// port parses a port; 0 is allowed only when zeroOK, and then zeroMeans
// says what it does.
func (p *parser) port(n *yaml.Node, key string, dst *int, zeroOK bool, zeroMeans string) {
	var v int
	if !p.integer(n, key, &v) {
		return
	}
	lo := 1
	if zeroOK {
		lo = 0
	}
	if v < lo || v > 65535 {
		if zeroOK {
			p.errorf(n, key, "%d is out of range 1..65535 (0 %s)", v, zeroMeans)
		} else {
			p.errorf(n, key, "%d is out of range 1..65535", v)
		}
		return
	}
	*dst = v
}

// duration parses a Go duration such as "10s" or "1m30s", 0 to 24h; 0
// turns the deadline off.
func (p *parser) duration(n *yaml.Node, key string, dst *time.Duration) {
	if !p.scalar(n, key, `a duration such as "10s"`) {
		return
	}
	if n.Value == "0" {
		*dst = 0
		return
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil || n.Tag == "!!int" {
		p.errorf(n, key, "want a duration such as \"10s\" or 0 (no deadline), got %q", n.Value)
		return
	}
	if d < 0 || d > 24*time.Hour {
		p.errorf(n, key, "%s is out of range 0..24h (0 means no deadline)", n.Value)
		return
	}
	*dst = d
}

func (p *parser) str(n *yaml.Node, key string, dst *string) {
	if !p.scalar(n, key, "a string") {
		return
	}
	*dst = n.Value
}

func (p *parser) stringMap(n *yaml.Node, key string) map[string]string {
	out := map[string]string{}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return out
	}
	p.mapping(n, key+".", func(k string, kn, v *yaml.Node) {
		full := key + "." + k
		if k == "" {
			p.errorf(kn, key, "empty name")
			return
		}
		var s string
		if !p.scalar(v, full, "a string") {
			return
		}
		s = v.Value
		if s == "" {
			p.errorf(v, full, "empty secret")
			return
		}
		out[k] = s
	})
	return out
}

func (p *parser) turnBlock(n *yaml.Node) {
	t := &p.cfg.TURN
	p.mapping(n, "turn.", func(key string, k, v *yaml.Node) {
		full := "turn." + key
		switch key {
		case "enabled":
			p.boolean(v, full, &t.Enabled)
		case "domain":
			p.str(v, full, &t.Domain)
			if t.Domain == "" {
				p.errorf(v, full, "must not be empty")
			}
		case "udp_port":
			p.port(v, full, &t.UDPPort, true, "turns TURN/UDP and TURN/TCP off")
		case "tls_port":
			p.port(v, full, &t.TLSPort, true, "turns TURN/TLS off")
		case "cert_file":
			p.str(v, full, &t.CertFile)
		case "key_file":
			p.str(v, full, &t.KeyFile)
		case "relay_range_start":
			p.port(v, full, &t.RelayRangeStart, true, "takes LiveKit's default range")
		case "relay_range_end":
			p.port(v, full, &t.RelayRangeEnd, true, "takes LiveKit's default range")
		case "external_tls":
			p.boolean(v, full, &t.ExternalTLS)
		case "users":
			t.Users = p.stringMap(v, full)
		case "user_quota":
			var q int
			if p.integer(v, full, &q) {
				if q < 0 {
					p.errorf(v, full, "%d is negative (0 means unlimited)", q)
				} else {
					t.UserQuota = q
				}
			}
		case "allow_private_peers":
			p.boolean(v, full, &t.AllowPrivatePeers)
		case "allowed_peer_cidrs":
			t.AllowedPeers = p.prefixes(v, full)
		case "listener_socket_buffer":
			p.bufferSize(v, full, &t.ListenerSocketBuffer)
		case "relay_socket_buffer":
			p.bufferSize(v, full, &t.RelaySocketBuffer)
		case "tls_handshake_timeout":
			p.duration(v, full, &t.TLSHandshakeTimeout)
		case "first_frame_timeout":
			p.duration(v, full, &t.FirstFrameTimeout)
		case "unallocated_timeout":
			p.duration(v, full, &t.UnallocatedTimeout)
		case "max_connections_per_source":
			var m int
			if p.integer(v, full, &m) {
				if m < 0 {
					p.errorf(v, full, "%d is negative (0 means unlimited)", m)
				} else {
					t.MaxConnectionsPerSource = m
				}
			}
		default:
			p.unknown(k, full)
		}
	})
}

// bufferSize parses a socket buffer size: 0 (system default) to 1 GiB.
func (p *parser) bufferSize(n *yaml.Node, key string, dst *int) {
	var v int
	if !p.integer(n, key, &v) {
		return
	}
	if v < 0 || v > 1<<30 {
		p.errorf(n, key, "%d is out of range 0..%d bytes (0 keeps the system default)", v, 1<<30)
		return
	}
	*dst = v
}

func (p *parser) prefixes(n *yaml.Node, key string) []netip.Prefix {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, key, "want a list of CIDR prefixes, got %s", kindName(n))
		return nil
	}
	var out []netip.Prefix
	for _, item := range n.Content {
		item = deref(item)
		if !p.scalar(item, key, "a CIDR prefix") {
			continue
		}
		pfx, err := netip.ParsePrefix(item.Value)
		if err != nil {
			if a, aerr := netip.ParseAddr(item.Value); aerr == nil {
				pfx = netip.PrefixFrom(a, a.BitLen())
			} else {
				p.errorf(item, key, "%q is not a CIDR prefix like 10.0.0.0/8", item.Value)
				continue
			}
		}
		out = append(out, pfx.Masked())
	}
	return out
}

func (p *parser) rtcBlock(n *yaml.Node) {
	r := &p.cfg.RTC
	p.mapping(n, "rtc.", func(key string, k, v *yaml.Node) {
		full := "rtc." + key
		switch key {
		case "use_external_ip":
			p.boolean(v, full, &r.UseExternalIP)
		case "node_ip":
			p.nodeIP(v, full)
		case "udp_port":
			p.portRange(v, full)
		case "tcp_port":
			p.port(v, full, &r.TCPPort, true, "turns ICE/TCP off")
		case "port_range_start":
			p.port(v, full, &r.PortRangeStart, true, "leaves the range unset")
		case "port_range_end":
			p.port(v, full, &r.PortRangeEnd, true, "leaves the range unset")
		case "allow_tcp_fallback":
			p.boolean(v, full, &r.AllowTCPFallback)
		case "tcp_fallback_rtt_threshold":
			var ms int
			if !p.integer(v, full, &ms) {
				return
			}
			if ms < 0 || ms > 60000 {
				p.errorf(v, full, "%d is out of range 0..60000 milliseconds (0 turns the check off)", ms)
				return
			}
			r.TCPFallbackRTTThreshold = time.Duration(ms) * time.Millisecond
		case "allow_udp_unstable_fallback":
			p.boolean(v, full, &r.AllowUDPUnstableFallback)
		default:
			if !slices.Contains(rtcIgnored, key) {
				p.unknown(k, full)
			}
		}
	})
}

// nodeIP parses rtc.node_ip as LiveKit does: one address, or an IPv4 and an
// IPv6 separated by a comma (rtcconfig/config.go:205-233).
func (p *parser) nodeIP(n *yaml.Node, key string) {
	var s string
	p.str(n, key, &s)
	if s == "" {
		return
	}
	parts := strings.Split(s, ",")
	if len(parts) > 2 {
		p.errorf(n, key, "%q: want one address, or an IPv4 and an IPv6 as \"v4,v6\"", s)
		return
	}
	var v4, v6 netip.Addr
	for _, part := range parts {
		a, err := netip.ParseAddr(strings.TrimSpace(part))
		if err != nil || a.Zone() != "" {
			p.errorf(n, key, "%q is not an IP address", strings.TrimSpace(part))
			return
		}
		a = a.Unmap()
		if a.IsUnspecified() || a.IsMulticast() {
			p.errorf(n, key, "%s cannot be a node address", a)
			return
		}
		dst := &v6
		if a.Is4() {
			dst = &v4
		}
		if dst.IsValid() {
			p.errorf(n, key, "%q gives two addresses of one family (%s and %s)", s, *dst, a)
			return
		}
		*dst = a
	}
	p.cfg.RTC.NodeIP, p.cfg.RTC.NodeIPv6 = v4, v6
}

// portRange parses rtc.udp_port as LiveKit's PortRange does: "7882" or
// "7882-7892", the end above the start (rtcconfig/config.go:136-168).
func (p *parser) portRange(n *yaml.Node, key string) {
	if !p.scalar(n, key, `a port or a range such as "7882-7892"`) {
		return
	}
	one := func(s string) (int, bool) {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || v < 0 || v > 65535 {
			p.errorf(n, key, "%q: want a port 1..65535 or a range such as \"7882-7892\"", n.Value)
			return 0, false
		}
		return v, true
	}
	lo, hi, isRange := strings.Cut(n.Value, "-")
	start, ok := one(lo)
	if !ok {
		return
	}
	end := 0
	if isRange {
		if end, ok = one(hi); !ok {
			return
		}
		if end <= start {
			p.errorf(n, key, "%q: the end port must be above the start port", n.Value)
			return
		}
	}
	p.cfg.RTC.UDPPort, p.cfg.RTC.UDPPortEnd = start, end
}
