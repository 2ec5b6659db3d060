package relay

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

// validate applies LiveKit's defaults that depend on what the file set and
// checks relations between keys; it reports at the line of the later key.
func (p *parser) validate() {
	t, r := &p.cfg.TURN, &p.cfg.RTC
	at := func(key string) *yaml.Node { return p.set[key] }
	first := func(keys ...string) (*yaml.Node, string) {
		for _, k := range keys {
			if n := at(k); n != nil {
				return n, k
			}
		}
		return nil, keys[0]
	}

	p.relayRangeDefaults()
	p.mediaPortDefaults()

	if t.RelayRangeEnd < t.RelayRangeStart {
		p.errorf(at("turn.relay_range_end"), "turn.relay_range_end", "%d is below relay_range_start %d", t.RelayRangeEnd, t.RelayRangeStart)
	}
	if r.PortRangeStart != 0 && r.PortRangeEnd != 0 && r.PortRangeEnd < r.PortRangeStart {
		p.errorf(at("rtc.port_range_end"), "rtc.port_range_end", "%d is below port_range_start %d", r.PortRangeEnd, r.PortRangeStart)
	}
	if t.UDPPort != 0 && t.UDPPort >= t.RelayRangeStart && t.UDPPort <= t.RelayRangeEnd && t.RelayRangeStart <= t.RelayRangeEnd {
		p.errorf(at("turn.udp_port"), "turn.udp_port", "%d lies inside the relay range %d-%d", t.UDPPort, t.RelayRangeStart, t.RelayRangeEnd)
	}
	if r.PortRangeStart != 0 && r.PortRangeEnd != 0 && t.RelayRangeStart <= r.PortRangeEnd && r.PortRangeStart <= t.RelayRangeEnd {
		if n, _ := first("turn.relay_range_start", "turn.relay_range_end", "rtc.port_range_start", "rtc.port_range_end"); n != nil {
			p.warnf(n, "turn.relay_range_start", "relay range %d-%d overlaps rtc port range %d-%d", t.RelayRangeStart, t.RelayRangeEnd, r.PortRangeStart, r.PortRangeEnd)
		}
	}

	p.loadKeyPair()

	tlsSet := at("turn.tls_port") != nil
	if tlsSet && t.TLSPort != 0 && !t.TLSEnabled() && t.CertFile == "" && t.KeyFile == "" {
		p.errorf(at("turn.tls_port"), "turn.tls_port", "%d is set but cert_file and key_file are empty (set them, or external_tls: true when a load balancer terminates TLS)", t.TLSPort)
	}
	if t.TLSPort == 0 && t.CertFile != "" {
		p.warnf(at("turn.cert_file"), "turn.cert_file", "unused: tls_port is 0, so there is no TURN/TLS listener")
	}
	if (t.TLSEnabled() || t.CertFile != "") && t.TLSPort != 0 && t.TLSPort == t.UDPPort {
		n, _ := first("turn.tls_port", "turn.udp_port")
		p.errorf(n, "turn.tls_port", "%d is also udp_port, where TURN/TCP listens", t.TLSPort)
	}
	tlsListener := t.TLSPort != 0 && (t.TLSEnabled() || t.CertFile != "")
	if t.Enabled && t.UDPPort == 0 && !tlsListener {
		n, key := first("turn.udp_port", "turn.tls_port")
		p.errorf(n, key, "no TURN listener: udp_port is 0 and there is no TURN/TLS (LiveKit refuses this too, \"invalid TURN ports\", pkg/service/turn.go:69)")
	}
	if r.TCPPort != 0 && t.Enabled && t.TLSPort == r.TCPPort && tlsListener {
		n, _ := first("rtc.tcp_port", "turn.tls_port")
		p.errorf(n, "rtc.tcp_port", "%d is also turn.tls_port: ICE/TCP and TURN/TLS cannot listen on one port", r.TCPPort)
	}
	if r.UDPPort != 0 && t.UDPEnabled() && r.UDPPort <= t.UDPPort && t.UDPPort <= max(r.UDPPort, r.UDPPortEnd) {
		n, _ := first("rtc.udp_port", "turn.udp_port")
		p.errorf(n, "rtc.udp_port", "%s includes turn.udp_port %d: ICE/UDP and TURN/UDP cannot listen on one port", portsString(r.UDPPort, r.UDPPortEnd), t.UDPPort)
	}

	if r.UseExternalIP && !r.NodeIP.IsValid() {
		p.warnf(at("rtc.use_external_ip"), "rtc.use_external_ip", "true without rtc.node_ip: the relay needs the external address from the caller")
	}
	if r.UseExternalIP && r.NodeIP.IsValid() {
		p.warnf(at("rtc.node_ip"), "rtc.node_ip", "LiveKit ignores an IPv4 node_ip while use_external_ip is true: it advertises the address STUN finds (mediatransportutil rtcconfig/config.go:99-110; set use_external_ip: false to advertise %s)", r.NodeIP)
	}
	if r.AllowUDPUnstableFallback && r.TCPFallbackRTTThreshold == 0 {
		p.warnf(at("rtc.allow_udp_unstable_fallback"), "rtc.allow_udp_unstable_fallback", "has no effect while tcp_fallback_rtt_threshold is 0 (pkg/rtc/transportmanager.go:981)")
	}
	if !r.AllowTCPFallback && (r.AllowUDPUnstableFallback || at("rtc.tcp_fallback_rtt_threshold") != nil) {
		n, key := first("rtc.allow_udp_unstable_fallback", "rtc.tcp_fallback_rtt_threshold")
		p.warnf(n, key, "has no effect while allow_tcp_fallback is false: the transport never falls back (pkg/rtc/transportmanager.go:783)")
	}
}

