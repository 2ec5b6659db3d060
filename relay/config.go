package relay

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"
)

// Config is a relay configuration in the shape of a LiveKit livekit.yaml file.
//
// The file keys are LiveKit's (turn: and rtc: blocks, keys: map, development:),
// read as LiveKit's server reads them, plus a few icelab extensions under turn:
// that a production relay needs and LiveKit keeps elsewhere. Citations are to
// livekit/livekit at 788d4c3 (v1.13.5-42) and livekit/mediatransportutil at
// 77f742a, whose pkg/rtcconfig holds LiveKit's rtc: block.
//
//	keys:                      # LiveKit: api_key -> secret. Each secret is also a
//	  devkey: devsecret        # TURN REST shared secret (see RESTCredentials).
//	development: false         # LiveKit's dev mode: other port defaults (below)
//	turn:
//	  enabled: true            # default true (LiveKit's is false)
//	  domain: turn.example.com # default "localhost"; also the TURN realm
//	  udp_port: 3478           # TURN/UDP and STUN, and icelab's TURN/TCP; 0 = none
//	  tls_port: 5349           # TURN/TLS (plain TCP behind external_tls); 0 = none
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
//	  tls_handshake_timeout: 10s          # icelab: a TLS client must finish its handshake in this
//	  first_frame_timeout: 10s            # icelab: a TCP/TLS client must send a whole STUN message in this
//	  unallocated_timeout: 60s            # icelab: a TCP/TLS connection without an allocation closes after this
//	  max_connections_per_source: 1000    # icelab: open TCP/TLS connections per client IP, 0 = unlimited
//	rtc:
//	  udp_port: 7882           # one ICE/UDP port for all media (or 7882-7892), instead of the range
//	  tcp_port: 7881           # ICE/TCP port; 0 = no ICE/TCP
//	  port_range_start: 50000  # ICE/UDP port per peer connection; takes precedence over udp_port
//	  port_range_end: 60000
//	  use_external_ip: false   # advertise the node's external address (LiveKit finds it by STUN)
//	  node_ip: 203.0.113.10    # LiveKit's address of the node: an IPv4, an IPv6, or "v4,v6"
//	  allow_tcp_fallback: true          # LiveKit: on ICE failure, move to ICE/TCP then TURN/TLS
//	  tcp_fallback_rtt_threshold: 0     # LiveKit: milliseconds; ICE/TCP only below this signalling RTT
//	  allow_udp_unstable_fallback: false # LiveKit: lossy UDP counts as a failure (needs the threshold)
//
// What each key means to LiveKit, and where that comes from, is in ConfigKeys.
// In short: TURN/UDP exists only when turn.udp_port is above 0 and TURN/TLS
// only when turn.tls_port is (pkg/service/turn.go:69-79, :164-217), TURN/TLS
// needs cert_file/key_file unless external_tls, and clients are handed
// "turns:DOMAIN:443" whatever tls_port is (pkg/service/roommanager.go:1068-1070).
// icelab also serves TURN/TCP on udp_port, as coturn does; LiveKit has no TURN/TCP.
type Config struct {
	// Source names the file the configuration came from ("" for DefaultConfig).
	Source string
	// TURN is the turn: block.
	TURN TURNConfig
	// RTC is the part of the rtc: block that decides which transports clients get.
	RTC RTCConfig
	// Keys maps API keys to secrets (LiveKit's keys: block). Every secret is
	// accepted as a TURN REST shared secret.
	Keys map[string]string
	// Development is LiveKit's development: flag. It changes defaults only:
	// rtc.udp_port 7882 instead of the port range when neither is set, and a
	// relay range of 30000-30002 (mediatransportutil rtcconfig/config.go:89-97,
	// livekit pkg/config/config.go:644-653).
	Development bool
}

