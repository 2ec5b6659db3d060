package scenarios

import (
	"fmt"

	"github.com/icelab/icelab/harness"
	"go.yaml.in/yaml/v3"
)

var faultKinds = []string{"add-rules", "clear-rules", "cut", "restore", "impair", "move", "mute", "unmute", "leave"}

var faultEvents = []string{"ice-connected", "connected"}

func (p *parser) faultList(path string, v *yaml.Node) {
	p.list(v, path, func(path string, i int, v *yaml.Node) { p.fault(path, i, v) })
}

func (p *parser) fault(path string, i int, v *yaml.Node) {
	f := harness.Fault{Name: fmt.Sprintf("fault %d", i+1)}
	var target, rulesNode, impNode, kindNode, toNode *yaml.Node
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
		"to": func(path string, v *yaml.Node) {
			if p.str(v, path, &f.To) {
				toNode = v
			}
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
	case f.Kind == harness.Move || f.Kind == harness.Mute || f.Kind == harness.Unmute || f.Kind == harness.Leave:
		if _, ok := p.clients[f.Target]; !ok {
			p.errorf(target, join(path, "target"), "%s applies to a client; %q is not one (want one of: %s)", f.Kind, f.Target, oneOf(mapKeys(p.clients)))
		}
	case f.Kind == harness.AddRules || f.Kind == harness.ClearRules:
		if _, ok := p.lans[f.Target]; !ok {
			p.errorf(target, join(path, "target"), "%s applies to a LAN's firewall; %q is not a LAN (want one of: %s)", f.Kind, f.Target, oneOf(mapKeys(p.lans)))
		}
	default:
		if !p.isLinkTarget(f.Target) {
			p.errorf(target, join(path, "target"), "%q is neither a LAN nor a host (a client, peer, server, proxy or the media node); want one of: %s", f.Target, oneOf(p.linkTargets()))
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
	switch {
	case f.Kind == harness.Move && toNode == nil:
		p.errorf(v, join(path, "to"), "missing; move needs the LAN to move %s to (or internet)", f.Target)
	case f.Kind != harness.Move && toNode != nil:
		p.errorf(toNode, join(path, "to"), "only move takes a destination, not %s", f.Kind)
	case toNode != nil && f.To != "internet":
		if _, ok := p.lans[f.To]; !ok {
			p.errorf(toNode, join(path, "to"), "unknown LAN %q; want internet or one of: %s", f.To, oneOf(mapKeys(p.lans)))
		}
	}
	if f.When.Event == "" && f.When.After >= p.runLength() {
		p.errorf(v, join(path, "when.after"), "%s is not before the end of the run (duration %s): the fault never applies", f.When.After, p.runLength())
	}
	p.s.Spec.Faults = append(p.s.Spec.Faults, f)
	p.s.place(v, path, fmt.Sprintf("faults[%d]", len(p.s.Spec.Faults)-1))
}

// linkTargets lists what a cut, restore or impair fault can name: LANs,
// clients and the media node.
func (p *parser) linkTargets() []string {
	out := append(mapKeys(p.lans), mapKeys(p.clients)...)
	out = append(out, mapKeys(p.servers)...)
	out = append(out, mapKeys(p.proxies)...)
	if p.node == "" {
		return out // a peer-to-peer call has no media node
	}
	return append(out, p.node)
}

func (p *parser) isLinkTarget(name string) bool {
	_, lan := p.lans[name]
	_, client := p.clients[name]
	_, server := p.servers[name]
	_, proxy := p.proxies[name]
	return lan || client || server || proxy || name != "" && name == p.node
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
