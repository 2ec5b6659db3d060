package scenarios

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/relay"
	"github.com/icelab/icelab/relay/pki"
	"go.yaml.in/yaml/v3"
)

// defaultNodeConfig is the configuration of a node whose file gives none:
// LiveKit's documented defaults.
func defaultNodeConfig() relay.Config {
	return relay.DefaultConfig()
}

// certKinds are the certificates node.tls.cert can ask the test PKI for.
var certKinds = []string{"generated", "wrong-name", "expired", "missing-intermediate"}

// certEpoch is before the start of a testing/synctest bubble's clock
// (2000-01-01 UTC), so an "expired" certificate is expired on the fake
// clock and on the real one.
var certEpoch = time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)

// checkNodeAddr reports a node address outside its LAN's declared prefix.
func (p *parser) checkNodeAddr(path string, at *yaml.Node, n harness.NodeSpec) {
	for _, l := range p.s.Spec.LANs {
		if l.Name == n.LAN && l.LANPrefix.IsValid() && !l.LANPrefix.Contains(n.Addr) {
			p.errorf(at, path, "%s is outside LAN %s's prefix %s", n.Addr, l.Name, l.LANPrefix)
		}
	}
}

// tlsRequest is node.tls: a certificate to generate, or files to read.
type tlsRequest struct {
	at             *yaml.Node
	kind           string // one of certKinds, or "" for files
	cert, key      string
	certAt, keyAt  *yaml.Node
	requested, bad bool
}

// nodeSpec reads node: the media node, its livekit.yaml and certificate.
func (p *parser) nodeSpec(path string, v *yaml.Node) {
	n := harness.NodeSpec{Name: defaultNodeName}
	var (
		inline, fileNode, addrAt *yaml.Node
		req                      tlsRequest
	)
	var ipv6At *yaml.Node
	handlers := p.nodeIPv6Fields(&n, &ipv6At) // in ipv6.go
	for k, h := range map[string]field{
		"name": func(path string, v *yaml.Node) {
			if name, ok := p.hostName(v, path); ok {
				n.Name = name
				p.node = name
			}
		},
		"lan": func(path string, v *yaml.Node) { n.LAN = p.lanRef(path, v) },
		"addr": func(path string, v *yaml.Node) {
			a, ok := p.ipv4(path, v)
			if !ok {
				return
			}
			n.Addr = a
			addrAt = v
		},
		"link":        func(path string, v *yaml.Node) { n.Link = p.impairment(path, v) },
		"mtu":         func(path string, v *yaml.Node) { n.MTU = p.mtu(path, v) },
		"config":      func(_ string, v *yaml.Node) { inline = v },
		"config_file": func(_ string, v *yaml.Node) { fileNode = v },
		"tls":         func(path string, v *yaml.Node) { req = p.tlsRequest(path, v) },
		"single_port": func(path string, v *yaml.Node) {
			var port uint16
			if p.port(v, path, &port) {
				n.SinglePort = int(port)
			}
		},
		"load_balancer": func(path string, v *yaml.Node) {
			lb := &harness.LoadBalancerSpec{}
			if p.fields(v, path, map[string]field{
				"port": func(path string, v *yaml.Node) {
					var port uint16
					if p.port(v, path, &port) {
						lb.Port = int(port)
					}
				},
			}) {
				if lb.Port == 0 {
					p.errorf(v, join(path, "port"), "missing; want the port the load balancer listens on (443 or 5349)")
				}
				n.LoadBalancer = lb
			}
		},
		"second_node":    func(path string, v *yaml.Node) { p.boolean(v, path, &n.SecondNode) },
		"credential_ttl": func(path string, v *yaml.Node) { p.duration(v, path, false, &n.CredentialTTL) },
		"mint_clock_offset": func(path string, v *yaml.Node) {
			if !p.scalar(v, path, `a duration like "-2h"`) {
				return
			}
			d, err := time.ParseDuration(v.Value)
			if err != nil {
				p.errorf(v, path, "%q is not a duration; want one like -2h or 90s", v.Value)
				return
			}
			n.MintClockOffset = d
		},
	} {
		handlers[k] = h
	}
	ok := p.fields(v, path, handlers)
	if !ok {
		return
	}
	p.checkNodeIPv6(path, ipv6At, n)
	n.SecondNode = n.SecondNode || p.s.Spec.Node.SecondNode
	if addrAt != nil {
		p.checkNodeAddr(join(path, "addr"), addrAt, n)
	}
	switch {
	case inline != nil && fileNode != nil:
		p.errorf(fileNode, join(path, "config_file"), "node has both config and config_file; use one")
		return
	case inline != nil:
		n.Config, ok = p.inlineConfig(join(path, "config"), inline, &req)
	case fileNode != nil:
		n.Config, ok = p.configFile(join(path, "config_file"), fileNode, &req)
	default:
		n.Config = defaultNodeConfig()
		n.Config.Source = p.file
		ok = true
	}
	if ok && req.requested && !req.bad {
		p.certificate(join(path, "tls"), &n.Config, &req)
	}
	if n.LoadBalancer != nil && !n.Config.TURN.ExternalTLS && n.Config.TURN.Certificate == nil {
		p.errorf(v, join(path, "load_balancer"), "the load balancer terminates TLS but the node has no certificate for it: set node.tls")
	}
	p.s.Spec.Node = n
	p.s.place(v, path, "node", "host "+n.Name, "relay "+n.Name)
}

