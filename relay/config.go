package relay

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Config is a relay configuration in the shape of a LiveKit livekit.yaml file.
//
// The file keys are LiveKit's (turn: and rtc: blocks, keys: map) plus a few
// icelab extensions under turn: that a production relay needs and LiveKit
// keeps elsewhere:
//
//	keys:                      # LiveKit: api_key -> secret. Each secret is also a
//	  devkey: devsecret        # TURN REST shared secret (see RESTCredentials).
//	turn:
//	  enabled: true            # default true
//	  domain: turn.example.com # default "localhost"; also the TURN realm
//	  udp_port: 3478           # default 3478; TURN/UDP, STUN and TURN/TCP. 0 picks a free port
//	  tls_port: 5349           # default 5349; TURN/TLS (or plain TCP when external_tls)
//	  cert_file: turn.crt      # relative paths are relative to the config file
//	  key_file: turn.key
//	  relay_range_start: 30000 # default 30000
//	  relay_range_end: 40000   # default 40000 (inclusive)
//	  external_tls: false      # default false; TLS is terminated by an L4 load balancer
//	  users:                   # icelab: static long-term credentials, user -> password
//	    alice: s3cret
//	  user_quota: 10           # icelab: live allocations per username, default 10, 0 = unlimited
//	  allow_private_peers: false          # icelab: relay to RFC 1918, 100.64/10 and fc00::/7 peers
//	  allowed_peer_cidrs: [127.0.0.0/8]   # icelab: prefixes always allowed as peers
//	  listener_socket_buffer: 4194304     # icelab: UDP listener receive/send buffer, bytes
//	  relay_socket_buffer: 1048576        # icelab: each relay socket's buffers, bytes
//	rtc:
//	  use_external_ip: false   # advertise node_ip as the relay address
//	  node_ip: 203.0.113.10    # LiveKit's external address of the node
//	  tcp_port: 7881
//	  port_range_start: 50000
//	  port_range_end: 60000
//
// The TLS listener exists when cert_file/key_file are set or external_tls is true; a
// tls_port set in the file without either is an error. A tls_port of 0 picks a free port.
type Config struct {
	// Source names the file the configuration came from ("" for DefaultConfig).
	Source string
	// TURN is the turn: block.
	TURN TURNConfig
	// RTC is the subset of the rtc: block that decides which address the relay advertises.
	RTC RTCConfig
	// Keys maps API keys to secrets (LiveKit's keys: block). Every secret is
	// accepted as a TURN REST shared secret.
	Keys map[string]string
}

// TURNConfig is the turn: block of a livekit.yaml file plus icelab's extensions.
type TURNConfig struct {
	Enabled         bool
	Domain          string
	UDPPort         int
	TLSPort         int
	CertFile        string
	KeyFile         string
	RelayRangeStart int
	RelayRangeEnd   int
	ExternalTLS     bool

	// Certificate is the key pair loaded from CertFile/KeyFile by ParseConfig, or set
	// directly by code that builds a Config without files. A non-nil Certificate
	// enables the TLS listener.
	Certificate *tls.Certificate

	// Users maps static usernames to passwords (long-term credentials).
	Users map[string]string
	// UserQuota caps live allocations per username; 0 means unlimited.
	UserQuota int
	// AllowPrivatePeers permits peers in RFC 1918, CGNAT (100.64.0.0/10) and ULA
	// (fc00::/7) space. Loopback, link-local, multicast and unspecified peers stay
	// refused unless listed in AllowedPeers.
	AllowPrivatePeers bool
	// AllowedPeers lists prefixes whose peers are always permitted.
	AllowedPeers []netip.Prefix
	// ListenerSocketBuffer sizes the UDP listener's kernel receive and send
	// buffers in bytes (SO_RCVBUF/SO_SNDBUF, capped by net.core.rmem_max and
	// wmem_max); 0 leaves the system default (about 208 KiB on Linux).
	ListenerSocketBuffer int
	// RelaySocketBuffer sizes each relay socket's buffers the same way.
	RelaySocketBuffer int
}

// RTCConfig is the part of LiveKit's rtc: block the relay reads.
type RTCConfig struct {
	UseExternalIP  bool
	NodeIP         netip.Addr
	TCPPort        int
	PortRangeStart int
	PortRangeEnd   int
}

// TLSEnabled reports whether the relay serves a TLS (or external_tls plain TCP) listener.
func (c TURNConfig) TLSEnabled() bool {
	return c.ExternalTLS || c.Certificate != nil
}