// TURNConfig is the turn: block of a livekit.yaml file plus icelab's extensions.
type TURNConfig struct {
	Enabled bool
	Domain  string
	// UDPPort serves TURN/UDP and STUN (and icelab's TURN/TCP); 0 means none,
	// as in LiveKit (pkg/service/turn.go:200).
	UDPPort int
	// TLSPort serves TURN/TLS, or plain TCP when ExternalTLS; 0 means none
	// (pkg/service/turn.go:164).
	TLSPort         int
	CertFile        string
	KeyFile         string
	RelayRangeStart int
	RelayRangeEnd   int
	ExternalTLS     bool

	// Certificate is the key pair loaded from CertFile/KeyFile by ParseConfig, or set
	// directly by code that builds a Config without files. With a TLSPort, a
	// non-nil Certificate enables the TLS listener.
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

	// TLSHandshakeTimeout closes a TLS connection whose handshake has not
	// finished this long after it was accepted; 0 means no deadline.
	TLSHandshakeTimeout time.Duration
	// FirstFrameTimeout closes a TCP or TLS connection that has not sent one
	// whole STUN message this long after it was accepted; 0 means no deadline.
	FirstFrameTimeout time.Duration
	// UnallocatedTimeout closes a TCP or TLS connection that holds no
	// allocation (and is no RFC 6062 data connection) this long after it was
	// accepted, as coturn's --max-allocate-timeout does (60 s by default,
	// coturn src/server/ns_turn_server.c TURN_MAX_ALLOCATE_TIMEOUT); 0 means none.
	UnallocatedTimeout time.Duration
	// MaxConnectionsPerSource caps the TCP and TLS connections open at once
	// from one client IP address; further ones are closed as they are
	// accepted. 0 means unlimited.
	MaxConnectionsPerSource int
}

// RTCConfig is the part of LiveKit's rtc: block that decides which transports
// clients get. The relay itself reads only UseExternalIP and NodeIP; the
// rest is for the media node that runs beside it.
type RTCConfig struct {
	// UDPPort and UDPPortEnd are rtc.udp_port: one port ("7882") or a range
	// ("7882-7892", UDPPortEnd 0 for one port) on which LiveKit muxes every
	// peer connection's ICE/UDP, one mux per port up to the number of CPUs
	// (webrtc_config.go:130-170). It applies only without a port range
	// (see UDPMux). 0 means not set.
	UDPPort, UDPPortEnd int
	// TCPPort is rtc.tcp_port, the ICE/TCP listener shared by every peer
	// connection (default 7881); 0 means no ICE/TCP candidates at all
	// (webrtc_config.go:177-198).
	TCPPort int
	// PortRangeStart and PortRangeEnd give each peer connection its own
	// ICE/UDP port from the range when both are set (webrtc_config.go:126-129).
	// When the file sets neither them nor udp_port, LiveKit uses 50000-60000
	// (rtcconfig/config.go:89-97).
	PortRangeStart, PortRangeEnd int
	// UseExternalIP makes LiveKit discover the node's external address by
	// STUN, advertise it in ICE and as the relay address; it overrides an
	// IPv4 node_ip (rtcconfig/config.go:99-110, webrtc_config.go:91-110). The
	// relay takes that discovered address from WithExternalIP.
	UseExternalIP bool
	// NodeIP and NodeIPv6 are rtc.node_ip ("v4", "v6" or "v4,v6"): the
	// addresses LiveKit advertises for the node, in ICE host candidates and
	// as the TURN relay address (pkg/service/turn.go:111-127). Zero when not set.
	NodeIP, NodeIPv6 netip.Addr
	// AllowTCPFallback is rtc.allow_tcp_fallback: on an ICE failure the
	// server moves the participant's transports down its ladder, ICE/TCP then
	// TURN/TLS (pkg/rtc/transportmanager.go:782-860). Default true
	// (pkg/service/roommanager.go:451-455).
	AllowTCPFallback bool
	// TCPFallbackRTTThreshold is rtc.tcp_fallback_rtt_threshold, written in
	// milliseconds: ICE/TCP is tried only while the signalling round trip is
	// below it, else the ladder goes straight to TURN/TLS; 0 (the default)
	// turns the check off (transportmanager.go:1055-1057, config.go:148-153).
	TCPFallbackRTTThreshold time.Duration
	// AllowUDPUnstableFallback is rtc.allow_udp_unstable_fallback: UDP that
	// loses at least 25% in 20 of the last 32 receiver reports counts as a
	// failure; it needs a non-zero TCPFallbackRTTThreshold
	// (transportmanager.go:980-1000). Default false.
	AllowUDPUnstableFallback bool
}

// TLSEnabled reports whether the relay serves a TLS (or external_tls plain
// TCP) listener: a tls_port, and a certificate or a load balancer that
// terminates TLS (pkg/service/turn.go:164-181).
func (c TURNConfig) TLSEnabled() bool {
	return c.TLSPort != 0 && (c.ExternalTLS || c.Certificate != nil)
}

