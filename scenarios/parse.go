package scenarios

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/vnet"
	"github.com/pion/stun/v4"
	"github.com/pion/webrtc/v4"
	"go.yaml.in/yaml/v3"
)

// maxDuration bounds a scenario's duration: a scenario is a call, not a
// soak test.
const maxDuration = time.Hour

// defaultNodeName is the media node's host name when the file gives none.
const defaultNodeName = "media"

// parser turns a scenario document into a Scenario.
type parser struct {
	decoder
	loader *Loader
	data   []byte

	s *Scenario
	// lans and hosts are the declared names with the node that declared
	// them, for cross-references.
	lans    map[string]*yaml.Node
	clients map[string]*yaml.Node
	node    string
	// parentNodes locates each LAN's parent field.
	parentNodes map[string]*yaml.Node
}

// top holds the top-level fields, read first so that sections can refer
// to each other whatever their order in the file.
type top struct {
	network, node, clients, faults, expect *yaml.Node
}

func (p *parser) scenario(root *yaml.Node) *Scenario {
	p.s = &Scenario{File: p.file, Expect: map[string]Expectation{}}
	p.lans = map[string]*yaml.Node{}
	p.clients = map[string]*yaml.Node{}
	p.parentNodes = map[string]*yaml.Node{}
	p.node = defaultNodeName
	var t top
	ok := p.fields(root, "", map[string]field{
		"name":     func(path string, v *yaml.Node) { p.name(path, v) },
		"report":   func(path string, v *yaml.Node) { p.str(v, path, &p.s.Report) },
		"source":   func(path string, v *yaml.Node) { p.str(v, path, &p.s.Source) },
		"network":  func(_ string, v *yaml.Node) { t.network = v },
		"node":     func(_ string, v *yaml.Node) { t.node = v },
		"clients":  func(_ string, v *yaml.Node) { t.clients = v },
		"faults":   func(_ string, v *yaml.Node) { t.faults = v },
		"expect":   func(_ string, v *yaml.Node) { t.expect = v },
		"duration": func(path string, v *yaml.Node) { p.runDuration(path, v) },
		"seed": func(path string, v *yaml.Node) {
			var seed int64
			if p.integer(v, path, 0, 1<<62, &seed) {
				p.s.Spec.Seed = uint64(seed)
			}
		},
	})
	if !ok {
		return nil
	}
	if p.s.Name == "" {
		p.s.Name = strings.TrimSuffix(filepath.Base(p.file), filepath.Ext(p.file))
	}
	p.s.Spec.Name = p.s.Name
	if t.network != nil {
		p.network("network", t.network)
	}
	if t.node != nil {
		p.nodeSpec("node", t.node)
	} else {
		p.s.Spec.Node = harness.NodeSpec{Name: defaultNodeName, Config: defaultNodeConfig()}
	}
	if t.clients == nil {
		p.errorf(root, "clients", "missing; a scenario needs at least one client")
	} else {
		p.clientList("clients", t.clients)
	}
	p.checkNames()
	if t.faults != nil {
		p.faultList("faults", t.faults)
	}
	if t.expect != nil {
		p.expectations("expect", t.expect)
	}
	p.s.RealClock = p.s.Spec.NeedsRealClock()
	return p.s
}

func (p *parser) name(path string, v *yaml.Node) {
	if !p.str(v, path, &p.s.Name) {
		return
	}
	if strings.TrimSpace(p.s.Name) == "" || strings.ContainsAny(p.s.Name, "/\\\n\x00") {
		p.errorf(v, path, "want a non-empty name without slashes or line breaks, got %q", p.s.Name)
	}
}

func (p *parser) runDuration(path string, v *yaml.Node) {
	var d time.Duration
	if !p.duration(v, path, false, &d) {
		return
	}
	if d > maxDuration {
		p.errorf(v, path, "%s is longer than %s", d, maxDuration)
		return
	}
	p.s.Spec.Duration = d
}

// runLength is the run's duration, applying the harness default.
func (p *parser) runLength() time.Duration {
	if p.s.Spec.Duration == 0 {
		return 40 * time.Second
	}
	return p.s.Spec.Duration
}

// hostName checks a LAN, client or node name.
func (p *parser) hostName(v *yaml.Node, path string) (string, bool) {
	var name string
	if !p.str(v, path, &name) {
		return "", false
	}
	if name == "" || len(name) > 40 || strings.IndexFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) >= 0 {
		p.errorf(v, path, "%q is not a name; use up to 40 letters, digits, '-' and '_'", name)
		return "", false
	}
	return name, true
}

