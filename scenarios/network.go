package scenarios

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/icelab/icelab/vnet"
	"go.yaml.in/yaml/v3"
)

var firewallPresets = []string{"block-udp", "only-tcp-out", "block-inbound-tcp", "dtls-filtered", "udp-whack", "throttle-udp", "drop-fragments"}

// rules reads a list of firewall entries: preset names ("block-udp"),
// presets with arguments ({only-tcp-out: [443]}, {udp-whack: {after: 10s}})
// and explicit rules.
func (p *parser) rules(path string, v *yaml.Node) []vnet.Rule {
	out := []vnet.Rule{}
	if !isNull(v) && v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
		p.errorf(v, path, "empty list of rules")
	}
	p.list(v, path, func(path string, _ int, v *yaml.Node) {
		out = append(out, p.ruleEntry(path, v)...)
	})
	return out
}

func (p *parser) ruleEntry(path string, v *yaml.Node) []vnet.Rule {
	switch {
	case v.Kind == yaml.ScalarNode:
		var name string
		if !p.enum(v, path, "firewall preset", firewallPresets, &name) {
			return nil
		}
		return p.preset(path, name, v, nil)
	case v.Kind == yaml.MappingNode && len(v.Content) == 2:
		if k := resolve(v.Content[0]); k != nil && k.Kind == yaml.ScalarNode && slices.Contains(firewallPresets, k.Value) {
			return p.preset(join(path, k.Value), k.Value, k, resolve(v.Content[1]))
		}
	}
	if v.Kind != yaml.MappingNode {
		p.errorf(v, path, "want a firewall preset (%s) or a rule mapping, got %s", oneOf(firewallPresets), describe(v))
		return nil
	}
	r, ok := p.rule(path, v)
	if !ok {
		return nil
	}
	return []vnet.Rule{r}
}

// preset expands a firewall preset; args is its argument node, or nil.
func (p *parser) preset(path, name string, at, args *yaml.Node) []vnet.Rule {
	switch name {
	case "only-tcp-out":
		ports := []uint16{80, 443}
		if !isNull(args) {
			ports = p.portList(path, args)
		}
		if len(ports) == 0 {
			return nil
		}
		return vnet.OnlyTCPOut(ports...)
	case "udp-whack":
		if isNull(args) {
			p.errorf(at, path, "udp-whack needs {after: DURATION}: how long a UDP flow works before the firewall drops it")
			return nil
		}
		var after time.Duration
		if args.Kind == yaml.ScalarNode {
			if !p.duration(args, join(path, "after"), false, &after) {
				return nil
			}
		} else {
			ok := p.fields(args, path, map[string]field{
				"after": func(path string, v *yaml.Node) { p.duration(v, path, false, &after) },
			})
			if !ok {
				return nil
			}
			if after == 0 {
				if _, has := fieldNode(args, "after"); !has {
					p.errorf(args, join(path, "after"), "missing; want a duration like 10s")
				}
				return nil
			}
		}
		return vnet.UDPWhack(after)
	case "throttle-udp":
		var bps int64
		if isNull(args) {
			p.errorf(at, path, "throttle-udp needs a rate, like {throttle-udp: 500kbps}: the UDP bitrate above which the network drops")
			return nil
		}
		if !p.bitrate(args, path, &bps) {
			return nil
		}
		return vnet.ThrottleUDP(bps)
	}
	if !isNull(args) && !(args.Kind == yaml.MappingNode && len(args.Content) == 0) {
		p.errorf(args, path, "%s takes no arguments", name)
		return nil
	}
	switch name {
	case "block-udp":
		return vnet.BlockUDP()
	case "block-inbound-tcp":
		return vnet.BlockInboundTCP()
	case "dtls-filtered":
		return vnet.DTLSFiltered()
	case "drop-fragments":
		return vnet.DropFragments()
	}
	return nil
}

// portList reads [80, 443], 443 or {ports: [80, 443]}.
func (p *parser) portList(path string, v *yaml.Node) []uint16 {
	var out []uint16
	one := func(path string, v *yaml.Node) {
		var port uint16
		if p.port(v, path, &port) {
			out = append(out, port)
		}
	}
	switch v.Kind {
	case yaml.ScalarNode:
		one(path, v)
	case yaml.SequenceNode:
		p.list(v, path, func(path string, _ int, v *yaml.Node) { one(path, v) })
		if len(v.Content) == 0 {
			p.errorf(v, path, "empty; want the TCP ports allowed out, like [80, 443]")
		}
	default:
		p.fields(v, path, map[string]field{
			"ports": func(path string, v *yaml.Node) { out = p.portList(path, v) },
		})
	}
	return out
}

var (
	directions = []string{"inbound", "outbound", "any"}
	protos     = []string{"udp", "tcp", "any"}
	classes    = []string{"stun", "dtls", "channeldata", "rtp", "other"}
	states     = []string{"new", "established", "any"}
	actions    = []string{"drop", "reject", "accept"}
)

