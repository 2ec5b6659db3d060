package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/relay"
	"github.com/icelab/icelab/relay/pki"
	"go.yaml.in/yaml/v3"
)

// maxFile bounds the files an audit reads.
const maxFile = 1 << 20

// certEpoch is before the start of a testing/synctest bubble's clock
// (2000-01-01 UTC): a test certificate that expired before it is expired on
// the fake clock and on the real one.
var certEpoch = time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)

// Options say where a deployment's other parts are.
type Options struct {
	// CA signs the test certificates the audit stands in for the
	// deployment's own; it must be the authority the process trusts
	// (pki.TrustForProcess), because pion verifies TURN/TLS against the
	// system roots.
	CA *pki.CA
	// Firewall is the node firewall file; "" means the node takes every
	// port on a public address.
	Firewall string
	// LoadBalancerPort puts a layer-4 load balancer that terminates TLS on
	// this port in front of the node, forwarding to turn.tls_port. Zero
	// means one on turn.tls_port itself when turn.external_tls is true
	// (LiveKit's config-sample.yaml: external_tls is set when a load
	// balancer terminates TURN/TLS), none otherwise. LiveKit hands clients
	// turns:DOMAIN:443 whatever tls_port is, so an operator whose load
	// balancer listens on 443 says so here (icelab audit
	// --load-balancer-port 443); the file alone does not tell.
	LoadBalancerPort int
	// Now is when certificates are checked; zero means time.Now().
	Now time.Time
}

// Deployment is what an audit runs against: the node's configuration,
// its firewall and its load balancer, with the certificate checked.
type Deployment struct {
	// Source is the livekit.yaml's path.
	Source string
	// Config is the configuration the cells run with. Its certificate is a
	// test certificate standing in for the deployment's (with the same
	// defect, if the deployment's has one), because the process trusts
	// only the test authority.
	Config relay.Config
	// TLSProblem says what is wrong with TURN/TLS ("" when nothing is):
	// a missing, expired, misnamed or incomplete certificate.
	TLSProblem string
	// fixed is Config with a valid test certificate, for telling which
	// failing cells depend on TLS.
	fixed *relay.Config
	// Firewall is the node's inbound firewall; nil means none.
	Firewall *NodeFirewall
	// LoadBalancer is the load balancer in front of the node, or nil.
	LoadBalancer *harness.LoadBalancerSpec
	// Notes say what the audit assumed, for the reader of the matrix.
	Notes []string
	// Warnings are the relay parser's warnings, located.
	Warnings []string
}

