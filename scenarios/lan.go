package scenarios

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/vnet"
	"go.yaml.in/yaml/v3"
)

// network reads network: {lans, dns}.
func (p *parser) network(path string, v *yaml.Node) {
	var lansNode, proxies *yaml.Node
	p.fields(v, path, map[string]field{
		"lans": func(path string, v *yaml.Node) {
			lansNode = v
			p.lansNode = v
			p.list(v, path, func(path string, _ int, v *yaml.Node) { p.lan(path, v) })
		},
		"dns":     func(path string, v *yaml.Node) { p.dns(path, v) },
		"proxies": func(_ string, v *yaml.Node) { proxies = v },
	})
	p.checkParents(lansNode)
	p.checkIPv6Parents(lansNode) // in ipv6.go
	if proxies != nil {
		p.proxyList(join(path, "proxies"), proxies)
	}
}

func (p *parser) lan(path string, v *yaml.Node) {
	var (
		l      harness.LANSpec
		parent *yaml.Node
		named  bool
	)
	handlers := p.lanIPv6Fields(&l) // in ipv6.go
	for k, h := range map[string]field{
		"name": func(path string, v *yaml.Node) {
			name, ok := p.hostName(v, path)
			if !ok {
				return
			}
			if name == "internet" {
				p.errorf(v, path, `"internet" is where LANs hang off; choose another name`)
				return
			}
			if _, dup := p.lans[name]; dup {
				p.errorf(v, path, "LAN %q is defined twice (first at line %d)", name, p.lans[name].Line)
				return
			}
			l.Name, named = name, true
			p.lans[name] = v
		},
		"parent": func(path string, v *yaml.Node) {
			if p.str(v, path, &l.Parent) {
				parent = v
			}
		},
		"nat": func(path string, v *yaml.Node) { l.NAT = p.nat(path, v) },
		"prefix": func(path string, v *yaml.Node) {
			if pf, ok := p.prefix(path, v); ok {
				if !pf.Addr().Is4() || pf.Bits() > 30 {
					p.errorf(v, path, "%s: want an IPv4 prefix of /30 or wider", pf)
					return
				}
				l.LANPrefix = pf
				p.prefixNodes[l.Name] = v
			}
		},
		"firewall": func(path string, v *yaml.Node) { l.Firewall = p.rules(path, v) },
		"link":     func(path string, v *yaml.Node) { l.Uplink = p.impairment(path, v) },
		"mtu":      func(path string, v *yaml.Node) { l.MTU = p.mtu(path, v) },
	} {
		handlers[k] = h
	}
	ok := p.fields(v, path, handlers)
	if !ok {
		return
	}
	p.checkLANIPv6(path, v, l)
	if !named {
		if _, hasName := fieldNode(v, "name"); !hasName {
			p.errorf(v, join(path, "name"), "missing; every LAN needs a name")
		}
		return
	}
	if l.Parent == "internet" {
		l.Parent = ""
	}
	p.s.Spec.LANs = append(p.s.Spec.LANs, l)
	p.s.place(v, path, "lan "+l.Name)
	if parent != nil {
		p.parentNodes[l.Name] = parent
	}
}

// checkParents reports parents that are not defined and parent cycles, and
// orders the LANs parents first.
func (p *parser) checkParents(lansNode *yaml.Node) {
	lans := p.s.Spec.LANs
	byName := map[string]harness.LANSpec{}
	for _, l := range lans {
		byName[l.Name] = l
	}
	bad := map[string]bool{}
	for i, l := range lans {
		if l.Parent == "" {
			continue
		}
		at := p.parentNodes[l.Name]
		path := join(index("network.lans", lanIndex(lansNode, l.Name, i)), "parent")
		if l.Parent == l.Name {
			p.errorf(at, path, "LAN %q cannot be its own parent", l.Name)
			bad[l.Name] = true
			continue
		}
		if _, ok := byName[l.Parent]; !ok {
			p.errorf(at, path, "unknown LAN %q; want internet or one of: %s", l.Parent, oneOf(mapKeys(byName)))
			bad[l.Name] = true
			continue
		}
		// Follow the chain; a chain longer than the LAN count is a cycle.
		chain := []string{l.Name}
		for cur := l.Parent; cur != ""; cur = byName[cur].Parent {
			chain = append(chain, cur)
			if cur == l.Name || len(chain) > len(lans)+1 {
				p.errorf(at, path, "parent cycle: %s", strings.Join(chain, " -> "))
				bad[l.Name] = true
				break
			}
		}
	}
	if len(bad) > 0 {
		return
	}
	// Parents first: a stable sort by depth.
	depth := func(name string) int {
		d := 0
		for cur := byName[name].Parent; cur != "" && d <= len(lans); cur = byName[cur].Parent {
			d++
		}
		return d
	}
	slices.SortStableFunc(p.s.Spec.LANs, func(a, b harness.LANSpec) int { return depth(a.Name) - depth(b.Name) })
}