// relayRangeDefaults applies LiveKit's rule for the relay range: unless the
// file sets both ends (non-zero), both take the default, 30000-40000, or
// 30000-30002 in development mode (pkg/config/config.go:644-653).
func (p *parser) relayRangeDefaults() {
	t := &p.cfg.TURN
	startN, endN := p.set["turn.relay_range_start"], p.set["turn.relay_range_end"]
	if startN != nil && endN != nil && t.RelayRangeStart != 0 && t.RelayRangeEnd != 0 {
		return
	}
	t.RelayRangeStart, t.RelayRangeEnd = 30000, 40000
	if p.cfg.Development {
		t.RelayRangeEnd = 30002
	}
	for _, k := range []string{"turn.relay_range_start", "turn.relay_range_end"} {
		if n := p.set[k]; n != nil && n.Value != "0" {
			p.warnf(n, k, "ignored: LiveKit takes relay_range_start and relay_range_end only together, and uses %d-%d otherwise (pkg/config/config.go:644-653)", t.RelayRangeStart, t.RelayRangeEnd)
		}
	}
}

// mediaPortDefaults applies LiveKit's rule for the ICE/UDP ports: the range
// as the file gives it (LiveKit uses it only with both ends set), and
// 50000-60000 when the file sets neither rtc.udp_port nor
// rtc.port_range_start (7882 as udp_port in development mode)
// (mediatransportutil rtcconfig/config.go:87-97, webrtc_config.go:122-175).
func (p *parser) mediaPortDefaults() {
	r := &p.cfg.RTC
	startN, endN := p.set["rtc.port_range_start"], p.set["rtc.port_range_end"]
	if startN == nil {
		r.PortRangeStart = 0
	}
	if endN == nil {
		r.PortRangeEnd = 0
	}
	if r.UDPPort == 0 && r.PortRangeStart == 0 {
		if p.cfg.Development {
			r.UDPPort, r.PortRangeEnd = 7882, 0
		} else {
			r.PortRangeStart, r.PortRangeEnd = 50000, 60000
		}
		if endN != nil && endN.Value != "0" {
			p.warnf(endN, "rtc.port_range_end", "ignored without port_range_start: LiveKit then uses %s (mediatransportutil rtcconfig/config.go:89-97)", mediaPorts(*r))
		}
		return
	}
	if (r.PortRangeStart == 0) != (r.PortRangeEnd == 0) {
		n := startN
		if n == nil {
			n = endN
		}
		p.warnf(n, "rtc.port_range_start", "LiveKit uses the port range only with both port_range_start and port_range_end set; it uses %s (webrtc_config.go:126-130)", mediaPorts(*r))
		return
	}
	if r.PortRangeStart != 0 && r.UDPPort != 0 {
		p.warnf(p.set["rtc.udp_port"], "rtc.udp_port", "unused: port_range_start and port_range_end take precedence (webrtc_config.go:126-130)")
	}
}