// LoadDeployment reads the livekit.yaml at path and the parts o names.
// Problems in the files come back as *relay.ConfigIssue errors naming
// file, line and key, joined.
func LoadDeployment(path string, o Options) (*Deployment, error) {
	if o.CA == nil {
		return nil, errors.New("audit: options: a certificate authority is required")
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	data, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	d := &Deployment{Source: path}
	text, turn, err := prepare(path, data)
	if err != nil {
		return nil, err
	}
	cfg, warns, err := relay.ParseConfig(path, text)
	if err != nil {
		return nil, err
	}
	for _, w := range warns {
		if w.Key == "rtc.use_external_ip" {
			continue // the harness gives the node its external address
		}
		d.Warnings = append(d.Warnings, w.Error())
	}
	if turn.tlsPort > 0 {
		cfg.TURN.TLSPort = turn.tlsPort
	}
	if turn.udpOff {
		cfg.TURN.UDPPort = 0
	}
	d.Config = cfg
	if err := d.certificate(path, turn, o); err != nil {
		return nil, err
	}
	if o.Firewall != "" {
		if d.Firewall, err = LoadFirewall(o.Firewall); err != nil {
			return nil, err
		}
	}
	switch {
	case o.LoadBalancerPort > 0:
		d.LoadBalancer = &harness.LoadBalancerSpec{Port: o.LoadBalancerPort}
		d.Notes = append(d.Notes, fmt.Sprintf("a layer-4 load balancer on port %d, as the audit was told, terminates TURN/TLS and forwards it to turn.tls_port %d", o.LoadBalancerPort, cfg.TURN.TLSPort))
	case cfg.TURN.ExternalTLS:
		d.LoadBalancer = &harness.LoadBalancerSpec{Port: cfg.TURN.TLSPort}
		d.Notes = append(d.Notes, fmt.Sprintf("turn.external_tls: a layer-4 load balancer terminates TURN/TLS on port %d", cfg.TURN.TLSPort))
	}
	return d, nil
}

// turnKeys is what prepare found in the turn: block.
type turnKeys struct {
	certFile, keyFile string
	certLine          int
	tlsPort           int // set and neutralised, or 0
	tlsLine           int
	absent            bool // cert_file named a file that is not on this machine
	udpOff            bool // udp_port: 0 hidden from the parser, see prepare
}

// prepare finds turn.cert_file and turn.tls_port before the relay's parser
// sees them: a certificate file that is not on this machine (a production
// path such as /etc/livekit/turn.crt) and a tls_port without a certificate
// are what an audit is for, not errors. Both are blanked in place, so the
// parser's line numbers stay right.
func prepare(path string, data []byte) ([]byte, turnKeys, error) {
	var tk turnKeys
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return data, tk, nil // the relay's parser reports it
	}
	turn := field(doc.Content[0], "turn")
	if turn == nil || turn.Kind != yaml.MappingNode {
		return data, tk, nil
	}
	certN, keyN := field(turn, "cert_file"), field(turn, "key_file")
	tlsN, extN := field(turn, "tls_port"), field(turn, "external_tls")
	external := extN != nil && extN.Value == "true"
	text := data
	blank := func(n *yaml.Node, key, with string) error {
		out, ok := replaceScalar(text, n, with)
		if !ok {
			return &relay.ConfigIssue{File: path, Line: n.Line, Key: key, Msg: "write the value on one line, as a plain or quoted scalar"}
		}
		text = out
		return nil
	}
	if certN != nil && keyN != nil && certN.Kind == yaml.ScalarNode && keyN.Kind == yaml.ScalarNode && certN.Value != "" {
		tk.certFile, tk.keyFile, tk.certLine = resolve(path, certN.Value), resolve(path, keyN.Value), certN.Line
		if _, err := os.Stat(tk.certFile); errors.Is(err, os.ErrNotExist) {
			tk.absent = true
			if err := blank(certN, "turn.cert_file", `""`); err != nil {
				return nil, tk, err
			}
			if err := blank(keyN, "turn.key_file", `""`); err != nil {
				return nil, tk, err
			}
		}
	}
	// udp_port: 0 with TURN/TLS served from a certificate the audit stands
	// in for: the parser, which no longer sees cert_file, would find no
	// TURN listener at all. It sees a placeholder port instead; LoadDeployment
	// puts the 0 back.
	if udpN := field(turn, "udp_port"); tk.absent && udpN != nil && udpN.Kind == yaml.ScalarNode && udpN.Value == "0" &&
		tlsN != nil && tlsN.Value != "0" {
		if err := blank(udpN, "turn.udp_port", "1"); err != nil {
			return nil, tk, err
		}
		tk.udpOff = true
	}
	noCert := tk.certFile == "" || tk.absent
	if tlsN != nil && noCert && !external && tlsN.Kind == yaml.ScalarNode && tlsN.Tag == "!!int" {
		if v, err := strconv.Atoi(tlsN.Value); err == nil && v > 0 && v <= 65535 {
			if err := blank(tlsN, "turn.tls_port", "0"); err != nil {
				return nil, tk, err
			}
			tk.tlsPort, tk.tlsLine = v, tlsN.Line
		}
	}
	return text, tk, nil
}