func (p *parser) tlsRequest(path string, v *yaml.Node) tlsRequest {
	req := tlsRequest{at: v, requested: true}
	p.fields(v, path, map[string]field{
		"cert": func(path string, v *yaml.Node) {
			if p.str(v, path, &req.cert) {
				req.certAt = v
				if slices.Contains(certKinds, req.cert) {
					req.kind = req.cert
				}
			}
		},
		"key": func(path string, v *yaml.Node) {
			if p.str(v, path, &req.key) {
				req.keyAt = v
			}
		},
	})
	switch {
	case req.certAt == nil:
		p.errorf(v, join(path, "cert"), "missing; want %s, or the path of a PEM certificate with key:", oneOf(certKinds))
		req.bad = true
	case req.kind != "" && req.keyAt != nil:
		p.errorf(req.keyAt, join(path, "key"), "a %s certificate comes with its own key; key applies only to a certificate file", req.kind)
		req.bad = true
	case req.kind == "" && req.keyAt == nil:
		p.errorf(req.certAt, join(path, "cert"), "%q is not one of %s, so it is read as a file; then key: (the private key file) is required", req.cert, oneOf(certKinds))
		req.bad = true
	}
	return req
}

// certificate puts the requested certificate into cfg.
func (p *parser) certificate(path string, cfg *relay.Config, req *tlsRequest) {
	domain := cfg.TURN.Domain
	if req.kind == "" {
		cert, err := loadPair(p.relPath(req.cert), p.relPath(req.key))
		if err != nil {
			p.errorf(req.certAt, join(path, "cert"), "%v", err)
			return
		}
		if err := cert.Leaf.VerifyHostname(domain); err != nil {
			p.s.Warnings = append(p.s.Warnings, fmt.Sprintf("%s:%d: %s: does not cover turn.domain %q: %v", p.file, req.certAt.Line, join(path, "cert"), domain, err))
		}
		cfg.TURN.Certificate = cert
		return
	}
	if p.loader.CA == nil {
		ca, err := pki.NewCA("icelab scenarios CA")
		if err != nil {
			p.errorf(req.certAt, join(path, "cert"), "%v", err)
			return
		}
		p.loader.CA = ca
	}
	var (
		leaf *pki.Leaf
		err  error
	)
	switch req.kind {
	case "generated":
		leaf, err = p.loader.CA.Valid(domain)
	case "wrong-name":
		leaf, err = p.loader.CA.WrongName(domain)
	case "expired":
		leaf, err = p.loader.CA.Expired(domain, certEpoch)
	case "missing-intermediate":
		// Issued by an intermediate, served without it: the chain stops at
		// the leaf.
		var inter *pki.CA
		if inter, err = p.loader.CA.Intermediate("icelab intermediate CA"); err == nil {
			if leaf, err = inter.Valid(domain); err == nil {
				leaf = leaf.LeafOnly()
			}
		}
	}
	if err != nil {
		p.errorf(req.certAt, join(path, "cert"), "%v", err)
		return
	}
	cert := leaf.Certificate
	cfg.TURN.Certificate = &cert
}

// loadPair reads a PEM certificate and key, boundedly.
func loadPair(certPath, keyPath string) (*tls.Certificate, error) {
	certPEM, err := readFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", certPath, err)
	}
	keyPEM, err := readFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", keyPath, err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certificate %s with key %s: %w", certPath, keyPath, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", certPath, err)
	}
	pair.Leaf = leaf
	return &pair, nil
}