// DefaultConfig returns the configuration LiveKit documents as defaults. It has
// no credentials and no TLS listener.
func DefaultConfig() Config {
	return Config{
		TURN: TURNConfig{
			Enabled:         true,
			Domain:          "localhost",
			UDPPort:         3478,
			TLSPort:         5349,
			RelayRangeStart: 30000,
			RelayRangeEnd:   40000,
			UserQuota:       10,

			ListenerSocketBuffer: 4 << 20,
			RelaySocketBuffer:    1 << 20,
		},
		RTC: RTCConfig{
			TCPPort:        7881,
			PortRangeStart: 50000,
			PortRangeEnd:   60000,
		},
	}
}

// ConfigIssue is one problem found in a configuration file, located by file,
// line and dotted key. It is an error; ParseConfig also returns issues that are
// only warnings.
type ConfigIssue struct {
	File string
	Line int
	Key  string
	Msg  string
	// Unknown marks a key the relay does not know. LiveKit's own loader
	// rejects unknown keys unless started with --disable-strict-config
	// (strict YAML decoding); ParseConfig returns them as warnings and leaves
	// the choice to the caller.
	Unknown bool
}

func (e *ConfigIssue) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// LoadConfig reads and parses the file at path. See ParseConfig.
func LoadConfig(path string) (Config, []*ConfigIssue, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, nil, fmt.Errorf("relay config: %w", err)
	}
	return ParseConfig(path, data)
}

// ParseConfig parses a livekit.yaml-style document. name is used in messages and
// to resolve relative cert_file/key_file paths. Unknown keys come back as
// warnings; every other problem is an error, and the returned error joins all of
// them (each a *ConfigIssue). ParseConfig reads cert_file and key_file.
func ParseConfig(name string, data []byte) (Config, []*ConfigIssue, error) {
	p := &parser{file: name, cfg: DefaultConfig()}
	p.cfg.Source = name
	p.parse(data)
	if len(p.errs) > 0 {
		errs := make([]error, len(p.errs))
		for i, e := range p.errs {
			errs[i] = e
		}
		return Config{}, p.warns, errors.Join(errs...)
	}
	return p.cfg, p.warns, nil
}

// livekitIgnored lists top-level LiveKit keys the relay accepts silently.
var livekitIgnored = []string{
	"port", "bind_addresses", "log_level", "logging", "redis", "room", "webhook",
	"region", "limit", "development", "prometheus_port", "prometheus", "audio", "video",
	"ingress", "signal_relay", "psrp", "node_selector", "sip", "keys_file",
}

// rtcIgnored lists rtc: keys of LiveKit that the relay accepts silently.
var rtcIgnored = []string{
	"udp_port", "stun_servers", "turn_servers", "use_ice_lite", "interfaces", "ips",
	"enable_loopback_candidate", "use_mdns", "strict_acks", "congestion_control",
	"allow_tcp_fallback", "packet_buffer_size", "batch_io", "reconnect_on_publication_error",
	"reconnect_on_subscription_error", "reconnect_on_data_channel_error", "pli_throttle",
	"force_tcp", "allow_pause", "min_playout_delay", "max_playout_delay",
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

// port parses a port; 0 is allowed only when zeroOK (it means "pick a free port").
func (p *parser) port(n *yaml.Node, key string, dst *int, zeroOK bool) {
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
			p.errorf(n, key, "%d is out of range 1..65535 (0 picks a free port)", v)
		} else {
			p.errorf(n, key, "%d is out of range 1..65535", v)
		}
		return
	}
	*dst = v
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
			p.port(v, full, &t.UDPPort, true)
		case "tls_port":
			p.port(v, full, &t.TLSPort, true)
		case "cert_file":
			p.str(v, full, &t.CertFile)
		case "key_file":
			p.str(v, full, &t.KeyFile)
		case "relay_range_start":
			p.port(v, full, &t.RelayRangeStart, false)
		case "relay_range_end":
			p.port(v, full, &t.RelayRangeEnd, false)
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
			var s string
			p.str(v, full, &s)
			if s == "" {
				return
			}
			a, err := netip.ParseAddr(s)
			if err != nil || a.Zone() != "" {
				p.errorf(v, full, "%q is not an IP address", s)
				return
			}
			if a.IsUnspecified() || a.IsMulticast() {
				p.errorf(v, full, "%s cannot be a node address", a)
				return
			}
			r.NodeIP = a.Unmap()
		case "tcp_port":
			p.port(v, full, &r.TCPPort, false)
		case "port_range_start":
			p.port(v, full, &r.PortRangeStart, false)
		case "port_range_end":
			p.port(v, full, &r.PortRangeEnd, false)
		default:
			if !slices.Contains(rtcIgnored, key) {
				p.unknown(k, full)
			}
		}
	})
}