// network reads network: {lans, dns}.
func (p *parser) network(path string, v *yaml.Node) {
	var lansNode *yaml.Node
	p.fields(v, path, map[string]field{
		"lans": func(path string, v *yaml.Node) {
			lansNode = v
			p.list(v, path, func(path string, _ int, v *yaml.Node) { p.lan(path, v) })
		},
		"dns": func(path string, v *yaml.Node) { p.dns(path, v) },
	})
	p.checkParents(lansNode)
}

func (p *parser) lan(path string, v *yaml.Node) {
	var (
		l      harness.LANSpec
		parent *yaml.Node
		named  bool
	)
	ok := p.fields(v, path, map[string]field{
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
			}
		},
		"firewall": func(path string, v *yaml.Node) { l.Firewall = p.rules(path, v) },
		"link":     func(path string, v *yaml.Node) { l.Uplink = p.impairment(path, v) },
	})
	if !ok {
		return
	}
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
		if err != nil || !a.Is4() {
			p.errorf(v, fp, "%q is not an IPv4 address; want an address like 203.0.113.10, or none for a name that does not resolve", addr)
			return
		}
		p.s.Spec.Names[name] = a.String()
	})
}

// Unresolvable is the harness.Spec.Names value of a name that must not
// resolve (network.dns: {name: none}).
const Unresolvable = ""