// lanIndex finds the list index of the LAN named name, for error paths.
func lanIndex(lansNode *yaml.Node, name string, fallback int) int {
	lansNode = resolve(lansNode)
	if lansNode == nil || lansNode.Kind != yaml.SequenceNode {
		return fallback
	}
	for i, item := range lansNode.Content {
		if n, ok := fieldNode(resolve(item), "name"); ok && n.Value == name {
			return i
		}
	}
	return fallback
}

// fieldNode returns the value of key in mapping n.
func fieldNode(n *yaml.Node, key string) (*yaml.Node, bool) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := resolve(n.Content[i]); k != nil && k.Kind == yaml.ScalarNode && k.Value == key {
			return resolve(n.Content[i+1]), true
		}
	}
	return nil, false
}

// dns reads name: address pairs; a null or "none" address means the name
// does not resolve.
func (p *parser) dns(path string, v *yaml.Node) {
	p.pairs(v, path, func(name string, k, v *yaml.Node) {
		fp := join(path, name)
		if name == "" || strings.ContainsAny(name, " /\t") {
			p.errorf(k, fp, "%q is not a domain name", name)
			return
		}
		if p.s.Spec.Names == nil {
			p.s.Spec.Names = map[string]string{}
		}
		if isNull(v) || (v.Kind == yaml.ScalarNode && v.Value == "none") {
			p.s.Spec.Names[name] = Unresolvable
			return
		}
		var addr string
		if !p.str(v, fp, &addr) {
			return
		}
		a, err := netip.ParseAddr(addr)
		if err != nil || a.Zone() != "" || a.Is4In6() {
			p.errorf(v, fp, "%q is not an IP address; want an address like 203.0.113.10 (an A record) or 2001:db8::10 (AAAA), or none for a name that does not resolve", addr)
			return
		}
		p.s.Spec.Names[name] = a.String()
	})
}

// Unresolvable is the harness.Spec.Names value of a name that must not
// resolve (network.dns: {name: none}).
const Unresolvable = ""

var natPresets = []string{"none", "full-cone", "address-restricted", "port-restricted", "symmetric", "carrier-grade", "one-to-one", "linux-masquerade"}

var behaviors = []string{"endpoint-independent", "address-dependent", "address-and-port-dependent"}

// natPreset returns the named preset; "" is a NAPT that is
// endpoint-independent unless told otherwise.
func natPreset(name string) vnet.NAT {
	switch name {
	case "none":
		return vnet.NAT{}
	case "full-cone":
		return vnet.FullCone()
	case "address-restricted":
		return vnet.AddressRestricted()
	case "port-restricted":
		return vnet.PortRestricted()
	case "symmetric":
		return vnet.Symmetric()
	case "carrier-grade":
		return vnet.CarrierGrade()
	case "one-to-one":
		return vnet.CloudOneToOne()
	case "linux-masquerade":
		return vnet.LinuxMasquerade()
	}
	return vnet.NAT{Mode: vnet.NAPT}
}