// inlineConfig parses node.config, a livekit.yaml written inside the
// scenario. The relay's parser reads the config's own lines of the
// scenario file (everything else blanked, indentation removed), so its
// issues carry the scenario file's line numbers.
func (p *parser) inlineConfig(path string, v *yaml.Node, req *tlsRequest) (relay.Config, bool) {
	if isNull(v) {
		cfg := defaultNodeConfig()
		cfg.Source = p.file
		return cfg, true
	}
	if v.Kind != yaml.MappingNode {
		p.errorf(v, path, "want the livekit.yaml keys (turn:, rtc:, keys:) as a mapping, got %s", describe(v))
		return relay.Config{}, false
	}
	text := extract(p.data, v)
	var check yaml.Node
	if err := yaml.Unmarshal(text, &check); err != nil || len(check.Content) == 0 || resolve(check.Content[0]).Kind != yaml.MappingNode {
		// A layout extract cannot cut out (such as a multi-line flow
		// mapping): re-encode, and locate issues at the config's line.
		re, err := yaml.Marshal(v)
		if err != nil {
			p.errorf(v, path, "cannot re-encode: %v", err)
			return relay.Config{}, false
		}
		return p.liveKit(path, p.file, re, v.Line, req)
	}
	return p.liveKit(path, p.file, text, 0, req)
}

// configFile parses node.config_file, a livekit.yaml beside the scenario.
func (p *parser) configFile(path string, v *yaml.Node, req *tlsRequest) (relay.Config, bool) {
	var name string
	if !p.str(v, path, &name) {
		return relay.Config{}, false
	}
	file := p.relPath(name)
	data, err := readFile(file)
	if err != nil {
		p.errorf(v, path, "cannot read %s: %v", file, unwrapPathErr(err))
		return relay.Config{}, false
	}
	return p.liveKit("", file, data, 0, req)
}

// liveKit runs the relay's livekit.yaml parser on text, which is file's
// (or, with atLine > 0, a re-encoding whose issues are reported at
// atLine), and reports its issues under the field prefix.
func (p *parser) liveKit(prefix, file string, text []byte, atLine int, req *tlsRequest) (relay.Config, bool) {
	var root yaml.Node
	if err := yaml.Unmarshal(text, &root); err == nil && len(root.Content) > 0 {
		if tn, ok := p.tlsPortWithoutCert(prefix, file, resolve(root.Content[0]), req); ok {
			text = neutralise(text, tn)
			cfg, ok := p.runParser(prefix, file, text, atLine)
			if ok {
				port, _ := strconv.Atoi(tn.Value)
				cfg.TURN.TLSPort = port
				if port == cfg.TURN.UDPPort {
					p.errorf(tn, join(prefix, "turn.tls_port"), "%d is also udp_port, where TURN/TCP listens", port)
					return cfg, false
				}
			}
			return cfg, ok
		}
	}
	return p.runParser(prefix, file, text, atLine)
}

// tlsPortWithoutCert finds turn.tls_port in a config whose certificate
// comes from node.tls rather than cert_file: the relay's parser would
// reject a tls_port without cert_file. It reports the plain integer node
// to neutralise.
func (p *parser) tlsPortWithoutCert(prefix, file string, root *yaml.Node, req *tlsRequest) (*yaml.Node, bool) {
	turn, ok := fieldNode(root, "turn")
	if !ok {
		return nil, false
	}
	certFile, hasCert := fieldNode(turn, "cert_file")
	_, hasKey := fieldNode(turn, "key_file")
	if req.requested && (hasCert || hasKey) {
		at := certFile
		if at == nil {
			at = req.at
		}
		p.errorf(req.at, "node.tls", "the livekit.yaml (%s:%d) already sets turn.cert_file/key_file; use one or the other", file, lineOf(at))
		req.bad = true
		return nil, false
	}
	if !req.requested || req.bad {
		return nil, false
	}
	if ext, ok := fieldNode(turn, "external_tls"); ok && ext.Kind == yaml.ScalarNode && ext.Value == "true" {
		return nil, false
	}
	tn, ok := fieldNode(turn, "tls_port")
	if !ok || tn.Kind != yaml.ScalarNode || tn.Tag != "!!int" || tn.Style != 0 {
		return nil, false
	}
	if v, err := strconv.Atoi(tn.Value); err != nil || v <= 0 || v > 65535 {
		return nil, false
	}
	return tn, true
}

