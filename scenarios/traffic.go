package scenarios

import (
	"fmt"

	"github.com/icelab/icelab/harness"
	"go.yaml.in/yaml/v3"
)

var trafficKinds = []string{"download", "upload", "on-off"}

// trafficList reads traffic: cross traffic beside the call.
func (p *parser) trafficList(path string, v *yaml.Node) {
	names := map[string]*yaml.Node{}
	p.list(v, path, func(path string, i int, v *yaml.Node) {
		t := harness.CrossTraffic{Name: fmt.Sprintf("traffic-%d", i+1)}
		var kindNode, hostNode, lanNode, untilNode, nameNode *yaml.Node
		ok := p.fields(v, path, map[string]field{
			"name": func(path string, v *yaml.Node) {
				if n, ok := p.hostName(v, path); ok {
					t.Name, nameNode = n, v
				}
			},
			"kind": func(path string, v *yaml.Node) {
				var s string
				if p.enum(v, path, "traffic kind", trafficKinds, &s) {
					t.Kind, kindNode = harness.TrafficKind(s), v
				}
			},
			"host": func(path string, v *yaml.Node) {
				if p.str(v, path, &t.Host) {
					hostNode = v
					if _, ok := p.clients[t.Host]; !ok {
						p.errorf(v, path, "unknown client or peer %q; want one of: %s", t.Host, oneOf(mapKeys(p.clients)))
					}
				}
			},
			"lan": func(path string, v *yaml.Node) {
				t.LAN, lanNode = p.lanRef(path, v), v
				if t.LAN == "" && len(p.errs) == 0 {
					p.errorf(v, path, "cross traffic on a LAN needs a LAN of the file; for the internet, give a host")
				}
			},
			"at":    func(path string, v *yaml.Node) { p.duration(v, path, true, &t.At) },
			"until": func(path string, v *yaml.Node) { p.duration(v, path, false, &t.Until); untilNode = v },
			"rate":  func(path string, v *yaml.Node) { p.bitrate(v, path, &t.Rate) },
			"on":    func(path string, v *yaml.Node) { p.duration(v, path, false, &t.On) },
			"off":   func(path string, v *yaml.Node) { p.duration(v, path, true, &t.Off) },
		})
		if !ok {
			return
		}
		switch {
		case kindNode == nil:
			if _, has := fieldNode(v, "kind"); !has {
				p.errorf(v, join(path, "kind"), "missing; want %s", oneOf(trafficKinds))
			}
			return
		case (hostNode == nil) == (lanNode == nil):
			p.errorf(v, path, "give host (a client or peer whose link it shares) or lan (a device of its own there), not both")
			return
		case untilNode != nil && t.Until <= t.At:
			p.errorf(untilNode, join(path, "until"), "%v is not after at (%v)", t.Until, t.At)
			return
		case t.Kind == harness.OnOff && (t.Rate == 0 || t.On == 0):
			p.errorf(v, path, "on-off needs rate and on (e.g. rate: 2Mbps, on: 1s, off: 3s)")
			return
		case t.Kind != harness.OnOff && (t.Rate != 0 || t.On != 0 || t.Off != 0):
			p.errorf(v, path, "rate, on and off shape an on-off flow; a %s takes what the path leaves it", t.Kind)
			return
		}
		if prev, dup := names[t.Name]; dup {
			at := nameNode
			if at == nil {
				at = v
			}
			p.errorf(at, join(path, "name"), "%q is defined twice (first at line %d)", t.Name, prev.Line)
			return
		}
		if _, clash := p.clients[t.Name]; clash || t.Name == harness.TrafficServer {
			p.errorf(v, join(path, "name"), "%q is taken; give the flow a name of its own", t.Name)
			return
		}
		names[t.Name] = v
		p.s.Spec.Traffic = append(p.s.Spec.Traffic, t)
	})
}