// nat reads a NAT preset name or a mapping {preset, mapping, filtering,
// hairpinning, port_preservation, mapping_lifetime, inbound_refresh, ports}
// whose explicit fields change the preset.
func (p *parser) nat(path string, v *yaml.Node) vnet.NAT {
	if v.Kind == yaml.ScalarNode {
		var preset string
		p.enum(v, path, "NAT preset", natPresets, &preset)
		return natPreset(preset)
	}
	var (
		preset                     string
		mapping, filtering         *vnet.Behavior
		hairpin, preserve, refresh *bool
		inputDrop                  *bool
		inputDropAt                *yaml.Node
		lifetime, tcpEst, tcpTrans time.Duration
		ports                      vnet.PortRange
		block                      *uint16
		forwards                   []vnet.Forward
		napt                       []*yaml.Node // fields that only a NAPT has
	)
	behavior := func(dst **vnet.Behavior) field {
		return func(path string, v *yaml.Node) {
			napt = append(napt, v)
			var s string
			if p.enum(v, path, "behaviour", behaviors, &s) {
				b := vnet.Behavior(slices.Index(behaviors, s))
				*dst = &b
			}
		}
	}
	flag := func(dst **bool) field {
		return func(path string, v *yaml.Node) {
			napt = append(napt, v)
			var b bool
			if p.boolean(v, path, &b) {
				*dst = &b
			}
		}
	}
	p.fields(v, path, map[string]field{
		"preset":            func(path string, v *yaml.Node) { p.enum(v, path, "NAT preset", natPresets, &preset) },
		"mapping":           behavior(&mapping),
		"filtering":         behavior(&filtering),
		"hairpinning":       flag(&hairpin),
		"port_preservation": flag(&preserve),
		"inbound_refresh":   flag(&refresh),
		"wan_input_drop": func(path string, v *yaml.Node) {
			inputDropAt = v
			flag(&inputDrop)(path, v)
		},
		"mapping_lifetime": func(path string, v *yaml.Node) {
			napt = append(napt, v)
			p.duration(v, path, false, &lifetime)
		},
		"tcp_established_lifetime": func(path string, v *yaml.Node) {
			napt = append(napt, v)
			p.duration(v, path, false, &tcpEst)
		},
		"tcp_transitory_lifetime": func(path string, v *yaml.Node) {
			napt = append(napt, v)
			p.duration(v, path, false, &tcpTrans)
		},
		"ports": func(path string, v *yaml.Node) {
			napt = append(napt, v)
			ports, _ = p.portRange(v, path)
		},
		"port_block": func(path string, v *yaml.Node) {
			napt = append(napt, v)
			var n int64
			if p.integer(v, path, 0, 65535, &n) {
				b := uint16(n)
				block = &b
			}
		},
		"forwards": func(path string, v *yaml.Node) {
			napt = append(napt, v)
			p.list(v, path, func(path string, _ int, v *yaml.Node) {
				if f, ok := p.forward(path, v); ok {
					forwards = append(forwards, f)
				}
			})
		},
	})
	n := natPreset(preset)
	if n.Mode != vnet.NAPT && len(napt) > 0 {
		p.errorf(napt[0], join(path, "preset"), "%s has no port translation to configure; use a NAPT preset (full-cone, address-restricted, port-restricted, symmetric, carrier-grade, linux-masquerade)", preset)
		return n
	}
	if inputDrop != nil {
		n.ConntrackClash = !*inputDrop
	}
	if mapping != nil {
		n.Mapping = *mapping
	}
	if filtering != nil {
		n.Filtering = *filtering
	}
	if hairpin != nil {
		n.Hairpinning = *hairpin
	}
	if block != nil {
		n.PortBlock = *block
	}
	if preserve != nil {
		n.PortPreservation = *preserve
	}
	if refresh != nil {
		n.InboundRefresh = *refresh
	}
	if tcpEst > 0 {
		n.TCPEstablishedLifetime = tcpEst
	}
	if tcpTrans > 0 {
		n.TCPTransitoryLifetime = tcpTrans
	}
	if lifetime > 0 {
		n.MappingLifetime = lifetime
	}
	n.PortMin, n.PortMax = ports.Min, ports.Max
	n.Forwards = append(n.Forwards, forwards...)
	if n.ConntrackClash && n.Mapping != vnet.EndpointIndependent {
		at := inputDropAt
		if at == nil {
			at = v
		}
		p.errorf(at, join(path, "wan_input_drop"), "conntrack's port reallocation (wan_input_drop: false) needs endpoint-independent mapping")
	}
	return n
}

// forward reads a static port forward {proto, port, to: ADDR[:PORT]}.
func (p *parser) forward(path string, v *yaml.Node) (vnet.Forward, bool) {
	var (
		f     vnet.Forward
		to    string
		toAt  *yaml.Node
		proto string
	)
	ok := p.fields(v, path, map[string]field{
		"proto": func(path string, v *yaml.Node) { p.enum(v, path, "protocol", []string{"udp", "tcp"}, &proto) },
		"port":  func(path string, v *yaml.Node) { p.port(v, path, &f.ExternalPort) },
		"to": func(path string, v *yaml.Node) {
			if p.str(v, path, &to) {
				toAt = v
			}
		},
	})
	if !ok {
		return f, false
	}
	for _, req := range []struct {
		key string
		set bool
	}{{"proto", proto != ""}, {"port", f.ExternalPort != 0}, {"to", toAt != nil}} {
		if !req.set {
			if _, has := fieldNode(v, req.key); !has {
				p.errorf(v, join(path, req.key), "missing; a forward needs proto, port and to (the internal ADDRESS or ADDRESS:PORT)")
			}
			return f, false
		}
	}
	f.Proto = map[string]vnet.Proto{"udp": vnet.UDP, "tcp": vnet.TCP}[proto]
	if ap, err := netip.ParseAddrPort(to); err == nil && ap.Port() != 0 && ap.Addr().Is4() {
		f.Internal = ap
	} else if a, err := netip.ParseAddr(to); err == nil && a.Is4() {
		f.Internal = netip.AddrPortFrom(a, f.ExternalPort)
	} else {
		p.errorf(toAt, join(path, "to"), "%q is not an internal IPv4 ADDRESS or ADDRESS:PORT", to)
		return f, false
	}
	return f, true
}