// neutralise replaces the integer scalar n in text with 0 padded to the
// same width, so that line and column numbers stay the same.
func neutralise(text []byte, n *yaml.Node) []byte {
	lines := bytes.SplitAfter(text, []byte("\n"))
	if n.Line < 1 || n.Line > len(lines) {
		return text
	}
	ln := lines[n.Line-1]
	col := n.Column - 1
	if col < 0 || col+len(n.Value) > len(ln) || string(ln[col:col+len(n.Value)]) != n.Value {
		return text
	}
	out := slices.Clone(ln)
	copy(out[col:], "0"+strings.Repeat(" ", len(n.Value)-1))
	lines[n.Line-1] = out
	return bytes.Join(lines, nil)
}

// runParser calls relay.ParseConfig and turns its issues into located
// errors and warnings.
func (p *parser) runParser(prefix, file string, text []byte, atLine int) (relay.Config, bool) {
	cfg, warns, err := relay.ParseConfig(file, text)
	located := func(is *relay.ConfigIssue) (int, string) {
		line := is.Line
		if atLine > 0 {
			line = atLine
		}
		return line, join(prefix, is.Key)
	}
	other := file != p.file
	report := func(is *relay.ConfigIssue, msg string) {
		line, key := located(is)
		e := &Error{File: p.file, Line: line, Field: key, Msg: msg}
		if other {
			e.File, e.Field = file, is.Key
		}
		if len(p.errs) < maxErrors {
			p.errs = append(p.errs, e)
		}
	}
	ok := err == nil
	for _, e := range joined(err) {
		var is *relay.ConfigIssue
		if errors.As(e, &is) {
			report(is, is.Msg)
		} else {
			p.errorf(nil, prefix, "%v", e)
		}
	}
	for _, w := range warns {
		// Unknown keys are typos until proven otherwise: in a scenario,
		// they must not pass silently.
		if w.Msg == "unknown key, ignored" {
			report(w, "unknown key (a typo?); the relay would ignore it")
			ok = false
			continue
		}
		if w.Key == "rtc.use_external_ip" && strings.Contains(w.Msg, "without rtc.node_ip") {
			continue // the harness gives the relay the node's external address
		}
		line, key := located(w)
		where := fmt.Sprintf("%s:%d: %s", p.file, line, key)
		if other {
			where = fmt.Sprintf("%s:%d: %s", file, w.Line, w.Key)
		}
		p.s.Warnings = append(p.s.Warnings, where+": "+w.Msg)
	}
	return cfg, ok
}

func joined(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// extract returns data with every line outside node v blanked and v's
// indentation removed, so that v parses as a document of its own with the
// same line numbers.
func extract(data []byte, v *yaml.Node) []byte {
	lines := bytes.SplitAfter(data, []byte("\n"))
	first, col := v.Line, v.Column-1
	last := maxLine(v)
	// Continuation lines (block scalars, comments) indented at least as
	// deep as v belong to it too.
	for last < len(lines) {
		next := lines[last]
		trimmed := bytes.TrimLeft(next, " ")
		if len(bytes.TrimSpace(trimmed)) != 0 && len(next)-len(trimmed) < col && trimmed[0] != '#' {
			break
		}
		last++
	}
	var b bytes.Buffer
	for i, ln := range lines {
		n := i + 1
		nl := bytes.HasSuffix(ln, []byte("\n"))
		switch {
		case n < first || n > last:
		case n == first:
			if col <= len(ln) {
				b.Write(bytes.TrimRight(ln[col:], "\r\n"))
			}
		default:
			strip := 0
			for strip < col && strip < len(ln) && ln[strip] == ' ' {
				strip++
			}
			b.Write(bytes.TrimRight(ln[strip:], "\r\n"))
		}
		if nl {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

func maxLine(n *yaml.Node) int {
	m := n.Line
	for _, c := range n.Content {
		if c != nil {
			m = max(m, maxLine(c))
		}
	}
	return m
}

// unwrapPathErr drops the *os.PathError wrapper whose path the message
// already names.
func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// ipv4 reads a host's IPv4 address (a node's, a server's, a proxy's addr).
func (p *parser) ipv4(path string, v *yaml.Node) (netip.Addr, bool) {
	var s string
	if !p.str(v, path, &s) {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		p.errorf(v, path, "%q is not an IPv4 address", s)
		return netip.Addr{}, false
	}
	return a, true
}
