package scenarios

import (
	"net/netip"
	"slices"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/vnet"
	"github.com/pion/webrtc/v4"
	"go.yaml.in/yaml/v3"
)

// internet6Hosts is the part of the internet's IPv6 space its own hosts
// take; a LAN's IPv6 prefix may not overlap it.
var internet6Hosts = netip.MustParsePrefix("2001:db8::/64")

// lanIPv6Fields are the IPv6 fields of a LAN: ipv6 (true, or the LAN's
// IPv6 prefix), ipv6_only and nat64.
func (p *parser) lanIPv6Fields(l *harness.LANSpec) map[string]field {
	return map[string]field{
		"ipv6": func(path string, v *yaml.Node) {
			if v.Kind == yaml.ScalarNode && (v.Value == "true" || v.Value == "false") {
				p.boolean(v, path, &l.IPv6)
				return
			}
			pf, ok := p.prefix(path, v)
			if !ok {
				return
			}
			switch {
			case !pf.Addr().Is6() || pf.Addr().Is4In6():
				p.errorf(v, path, "%s: want true or an IPv6 prefix such as 2001:db8:10::/64", pf)
			case pf.Bits() > 120:
				p.errorf(v, path, "%s: too small; want /120 or wider (a LAN gets a /64)", pf)
			case pf.Overlaps(internet6Hosts):
				p.errorf(v, path, "%s overlaps the internet's own hosts %s", pf, internet6Hosts)
			default:
				l.IPv6, l.IPv6Prefix = true, pf
			}
		},
		"ipv6_only": func(path string, v *yaml.Node) { p.boolean(v, path, &l.IPv6Only) },
		"nat64":     func(path string, v *yaml.Node) { p.boolean(v, path, &l.NAT64) },
	}
}

// checkLANIPv6 rejects what vnet would refuse at run time: a NAT64
// translates with NAPT, so not behind a one-to-one NAT; and an IPv6-only
// LAN with a NAT but no NAT64 has nothing to translate.
func (p *parser) checkLANIPv6(path string, v *yaml.Node, l harness.LANSpec) {
	if mtuAt, ok := fieldNode(v, "mtu"); ok && (l.IPv6 || l.IPv6Only || l.NAT64 || l.IPv6Prefix.IsValid()) && l.MTU.Size > 0 && l.MTU.Size < 1280 {
		p.errorf(mtuAt, join(path, "mtu"), "MTU %d is below 1280, IPv6's minimum link MTU (RFC 8200 section 5), and the LAN carries IPv6", l.MTU.Size)
	}
	natAt, hasNAT := fieldNode(v, "nat")
	if !hasNAT {
		return
	}
	switch {
	case l.NAT64 && l.NAT.Mode == vnet.OneToOne:
		p.errorf(natAt, join(path, "nat"), "a NAT64 translates many IPv6 hosts to one IPv4 address: want a NAPT preset (its mapping and filtering apply), not one-to-one")
	case l.IPv6Only && !l.NAT64 && l.NAT.Mode != vnet.NoNAT:
		p.errorf(natAt, join(path, "nat"), "an IPv6-only LAN has no IPv4 to translate; drop nat, or add nat64: true to translate to IPv4")
	}
}

// nodeIPv6Fields are the IPv6 fields of the node: ipv6 and turn_by_name.
func (p *parser) nodeIPv6Fields(n *harness.NodeSpec, ipv6At **yaml.Node) map[string]field {
	return map[string]field{
		"ipv6": func(path string, v *yaml.Node) {
			if p.boolean(v, path, &n.IPv6) {
				*ipv6At = v
			}
		},
		"turn_by_name": func(path string, v *yaml.Node) { p.boolean(v, path, &n.TURNByName) },
	}
}