var natPresets = []string{"none", "full-cone", "address-restricted", "port-restricted", "symmetric", "one-to-one"}

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
	case "one-to-one":
		return vnet.CloudOneToOne()
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
		lifetime                   time.Duration
		ports                      vnet.PortRange
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
		"mapping_lifetime": func(path string, v *yaml.Node) {
			napt = append(napt, v)
			p.duration(v, path, false, &lifetime)
		},
		"ports": func(path string, v *yaml.Node) {
			napt = append(napt, v)
			ports, _ = p.portRange(v, path)
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
		p.errorf(napt[0], join(path, "preset"), "%s has no port translation to configure; use a NAPT preset (full-cone, address-restricted, port-restricted, symmetric)", preset)
		return n
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
	if preserve != nil {
		n.PortPreservation = *preserve
	}
	if refresh != nil {
		n.InboundRefresh = *refresh
	}
	if lifetime > 0 {
		n.MappingLifetime = lifetime
	}
	n.PortMin, n.PortMax = ports.Min, ports.Max
	n.Forwards = append(n.Forwards, forwards...)
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

// iceServers reads a client's ice_servers override.
func (p *parser) iceServers(path string, v *yaml.Node) []webrtc.ICEServer {
	out := []webrtc.ICEServer{}
	p.list(v, path, func(path string, _ int, v *yaml.Node) {
		var s webrtc.ICEServer
		p.fields(v, path, map[string]field{
			"urls": func(path string, v *yaml.Node) {
				if v.Kind == yaml.ScalarNode {
					if u, ok := p.iceURL(path, v); ok {
						s.URLs = append(s.URLs, u)
					}
					return
				}
				p.list(v, path, func(path string, _ int, v *yaml.Node) {
					if u, ok := p.iceURL(path, v); ok {
						s.URLs = append(s.URLs, u)
					}
				})
			},
			"username": func(path string, v *yaml.Node) { p.str(v, path, &s.Username) },
			"credential": func(path string, v *yaml.Node) {
				var c string
				if p.str(v, path, &c) {
					s.Credential = c
				}
			},
		})
		if len(s.URLs) == 0 {
			if _, has := fieldNode(v, "urls"); !has {
				p.errorf(v, join(path, "urls"), "missing; want stun:, turn: or turns: URLs")
			}
			return
		}
		out = append(out, s)
	})
	return out
}

func (p *parser) iceURL(path string, v *yaml.Node) (string, bool) {
	var u string
	if !p.str(v, path, &u) {
		return "", false
	}
	if _, err := stun.ParseURI(u); err != nil {
		p.errorf(v, path, "%q is not an ICE server URL (%v); want e.g. turns:turn.example.com:443?transport=tcp", u, err)
		return "", false
	}
	return u, true
}

var networkTypes = []string{"udp4", "udp6", "tcp4", "tcp6"}

func (p *parser) networkTypes(path string, v *yaml.Node) []webrtc.NetworkType {
	var out []webrtc.NetworkType
	p.list(v, path, func(path string, _ int, v *yaml.Node) {
		var s string
		if !p.enum(v, path, "network type", networkTypes, &s) {
			return
		}
		t, err := webrtc.NewNetworkType(s)
		if err != nil {
			p.errorf(v, path, "%v", err)
			return
		}
		if slices.Contains(out, t) {
			p.errorf(v, path, "%s is listed twice", s)
			return
		}
		out = append(out, t)
	})
	if out == nil {
		p.errorf(v, path, "empty; want at least one of %s", oneOf(networkTypes))
	}
	return out
}

func (p *parser) publish(path string, v *yaml.Node) harness.Publish {
	var pub harness.Publish
	kinds := []string{"audio", "video", "data"}
	set := func(kind string, on bool) {
		switch kind {
		case "audio":
			pub.Audio = on
		case "video":
			pub.Video = on
		case "data":
			pub.Data = on
		}
	}
	if v.Kind == yaml.SequenceNode {
		p.list(v, path, func(path string, _ int, v *yaml.Node) {
			var kind string
			if p.enum(v, path, "media kind", kinds, &kind) {
				set(kind, true)
			}
		})
		return pub
	}
	handlers := map[string]field{}
	for _, k := range kinds {
		handlers[k] = func(path string, v *yaml.Node) {
			var on bool
			if p.boolean(v, path, &on) {
				set(k, on)
			}
		}
	}
	p.fields(v, path, handlers)
	return pub
}

var fallbackPolicies = []string{"none", "ice-restart", "transport", "renomination", "force-relay"}

func (p *parser) fallback(path string, v *yaml.Node) harness.Fallback {
	var fb harness.Fallback
	p.fields(v, path, map[string]field{
		"policy": func(path string, v *yaml.Node) {
			var s string
			if p.enum(v, path, "policy", fallbackPolicies, &s) {
				fb.Policy = harness.FallbackPolicy(s)
			}
		},
		"deadline":   func(path string, v *yaml.Node) { p.duration(v, path, false, &fb.Deadline) },
		"other_node": func(path string, v *yaml.Node) { p.boolean(v, path, &fb.OtherNode) },
	})
	if fb.Policy == "" {
		if _, has := fieldNode(v, "policy"); !has {
			fb.Policy = harness.NoFallback
		}
	}
	return fb
}

// clientList reads clients: a list of participants.
func (p *parser) clientList(path string, v *yaml.Node) {
	p.list(v, path, func(path string, _ int, v *yaml.Node) { p.client(path, v) })
	if len(p.s.Spec.Clients) == 0 && len(p.errs) == 0 {
		p.errorf(v, path, "empty; a scenario needs at least one client")
	}
}

func (p *parser) client(path string, v *yaml.Node) {
	c := harness.ClientSpec{Policy: webrtc.ICETransportPolicyAll, Fallback: harness.Fallback{Policy: harness.NoFallback}}
	named := false
	ok := p.fields(v, path, map[string]field{
		"name": func(path string, v *yaml.Node) {
			name, ok := p.hostName(v, path)
			if !ok {
				return
			}
			if prev, dup := p.clients[name]; dup {
				p.errorf(v, path, "client %q is defined twice (first at line %d)", name, prev.Line)
				return
			}
			c.Name, named = name, true
			p.clients[name] = v
		},
		"lan": func(path string, v *yaml.Node) { c.LAN = p.lanRef(path, v) },
		"link": func(path string, v *yaml.Node) {
			c.Link = p.impairment(path, v)
		},
		"ice_servers": func(path string, v *yaml.Node) { c.ICEServers = p.iceServers(path, v) },
		"policy": func(path string, v *yaml.Node) {
			var s string
			if p.enum(v, path, "ICE transport policy", []string{"all", "relay"}, &s) {
				c.Policy = webrtc.NewICETransportPolicy(s)
			}
		},
		"network_types": func(path string, v *yaml.Node) { c.NetworkTypes = p.networkTypes(path, v) },
		"publish":       func(path string, v *yaml.Node) { c.Publish = p.publish(path, v) },
		"fallback":      func(path string, v *yaml.Node) { c.Fallback = p.fallback(path, v) },
	})
	if !ok {
		return
	}
	if !named {
		if _, has := fieldNode(v, "name"); !has {
			p.errorf(v, join(path, "name"), "missing; every client needs a name")
		}
		return
	}
	if c.Fallback.OtherNode {
		p.s.Spec.Node.SecondNode = true
	}
	p.s.Spec.Clients = append(p.s.Spec.Clients, c)
}

// lanRef reads a reference to a LAN; "" and "internet" mean the internet.
func (p *parser) lanRef(path string, v *yaml.Node) string {
	var name string
	if !p.str(v, path, &name) {
		return ""
	}
	if name == "" || name == "internet" {
		return ""
	}
	if _, ok := p.lans[name]; !ok {
		p.errorf(v, path, "unknown LAN %q; want internet or one of: %s", name, oneOf(mapKeys(p.lans)))
		return ""
	}
	return name
}

// checkNames reports a LAN and a host sharing a name: fault targets would
// be ambiguous.
func (p *parser) checkNames() {
	for name, at := range p.clients {
		if _, ok := p.lans[name]; ok {
			p.errorf(at, "clients", "%q is both a client and a LAN; fault targets would be ambiguous", name)
		}
		if name == p.node {
			p.errorf(at, "clients", "%q is both a client and the media node", name)
		}
	}
	if n, ok := p.lans[p.node]; ok {
		p.errorf(n, "network.lans", "%q is both a LAN and the media node", p.node)
	}
}

var faultKinds = []string{"add-rules", "clear-rules", "cut", "restore", "impair"}

var faultEvents = []string{"ice-connected", "connected"}

func (p *parser) faultList(path string, v *yaml.Node) {
	p.list(v, path, func(path string, i int, v *yaml.Node) { p.fault(path, i, v) })
}

func (p *parser) fault(path string, i int, v *yaml.Node) {
	f := harness.Fault{Name: fmt.Sprintf("fault %d", i+1)}
	var target, rulesNode, impNode, kindNode *yaml.Node
	ok := p.fields(v, path, map[string]field{
		"name": func(path string, v *yaml.Node) { p.str(v, path, &f.Name) },
		"when": func(path string, v *yaml.Node) { f.When = p.trigger(path, v) },
		"kind": func(path string, v *yaml.Node) {
			var s string
			if p.enum(v, path, "fault kind", faultKinds, &s) {
				f.Kind, kindNode = harness.FaultKind(s), v
			}
		},
		"target": func(path string, v *yaml.Node) {
			if p.str(v, path, &f.Target) {
				target = v
			}
		},
		"rules": func(path string, v *yaml.Node) {
			f.Rules, rulesNode = p.rules(path, v), v
		},
		"impairment": func(path string, v *yaml.Node) {
			f.Impairment, impNode = p.impairment(path, v), v
		},
	})
	if !ok {
		return
	}
	if kindNode == nil {
		if _, has := fieldNode(v, "kind"); !has {
			p.errorf(v, join(path, "kind"), "missing; want %s", oneOf(faultKinds))
		}
		return
	}
	switch {
	case target == nil:
		if _, has := fieldNode(v, "target"); !has {
			p.errorf(v, join(path, "target"), "missing; name the LAN or host the fault applies to")
		}
		return
	case f.Kind == harness.AddRules || f.Kind == harness.ClearRules:
		if _, ok := p.lans[f.Target]; !ok {
			p.errorf(target, join(path, "target"), "%s applies to a LAN's firewall; %q is not a LAN (want one of: %s)", f.Kind, f.Target, oneOf(mapKeys(p.lans)))
		}
	default:
		if !p.isLinkTarget(f.Target) {
			p.errorf(target, join(path, "target"), "%q is neither a LAN, a client nor the media node %q", f.Target, p.node)
		}
	}
	switch {
	case f.Kind == harness.AddRules && rulesNode == nil:
		p.errorf(v, join(path, "rules"), "missing; add-rules needs the rules to add")
	case f.Kind != harness.AddRules && rulesNode != nil:
		p.errorf(rulesNode, join(path, "rules"), "only add-rules takes rules, not %s", f.Kind)
	}
	switch {
	case f.Kind == harness.Impair && impNode == nil:
		p.errorf(v, join(path, "impairment"), "missing; impair needs the impairment to set")
	case f.Kind != harness.Impair && impNode != nil:
		p.errorf(impNode, join(path, "impairment"), "only impair takes an impairment, not %s", f.Kind)
	}
	if f.When.Event == "" && f.When.After >= p.runLength() {
		p.errorf(v, join(path, "when.after"), "%s is not before the end of the run (duration %s): the fault never applies", f.When.After, p.runLength())
	}
	p.s.Spec.Faults = append(p.s.Spec.Faults, f)
}

func (p *parser) isLinkTarget(name string) bool {
	_, lan := p.lans[name]
	_, client := p.clients[name]
	return lan || client || name == p.node
}

func (p *parser) trigger(path string, v *yaml.Node) harness.Trigger {
	var t harness.Trigger
	var eventNode, clientNode *yaml.Node
	p.fields(v, path, map[string]field{
		"after": func(path string, v *yaml.Node) { p.duration(v, path, true, &t.After) },
		"event": func(path string, v *yaml.Node) {
			if p.enum(v, path, "event", faultEvents, &t.Event) {
				eventNode = v
			}
		},
		"client": func(path string, v *yaml.Node) {
			if !p.str(v, path, &t.Client) {
				return
			}
			clientNode = v
			if _, ok := p.clients[t.Client]; !ok {
				p.errorf(v, path, "unknown client %q; want one of: %s", t.Client, oneOf(mapKeys(p.clients)))
			}
		},
	})
	switch {
	case eventNode != nil && clientNode == nil:
		if len(p.clients) == 1 {
			t.Client = mapKeys(p.clients)[0]
		} else {
			p.errorf(eventNode, join(path, "client"), "missing; event %s needs the client whose event it is", t.Event)
		}
	case eventNode == nil && clientNode != nil:
		p.errorf(clientNode, join(path, "event"), "missing; client %s is named without an event (want %s)", t.Client, oneOf(faultEvents))
	}
	return t
}

var transports = []string{
	string(harness.ICEUDP), string(harness.ICETCP), string(harness.TURNUDP),
	string(harness.TURNTCP), string(harness.TURNTLS), string(harness.NoTransport),
}

var candidateTypes = []string{"host", "srflx", "prflx", "relay", "none"}

var pcStates = []string{"new", "connecting", "connected", "disconnected", "failed", "closed"}

func (p *parser) expectations(path string, v *yaml.Node) {
	p.pairs(v, path, func(name string, k, v *yaml.Node) {
		fp := join(path, name)
		if _, ok := p.clients[name]; !ok {
			p.errorf(k, fp, "unknown client %q; want one of: %s", name, oneOf(mapKeys(p.clients)))
			return
		}
		p.s.Expect[name] = p.expectation(fp, v)
	})
}

func (p *parser) expectation(path string, v *yaml.Node) Expectation {
	var e Expectation
	boolPtr := func(dst **bool) field {
		return func(path string, v *yaml.Node) {
			var b bool
			if p.boolean(v, path, &b) {
				*dst = &b
			}
		}
	}
	p.fields(v, path, map[string]field{
		"transport": func(path string, v *yaml.Node) {
			one := func(path string, v *yaml.Node) {
				var s string
				if p.enum(v, path, "transport", transports, &s) {
					e.Transports = append(e.Transports, harness.Transport(s))
				}
			}
			if v.Kind == yaml.SequenceNode {
				p.list(v, path, func(path string, _ int, v *yaml.Node) { one(path, v) })
				return
			}
			one(path, v)
		},
		"connected": boolPtr(&e.Connected),
		"candidates": func(path string, v *yaml.Node) {
			p.fields(v, path, map[string]field{
				"local":  func(path string, v *yaml.Node) { p.enum(v, path, "candidate type", candidateTypes, &e.LocalCandidate) },
				"remote": func(path string, v *yaml.Node) { p.enum(v, path, "candidate type", candidateTypes, &e.RemoteCandidate) },
			})
		},
		"media": func(path string, v *yaml.Node) {
			p.fields(v, path, map[string]field{"both_ways": boolPtr(&e.MediaBothWays)})
		},
		"recovered":        boolPtr(&e.Recovered),
		"recover_within":   func(path string, v *yaml.Node) { p.duration(v, path, false, &e.RecoverWithin) },
		"failure_contains": func(path string, v *yaml.Node) { p.str(v, path, &e.FailureContains) },
		"final_state": func(path string, v *yaml.Node) {
			p.enum(v, path, "peer connection state", pcStates, &e.FinalState)
		},
	})
	return e
}