// rule reads an explicit firewall rule.
func (p *parser) rule(path string, v *yaml.Node) (vnet.Rule, bool) {
	r := vnet.Rule{Name: path}
	var classNode *yaml.Node
	ok := p.fields(v, path, map[string]field{
		"name": func(path string, v *yaml.Node) { p.str(v, path, &r.Name) },
		"direction": func(path string, v *yaml.Node) {
			var s string
			if p.enum(v, path, "direction", directions, &s) {
				r.Direction = map[string]vnet.Flow{"inbound": vnet.Inbound, "outbound": vnet.Outbound, "any": vnet.AnyDirection}[s]
			}
		},
		"proto": func(path string, v *yaml.Node) {
			var s string
			if p.enum(v, path, "protocol", protos, &s) {
				r.Proto = map[string]vnet.Proto{"udp": vnet.UDP, "tcp": vnet.TCP}[s]
			}
		},
		"remote":      func(path string, v *yaml.Node) { r.Remote, _ = p.prefix(path, v) },
		"local":       func(path string, v *yaml.Node) { r.Local, _ = p.prefix(path, v) },
		"ports":       func(path string, v *yaml.Node) { r.RemotePorts, _ = p.portRange(v, path) },
		"local_ports": func(path string, v *yaml.Node) { r.LocalPorts, _ = p.portRange(v, path) },
		"class": func(path string, v *yaml.Node) {
			classNode = v
			one := func(path string, v *yaml.Node) {
				var s string
				if p.enum(v, path, "payload class", classes, &s) {
					c := map[string]vnet.Class{"stun": vnet.ClassSTUN, "dtls": vnet.ClassDTLS, "channeldata": vnet.ClassChannelData, "rtp": vnet.ClassRTP, "other": vnet.ClassOther}[s]
					r.Classes = append(r.Classes, c)
				}
			}
			if v.Kind == yaml.SequenceNode {
				p.list(v, path, func(path string, _ int, v *yaml.Node) { one(path, v) })
				return
			}
			one(path, v)
		},
		"state": func(path string, v *yaml.Node) {
			var s string
			if p.enum(v, path, "connection state", states, &s) {
				r.State = map[string]vnet.ConnState{"new": vnet.StateNew, "established": vnet.StateEstablished, "any": vnet.AnyState}[s]
			}
		},
		"after":     func(path string, v *yaml.Node) { p.duration(v, path, true, &r.After) },
		"fragments": func(path string, v *yaml.Node) { r.Fragments = p.fragments(path, v) },
		"limit": func(path string, v *yaml.Node) {
			var bps int64
			if p.bitrate(v, path, &bps) {
				r.Limit = &vnet.RateLimit{BitsPerSecond: bps}
			}
		},
		"after_packets": func(path string, v *yaml.Node) {
			var n int64
			if p.integer(v, path, 0, 1<<31-1, &n) {
				r.AfterPackets = int(n)
			}
		},
		"action": func(path string, v *yaml.Node) {
			var s string
			if p.enum(v, path, "action", actions, &s) {
				r.Action = map[string]vnet.Action{"drop": vnet.Drop, "reject": vnet.Reject, "accept": vnet.Accept}[s]
			}
		},
	})
	if !ok {
		return r, false
	}
	if r.Action == 0 {
		if _, has := fieldNode(v, "action"); !has {
			p.errorf(v, join(path, "action"), "missing; want %s", oneOf(actions))
		}
		return r, false
	}
	if classNode != nil && r.Proto == vnet.TCP {
		p.errorf(classNode, join(path, "class"), "payload classes apply to UDP datagrams; this rule is for tcp")
		return r, false
	}
	return r, true
}

// prefix reads a CIDR prefix or a single address.
func (p *parser) prefix(path string, v *yaml.Node) (netip.Prefix, bool) {
	var s string
	if !p.str(v, path, &s) {
		return netip.Prefix{}, false
	}
	if pf, err := netip.ParsePrefix(s); err == nil {
		return pf.Masked(), true
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	p.errorf(v, path, "%q is not a CIDR prefix like 203.0.113.0/24 or an address", s)
	return netip.Prefix{}, false
}

// portRange reads 443, "443" or "50000-60000".
func (p *parser) portRange(v *yaml.Node, path string) (vnet.PortRange, bool) {
	if !p.scalar(v, path, `a port or a range like "50000-60000"`) {
		return vnet.PortRange{}, false
	}
	lo, hi, isRange := strings.Cut(strings.TrimSpace(v.Value), "-")
	if !isRange {
		hi = lo
	}
	a, errA := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
	b, errB := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
	switch {
	case errA != nil || errB != nil:
		p.errorf(v, path, "%q is not a port or a range like 50000-60000", v.Value)
	case a == 0 || b == 0:
		p.errorf(v, path, "%q: ports start at 1", v.Value)
	case a > b:
		p.errorf(v, path, "%q is reversed; want low-high", v.Value)
	default:
		return vnet.PortRange{Min: uint16(a), Max: uint16(b)}, true
	}
	return vnet.PortRange{}, false
}