// checkNodeIPv6 rejects ipv6: true for a node on a LAN that carries no
// IPv6 (on a LAN that does, the node gets an IPv6 address anyway), and
// beside single_port, whose one UDP socket is IPv4: the node would gather
// no IPv6 candidate.
func (p *parser) checkNodeIPv6(path string, at *yaml.Node, n harness.NodeSpec) {
	if at == nil || !n.IPv6 {
		return
	}
	switch {
	case n.LAN != "" && !p.carriesIPv6(n.LAN):
		p.errorf(at, join(path, "ipv6"), "LAN %s carries no IPv6; give the LAN ipv6: true", n.LAN)
	case n.SinglePort != 0:
		p.errorf(at, join(path, "ipv6"), "single_port muxes media on one IPv4 socket, so the node would gather no IPv6 candidate; drop one of them")
	}
}

// carriesIPv6 reports whether a LAN gives its hosts IPv6 addresses.
func (p *parser) carriesIPv6(lan string) bool {
	for _, l := range p.s.Spec.LANs {
		if l.Name == lan {
			return l.CarriesIPv6()
		}
	}
	return false
}

// checkClientFamilies accepts udp6 in a client's network types only where
// its network carries IPv6, and rejects tcp6: pion dials ICE-TCP through
// the operating system, which the harness bridges over IPv4 loopback only.
func (p *parser) checkClientFamilies(path string, typesAt *yaml.Node, c harness.ClientSpec) {
	if typesAt == nil || typesAt.Kind != yaml.SequenceNode {
		return
	}
	for i, item := range typesAt.Content {
		at := index(join(path, "network_types"), i)
		switch {
		case item.Value == "tcp6":
			p.errorf(item, at, "tcp6: ICE-TCP over IPv6 is not modelled (pion dials ICE-TCP through the operating system, bridged over IPv4 loopback); want udp4, udp6 or tcp4")
		case item.Value == "udp6" && c.LAN == "":
			p.errorf(item, at, "udp6: client %s is on the internet, whose hosts have no IPv6 here; put it on a LAN with ipv6: true", c.Name)
		case item.Value == "udp6" && !p.carriesIPv6(c.LAN):
			p.errorf(item, at, "udp6: LAN %s carries no IPv6; give it ipv6: true (or ipv6_only / nat64)", c.LAN)
		}
	}
}

// checkIPv6Parents rejects a LAN that carries IPv6 below one that does
// not: its router would have no IPv6 upstream.
func (p *parser) checkIPv6Parents(lansNode *yaml.Node) {
	byName := map[string]harness.LANSpec{}
	for _, l := range p.s.Spec.LANs {
		byName[l.Name] = l
	}
	seq := resolve(lansNode)
	for i, l := range p.s.Spec.LANs {
		parent, ok := byName[l.Parent]
		if l.Parent == "" || !ok || !l.CarriesIPv6() || parent.CarriesIPv6() {
			continue
		}
		idx := lanIndex(lansNode, l.Name, i)
		path, at := index("network.lans", idx), lansNode
		if seq != nil && seq.Kind == yaml.SequenceNode && idx < len(seq.Content) {
			at = seq.Content[idx]
			for _, key := range []string{"ipv6", "ipv6_only", "nat64"} {
				if v, has := fieldNode(at, key); has {
					path, at = join(path, key), v
					break
				}
			}
		}
		p.errorf(at, path, "LAN %s carries IPv6 but its parent %s does not, so its router has no IPv6 upstream; give %s ipv6: true", l.Name, l.Parent, l.Parent)
	}
}

// profileIPv6 adds udp6 to a profile's network types for a client whose
// LAN carries IPv6: browsers and pion gather on every address family the
// host has (pion's own default is all network types), so a profile on an
// IPv6 network gathers IPv6 too.
func (p *parser) profileIPv6(c harness.ClientSpec) []webrtc.NetworkType {
	types := c.NetworkTypes
	if c.LAN == "" || !p.carriesIPv6(c.LAN) || slices.Contains(types, webrtc.NetworkTypeUDP6) {
		return types
	}
	return append(slices.Clone(types), webrtc.NetworkTypeUDP6)
}
