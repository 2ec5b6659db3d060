package audit

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/relay"
	"github.com/icelab/icelab/vnet"
	"go.yaml.in/yaml/v3"
)

// NodeFirewall is the node's inbound firewall, a cloud security group: the
// ports and protocols it admits from the internet. It is stateful, as
// security groups and netfilter are: replies to what the node sends are
// let in, everything else inbound is dropped, and the node may send
// anywhere. A file reads
//
//	# LiveKit's "Ports and firewall" minimum
//	nat: one-to-one        # optional: the node is a VM behind 1:1 NAT
//	inbound:
//	  - tcp 443            # HTTPS + TURN/TLS
//	  - udp 3478           # TURN/UDP + STUN
//	  - udp 50000-60000    # RTC media
//
// Each entry is "PROTO PORT" or "PROTO LOW-HIGH", optionally starting
// with "allow", as cloud consoles and ufw write them.
type NodeFirewall struct {
	Source string
	// OneToOne puts the node behind a cloud's 1:1 NAT (a VM with a private
	// address and an elastic public one) instead of on a public address.
	OneToOne bool
	Inbound  []Allow
}

// Allow is one inbound entry.
type Allow struct {
	Proto vnet.Proto
	Ports vnet.PortRange
	Line  int
}

func (a Allow) String() string {
	p := "udp"
	if a.Proto == vnet.TCP {
		p = "tcp"
	}
	return p + " " + a.Ports.String()
}

// nodeLAN is the node's LAN when it has a firewall.
const nodeLAN = "node-net"

// publicNodeLAN is the routed public subnet of a node on a public address
// behind a firewall (RFC 5737 TEST-NET-2).
var publicNodeLAN = netip.MustParsePrefix("198.51.100.0/24")

// LoadFirewall reads a node firewall file. Problems come back as
// *relay.ConfigIssue errors naming file, line and key, joined.
func LoadFirewall(path string) (*NodeFirewall, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ParseFirewall(path, data)
}

// ParseFirewall parses a node firewall file; name is used in messages.
func ParseFirewall(name string, data []byte) (*NodeFirewall, error) {
	fw := &NodeFirewall{Source: name}
	var errs []error
	issue := func(n *yaml.Node, key, format string, args ...any) {
		line := 0
		if n != nil {
			line = n.Line
		}
		errs = append(errs, &relay.ConfigIssue{File: name, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &relay.ConfigIssue{File: name, Msg: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, &relay.ConfigIssue{File: name, Line: 1, Msg: "want a mapping with inbound: (and optionally nat:)"}
	}
	root := doc.Content[0]
	seenInbound := false
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "nat":
			switch v.Value {
			case "none", "":
			case "one-to-one", "1:1":
				fw.OneToOne = true
			default:
				issue(v, "nat", "%q is not a node NAT; want none or one-to-one", v.Value)
			}
		case "inbound":
			seenInbound = true
			if v.Kind != yaml.SequenceNode {
				issue(v, "inbound", "want a list of entries like \"tcp 443\" or \"udp 50000-60000\"")
				continue
			}
			for j, e := range v.Content {
				key := fmt.Sprintf("inbound[%d]", j)
				a, msg := parseAllow(e)
				if msg != "" {
					issue(e, key, "%s", msg)
					continue
				}
				fw.Inbound = append(fw.Inbound, a)
			}
		default:
			issue(k, k.Value, "unknown key (a typo?); want nat or inbound")
		}
	}
	if !seenInbound && len(errs) == 0 {
		issue(root, "inbound", "missing; list the ports the node admits, like \"tcp 443\"")
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return fw, nil
}

// parseAllow reads "tcp 443", "allow UDP 50000-60000".
func parseAllow(n *yaml.Node) (Allow, string) {
	a := Allow{Line: n.Line}
	if n.Kind != yaml.ScalarNode {
		return a, "want an entry like \"tcp 443\" or \"udp 50000-60000\""
	}
	f := strings.Fields(strings.ToLower(n.Value))
	if len(f) > 0 && f[0] == "allow" {
		f = f[1:]
	}
	if len(f) != 2 {
		return a, fmt.Sprintf("%q: want PROTO PORT, like \"tcp 443\" or \"udp 50000-60000\"", n.Value)
	}
	switch f[0] {
	case "tcp":
		a.Proto = vnet.TCP
	case "udp":
		a.Proto = vnet.UDP
	default:
		return a, fmt.Sprintf("%q: protocol %q; want tcp or udp", n.Value, f[0])
	}
	lo, hi, isRange := strings.Cut(f[1], "-")
	if !isRange {
		hi = lo
	}
	l, errL := strconv.ParseUint(lo, 10, 16)
	h, errH := strconv.ParseUint(hi, 10, 16)
	switch {
	case errL != nil || errH != nil:
		return a, fmt.Sprintf("%q: %q is not a port or a range like 50000-60000", n.Value, f[1])
	case l == 0 || h == 0:
		return a, fmt.Sprintf("%q: ports start at 1", n.Value)
	case l > h:
		return a, fmt.Sprintf("%q: range %s is reversed; want low-high", n.Value, f[1])
	}
	a.Ports = vnet.PortRange{Min: uint16(l), Max: uint16(h)}
	return a, ""
}

// lan returns the node's LAN: a routed public subnet or a 1:1 NAT, with
// the firewall's rules.
func (fw *NodeFirewall) lan() harness.LANSpec {
	l := harness.LANSpec{Name: nodeLAN, Firewall: fw.rules()}
	if fw.OneToOne {
		l.NAT = vnet.CloudOneToOne()
	} else {
		l.LANPrefix = publicNodeLAN
	}
	return l
}

// rules are the security group as ordered firewall rules.
func (fw *NodeFirewall) rules() []vnet.Rule {
	var rules []vnet.Rule
	for _, a := range fw.Inbound {
		rules = append(rules, vnet.Rule{Name: fmt.Sprintf("allow %s (%s:%d)", a, fw.Source, a.Line),
			Direction: vnet.Inbound, Proto: a.Proto, LocalPorts: a.Ports, Action: vnet.Accept})
	}
	return append(rules,
		vnet.Rule{Name: "replies", Direction: vnet.Inbound, State: vnet.StateEstablished, Action: vnet.Accept},
		vnet.Rule{Name: "not allowed in " + fw.Source, Direction: vnet.Inbound, Action: vnet.Drop},
	)
}