// UDPEnabled reports whether the relay serves TURN/UDP and STUN (and icelab's
// TURN/TCP): TURN on and a udp_port (pkg/service/turn.go:200).
func (c TURNConfig) UDPEnabled() bool {
	return c.Enabled && c.UDPPort != 0
}

// AdvertisedTLSPort is the TURN/TLS port LiveKit puts in the ICE servers it
// hands clients: "turns:DOMAIN:443?transport=tcp" whenever tls_port is set,
// whatever its value, because LiveKit expects tls_port to be 443 or to sit
// behind a load balancer on 443 (pkg/service/roommanager.go:1068-1070,
// config-sample.yaml "if not using a load balancer, this must be set to
// 443"). 0 when TURN/TLS is off.
func (c TURNConfig) AdvertisedTLSPort() int {
	if !c.Enabled || c.TLSPort == 0 {
		return 0
	}
	return 443
}

// TURNSEnabled is LiveKit's IsTURNSEnabled for the embedded relay: TURN on
// with a tls_port (pkg/config/config.go:684-693). It decides whether the
// fallback ladder has a TURN/TLS step.
func (c Config) TURNSEnabled() bool {
	return c.TURN.Enabled && c.TURN.TLSPort != 0
}

// UDPMux reports whether LiveKit serves all ICE/UDP on rtc.udp_port: set, and
// the port range not (webrtc_config.go:126-130).
func (r RTCConfig) UDPMux() bool {
	return r.UDPPort != 0 && (r.PortRangeStart == 0 || r.PortRangeEnd == 0)
}

// ICETCP reports whether LiveKit offers ICE/TCP candidates (rtc.tcp_port not 0).
func (r RTCConfig) ICETCP() bool { return r.TCPPort != 0 }

// The icelab defaults for the stream deadlines and limits.
const (
	// DefaultTLSHandshakeTimeout is pion/turn's own handshake bound
	// (turn v5.1.3 server.go:182), which the relay's gate would otherwise bypass.
	DefaultTLSHandshakeTimeout = 10 * time.Second
	// DefaultFirstFrameTimeout gives a client on a slow link as long for its
	// first request as for its TLS handshake.
	DefaultFirstFrameTimeout = 10 * time.Second
	// DefaultUnallocatedTimeout is coturn's --max-allocate-timeout default.
	DefaultUnallocatedTimeout = 60 * time.Second
	// DefaultMaxConnectionsPerSource lets a large office behind one NAT
	// address (two TURN/TLS connections per LiveKit client, one per peer
	// connection) call at once while one host cannot hold every descriptor.
	DefaultMaxConnectionsPerSource = 1000
)

// DefaultConfig returns the relay's defaults: LiveKit's documented ones
// (config-sample.yaml: udp_port 3478, tls_port 5349, relay range 30000-40000;
// rtc tcp_port 7881, port range 50000-60000, allow_tcp_fallback true) with
// TURN enabled, and icelab's for its own keys. It has no credentials and no
// TLS listener.
//
// LiveKit's code has no default TURN ports: a turn: block without udp_port
// has no TURN/UDP there. icelab keeps config-sample.yaml's documented ports,
// so that a scenario that sets only turn.domain has the relay it describes.
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

			TLSHandshakeTimeout:     DefaultTLSHandshakeTimeout,
			FirstFrameTimeout:       DefaultFirstFrameTimeout,
			UnallocatedTimeout:      DefaultUnallocatedTimeout,
			MaxConnectionsPerSource: DefaultMaxConnectionsPerSource,
		},
		RTC: RTCConfig{
			TCPPort:          7881,
			PortRangeStart:   50000,
			PortRangeEnd:     60000,
			AllowTCPFallback: true,
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
	// (strict YAML decoding, pkg/config/config.go:617-623); ParseConfig
	// returns them as warnings and leaves the choice to the caller.
	Unknown bool
}

func (e *ConfigIssue) Error() string {
	var b strings.Builder
	b.WriteString(e.Where())
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Where is the issue's location: "file:line: key" (without line or key
// when unknown).
func (e *ConfigIssue) Where() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Key != "" {
		b.WriteString(": ")
		b.WriteString(e.Key)
	}
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