// certificate decides the certificate the cells run with and what is
// wrong with the deployment's.
func (d *Deployment) certificate(path string, tk turnKeys, o Options) error {
	t := &d.Config.TURN
	domain := t.Domain
	valid := func() (*relay.Config, error) {
		leaf, err := o.CA.Valid(domain)
		if err != nil {
			return nil, fmt.Errorf("audit: test certificate for %s: %w", domain, err)
		}
		c := d.Config
		c.TURN.Certificate = &leaf.Certificate
		return &c, nil
	}
	switch {
	case t.ExternalTLS:
		// The load balancer holds the certificate; livekit.yaml does not.
		c, err := valid()
		if err != nil {
			return err
		}
		d.Config.TURN.Certificate = c.TURN.Certificate
		d.Notes = append(d.Notes, fmt.Sprintf("the load balancer's certificate is not in %s: audited with a test certificate for %s", path, domain))
		return nil
	case tk.absent:
		c, err := valid()
		if err != nil {
			return err
		}
		d.Config = *c
		d.Notes = append(d.Notes, fmt.Sprintf("turn.cert_file %s is not on this machine: audited with a test certificate for %s", tk.certFile, domain))
		return nil
	case t.Certificate == nil && tk.tlsPort > 0:
		d.TLSProblem = fmt.Sprintf("turn.tls_port %d is set but turn.cert_file is not (%s:%d): no certificate, so no TURN/TLS", tk.tlsPort, path, tk.tlsLine)
		c, err := valid()
		if err != nil {
			return err
		}
		d.fixed = c
		return nil
	case t.Certificate == nil:
		return nil // no TLS configured: nothing to check
	}
	problem, kind := checkCertificate(t.Certificate.Certificate, domain, o.Now)
	var (
		leaf *pki.Leaf
		err  error
	)
	switch kind {
	case certValid:
		leaf, err = o.CA.Valid(domain)
	case certExpired:
		leaf, err = o.CA.Expired(domain, certEpoch)
	case certWrongName:
		leaf, err = o.CA.WrongName(domain)
	case certIncomplete:
		// A client without the missing intermediate cannot chain the leaf
		// to a root it trusts: a leaf from an authority nobody trusts
		// fails the same way ("certificate signed by unknown authority").
		var stray *pki.CA
		if stray, err = pki.NewCA("icelab audit: unreachable issuer"); err == nil {
			leaf, err = stray.Valid(domain)
		}
	}
	if err != nil {
		return fmt.Errorf("audit: test certificate for %s: %w", domain, err)
	}
	t.Certificate = &leaf.Certificate
	if problem == "" {
		d.Notes = append(d.Notes, fmt.Sprintf("turn.cert_file %s is valid for %s: audited with a test certificate like it", tk.certFile, domain))
		return nil
	}
	d.TLSProblem = fmt.Sprintf("turn.cert_file %s (%s:%d): %s", tk.certFile, path, tk.certLine, problem)
	if d.fixed, err = valid(); err != nil {
		return err
	}
	return nil
}

// field returns the value of key in mapping m, or nil.
func field(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// replaceScalar replaces the one-line scalar n in text with with, padded
// with spaces to the same width so that lines and columns stay the same.
func replaceScalar(text []byte, n *yaml.Node, with string) ([]byte, bool) {
	lines := bytes.SplitAfter(text, []byte("\n"))
	if n.Kind != yaml.ScalarNode || n.Line < 1 || n.Line > len(lines) {
		return nil, false
	}
	ln := lines[n.Line-1]
	col := n.Column - 1
	if col < 0 || col >= len(ln) {
		return nil, false
	}
	var width int
	switch n.Style {
	case 0:
		width = len(n.Value)
		if col+width > len(ln) || string(ln[col:col+width]) != n.Value {
			return nil, false
		}
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		q := ln[col]
		end := bytes.IndexByte(ln[col+1:], q)
		if end < 0 {
			return nil, false
		}
		width = end + 2
	default:
		return nil, false
	}
	if len(with) > width {
		return nil, false
	}
	out := append([]byte(nil), ln...)
	copy(out[col:], with+string(bytes.Repeat([]byte(" "), width-len(with))))
	lines[n.Line-1] = out
	return bytes.Join(lines, nil), true
}

func resolve(file, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(file), p)
}

// readFile reads a regular file of at most maxFile bytes.
func readFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFile {
		return nil, fmt.Errorf("larger than %d bytes", maxFile)
	}
	return data, nil
}