// mediaPorts says which ICE/UDP ports LiveKit uses.
func mediaPorts(r RTCConfig) string {
	switch {
	case r.PortRangeStart != 0 && r.PortRangeEnd != 0:
		return fmt.Sprintf("a port per peer connection from %d-%d", r.PortRangeStart, r.PortRangeEnd)
	case r.UDPPort != 0:
		return "the single-port mux on " + portsString(r.UDPPort, r.UDPPortEnd)
	}
	return "any port the system gives each peer connection"
}

func portsString(start, end int) string {
	if end == 0 {
		return fmt.Sprint(start)
	}
	return fmt.Sprintf("%d-%d", start, end)
}

func (p *parser) resolve(path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(filepath.Dir(p.file), path)
}

func (p *parser) loadKeyPair() {
	t := &p.cfg.TURN
	certN, keyN := p.set["turn.cert_file"], p.set["turn.key_file"]
	switch {
	case t.CertFile == "" && t.KeyFile == "":
		return
	case t.CertFile == "":
		p.errorf(keyN, "turn.key_file", "set without turn.cert_file")
		return
	case t.KeyFile == "":
		p.errorf(certN, "turn.cert_file", "set without turn.key_file")
		return
	}
	certPath, keyPath := p.resolve(t.CertFile), p.resolve(t.KeyFile)
	certPEM, err := readSmallFile(certPath)
	if err != nil {
		p.errorf(certN, "turn.cert_file", "cannot read %s: %v", certPath, unwrapPath(err))
		return
	}
	keyPEM, err := readSmallFile(keyPath)
	if err != nil {
		p.errorf(keyN, "turn.key_file", "cannot read %s: %v", keyPath, unwrapPath(err))
		return
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		p.errorf(certN, "turn.cert_file", "%s with key_file %s: %v", certPath, keyPath, err)
		return
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		p.errorf(certN, "turn.cert_file", "%s: %v", certPath, err)
		return
	}
	pair.Leaf = leaf
	if t.ExternalTLS {
		p.warnf(certN, "turn.cert_file", "ignored: external_tls is true, the load balancer presents the certificate")
	} else {
		t.Certificate = &pair
	}
	if err := leaf.VerifyHostname(t.Domain); err != nil {
		p.warnf(certN, "turn.cert_file", "%s does not cover domain %q: %v", certPath, t.Domain, err)
	}
}

// maxPEMFile bounds certificate and key files.
const maxPEMFile = 1 << 20

// readSmallFile reads a regular file of at most maxPEMFile bytes, so that a path
// such as /dev/zero or a FIFO cannot hang or exhaust the parser.
func readSmallFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	if fi.Size() > maxPEMFile {
		return nil, fmt.Errorf("larger than %d bytes", maxPEMFile)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPEMFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxPEMFile {
		return nil, fmt.Errorf("larger than %d bytes", maxPEMFile)
	}
	return data, nil
}

// unwrapPath drops the *PathError wrapper whose path the message already names.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
