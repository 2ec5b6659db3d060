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

// validate checks relations between keys; it reports at the line of the later key.
func (p *parser) validate() {
	t, r := &p.cfg.TURN, &p.cfg.RTC
	at := func(key string) *yaml.Node { return p.set[key] }

	if t.RelayRangeEnd < t.RelayRangeStart {
		if at("turn.relay_range_end") != nil {
			p.errorf(at("turn.relay_range_end"), "turn.relay_range_end", "%d is below relay_range_start %d", t.RelayRangeEnd, t.RelayRangeStart)
		} else {
			p.errorf(at("turn.relay_range_start"), "turn.relay_range_start", "%d is above relay_range_end %d", t.RelayRangeStart, t.RelayRangeEnd)
		}
	}
	if r.PortRangeEnd < r.PortRangeStart {
		if at("rtc.port_range_end") != nil {
			p.errorf(at("rtc.port_range_end"), "rtc.port_range_end", "%d is below port_range_start %d", r.PortRangeEnd, r.PortRangeStart)
		} else {
			p.errorf(at("rtc.port_range_start"), "rtc.port_range_start", "%d is above port_range_end %d", r.PortRangeStart, r.PortRangeEnd)
		}
	}
	if t.UDPPort != 0 && t.UDPPort >= t.RelayRangeStart && t.UDPPort <= t.RelayRangeEnd && t.RelayRangeStart <= t.RelayRangeEnd {
		p.errorf(at("turn.udp_port"), "turn.udp_port", "%d lies inside the relay range %d-%d", t.UDPPort, t.RelayRangeStart, t.RelayRangeEnd)
	}
	if t.RelayRangeStart <= r.PortRangeEnd && r.PortRangeStart <= t.RelayRangeEnd &&
		(at("turn.relay_range_start") != nil || at("turn.relay_range_end") != nil || at("rtc.port_range_start") != nil || at("rtc.port_range_end") != nil) {
		n := at("turn.relay_range_start")
		if n == nil {
			n = at("turn.relay_range_end")
		}
		p.warnf(n, "turn.relay_range_start", "relay range %d-%d overlaps rtc port range %d-%d", t.RelayRangeStart, t.RelayRangeEnd, r.PortRangeStart, r.PortRangeEnd)
	}

	p.loadKeyPair()

	tlsSet := at("turn.tls_port") != nil
	if tlsSet && t.TLSPort != 0 && !t.TLSEnabled() && t.CertFile == "" && t.KeyFile == "" {
		p.errorf(at("turn.tls_port"), "turn.tls_port", "%d is set but cert_file and key_file are empty (set them, or external_tls: true when a load balancer terminates TLS)", t.TLSPort)
	}
	if (t.TLSEnabled() || t.CertFile != "") && t.TLSPort != 0 && t.TLSPort == t.UDPPort {
		n := at("turn.tls_port")
		if n == nil {
			n = at("turn.udp_port")
		}
		p.errorf(n, "turn.tls_port", "%d is also udp_port, where TURN/TCP listens", t.TLSPort)
	}
	if r.UseExternalIP && !r.NodeIP.IsValid() {
		p.warnf(at("rtc.use_external_ip"), "rtc.use_external_ip", "true without rtc.node_ip: the relay needs the external address from the caller")
	}
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
