package fieldimport

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/icelab/icelab/archetypes"
	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/scenarios"
	"go.yaml.in/yaml/v3"
)

// commentWidth is where comment lines wrap.
const commentWidth = 92

// write renders the plan, checks the file loads as a scenario, and names
// the archetype the client's network matches. It returns the file and
// the archetype's name ("" for none).
func (im *importer) write() ([]byte, string, error) {
	data, err := im.render()
	if err != nil {
		return nil, "", err
	}
	file := im.opt.File
	if file == "" {
		file = im.p.name + ".yaml"
	}
	s, err := scenarios.Parse(file, data)
	if err != nil {
		// Not wrapped: this is not the user's input, whatever the
		// loader's error says.
		return nil, "", fmt.Errorf("the scenario icelab wrote from %s does not load (a bug in icelab import): %v\n%s", im.e.File, err, data)
	}
	n, ok := matchArchetype(s, clientName)
	if !ok {
		return data, "", nil
	}
	note := fmt.Sprintf("archetype %s: %s (%s)", n.Name, n.Summary, n.Source)
	if i := slices.IndexFunc(im.p.lans, func(l lanPlan) bool { return l.name == im.p.client.lan }); i >= 0 {
		im.p.lans[i].archetype = note
	} else {
		im.p.client.why = append([]*Inference{{Certainty: Inferred, What: note}}, im.p.client.why...)
	}
	data, err = im.render()
	return data, n.Name, err
}

// matchArchetype finds the archetype whose devices the scenario's
// network for client is: the same NATs, firewalls and uplinks, layer by
// layer, as the scenario loader builds them.
func matchArchetype(s *scenarios.Scenario, client string) (archetypes.Network, bool) {
	var lan string
	for _, c := range s.Spec.Clients {
		if c.Name == client {
			lan = c.LAN
		}
	}
	for _, p := range s.Spec.Peers {
		if p.Name == client {
			lan = p.LAN
		}
	}
	byName := map[string]harness.LANSpec{}
	for _, l := range s.Spec.LANs {
		byName[l.Name] = l
	}
	var chain []harness.LANSpec
	for l, ok := byName[lan]; ok && len(chain) < 8; l, ok = byName[l.Parent] {
		chain = append([]harness.LANSpec{l}, chain...)
	}
	for _, n := range archetypes.All() {
		if len(n.Faults) > 0 || n.Proxy != nil {
			continue
		}
		layers := n.Place(client).LANs
		if len(layers) != len(chain) {
			continue
		}
		same := true
		for i := range chain {
			a, b := chain[i], layers[i]
			if !reflect.DeepEqual(a.NAT, b.NAT) || !reflect.DeepEqual(a.Firewall, b.Firewall) || !reflect.DeepEqual(a.Uplink, b.Uplink) {
				same = false
			}
		}
		if same {
			return n, true
		}
	}
	return archetypes.Network{}, false
}

// render writes the plan as a scenario file.
func (im *importer) render() ([]byte, error) {
	p := &im.p
	root := mapping()
	add(root, "name", nil, str(p.name))
	add(root, "source", nil, folded(p.source))
	add(root, "report", nil, folded(p.report))
	if len(p.lans) > 0 {
		var lans []*yaml.Node
		for _, l := range p.lans {
			lans = append(lans, renderLAN(l))
		}
		add(root, "network", nil, mapping(kv("lans", nil, seq(lans...))...))
	}
	if p.node != nil {
		add(root, "node", p.node.why, renderNode(p.node))
	}
	if len(p.servers) > 0 {
		var list []*yaml.Node
		for _, s := range p.servers {
			m := mapping(kv("name", nil, str(s.name))...)
			add(m, "config", nil, mapping(kv("turn", nil, renderTURN(s.turn))...))
			if s.turn.tls {
				add(m, "tls", nil, flowMap("cert", str("generated")))
			}
			list = append(list, m)
		}
		add(root, "servers", nil, seq(list...))
	}
	endpoints := []*yaml.Node{renderEndpoint(&p.client, p.peer != nil)}
	if p.peer != nil {
		endpoints = append(endpoints, renderEndpoint(p.peer, true))
		add(root, "peers", nil, seq(endpoints...))
	} else {
		add(root, "clients", nil, seq(endpoints...))
	}
	if len(p.faults) > 0 {
		var list []*yaml.Node
		for _, f := range p.faults {
			m := mapping(kv("name", f.why, str(f.name))...)
			add(m, "when", nil, flowMap("event", str(f.event), "client", str(f.client), "after", str(dur(f.after))))
			add(m, "kind", nil, str(f.kind))
			add(m, "target", nil, str(f.target))
			if len(f.rules) > 0 {
				add(m, "rules", nil, flowSeq(f.rules...))
			}
			list = append(list, m)
		}
		add(root, "faults", nil, seq(list...))
	}
	add(root, "duration", p.durationWhy, str(dur(p.duration)))
	add(root, "expect", nil, mapping(kv(p.client.name, p.expect.why, renderExpect(p.expect))...))
	doc := &yaml.Node{Kind: yaml.DocumentNode, HeadComment: headerComment(p.header), Content: []*yaml.Node{root}}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("write scenario: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("write scenario: %w", err)
	}
	return b.Bytes(), nil
}

func renderLAN(l lanPlan) *yaml.Node {
	why := l.why
	if l.archetype != "" {
		why = append([]*Inference{{Certainty: Inferred, What: l.archetype}}, why...)
	}
	m := mapping(kv("name", why, str(l.name))...)
	if l.parent != "" {
		add(m, "parent", nil, str(l.parent))
	}
	if l.prefix != "" {
		add(m, "prefix", nil, str(l.prefix))
	}
	switch {
	case l.natMapping != "":
		add(m, "nat", l.natWhy, flowMap("preset", str(l.nat), "mapping", str(l.natMapping)))
	case l.nat != "":
		add(m, "nat", l.natWhy, str(l.nat))
	}
	if len(l.firewall) > 0 {
		var rules []*yaml.Node
		for _, r := range l.firewall {
			var n *yaml.Node
			switch {
			case r.rule != nil:
				n = renderRule(r.rule)
			case r.preset == "only-tcp-out":
				ports := make([]*yaml.Node, len(r.ports))
				for i, p := range r.ports {
					ports[i] = num(p)
				}
				n = &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle, Content: []*yaml.Node{str("only-tcp-out"), flow(ports...)}}
			case r.preset == "udp-whack":
				n = flowMap("udp-whack", flowMap("after", str(dur(r.after))))
			default:
				n = str(r.preset)
			}
			n.HeadComment = comment(whyText(r.why))
			rules = append(rules, n)
		}
		add(m, "firewall", nil, seq(rules...))
	}
	return m
}

// renderRule writes a firewall rule as a flow mapping, its keys in order.
func renderRule(rule map[string]any) *yaml.Node {
	keys := make([]string, 0, len(rule))
	for k := range rule {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var args []any
	for _, k := range keys {
		var v *yaml.Node
		switch x := rule[k].(type) {
		case int:
			v = num(x)
		default:
			v = str(fmt.Sprint(x))
		}
		args = append(args, k, v)
	}
	return flowMap(args...)
}

func renderNode(n *nodePlan) *yaml.Node {
	m := mapping()
	if n.configFile != "" {
		add(m, "config_file", nil, str(n.configFile))
		return m
	}
	add(m, "config", nil, mapping(kv("turn", nil, renderTURN(*n.turn))...))
	if n.turn.tls {
		add(m, "tls", nil, flowMap("cert", str("generated")))
	}
	return m
}

func renderTURN(t turnPlan) *yaml.Node {
	if !t.enabled {
		return flowMap("enabled", boolean(false))
	}
	m := mapping(kv("domain", nil, str(t.domain))...)
	if t.udpPort != 0 {
		add(m, "udp_port", nil, num(t.udpPort))
	}
	if t.tlsPort != 0 {
		add(m, "tls_port", nil, num(t.tlsPort))
	}
	if len(t.users) > 0 {
		var args []any
		for _, u := range sortedKeys(t.users) {
			args = append(args, u, str(t.users[u]))
		}
		add(m, "users", nil, flowMap(args...))
	}
	return m
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func renderEndpoint(ep *endpointPlan, peer bool) *yaml.Node {
	m := mapping(kv("name", ep.why, str(ep.name))...)
	if ep.lan != "" {
		add(m, "lan", nil, str(ep.lan))
	}
	if ep.policy != "" {
		add(m, "policy", ep.policyWhy, str(ep.policy))
	}
	if len(ep.networkTypes) > 0 {
		add(m, "network_types", ep.typesWhy, flowSeq(ep.networkTypes...))
	}
	if ep.iceServers != nil {
		var list []*yaml.Node
		for _, s := range ep.iceServers {
			e := mapping(kv("urls", nil, flowSeq(s.urls...))...)
			if s.username != "" {
				add(e, "username", nil, str(s.username))
				add(e, "credential", nil, str(s.password))
			}
			list = append(list, e)
		}
		if len(list) == 0 {
			add(m, "ice_servers", ep.serversWhy, flow())
		} else {
			add(m, "ice_servers", ep.serversWhy, seq(list...))
		}
	} else if len(ep.serversWhy) > 0 {
		// A peer handed every server: nothing to write but the reason.
		m.Content[0].HeadComment = comment(whyText(append(slices.Clone(ep.why), ep.serversWhy...)))
	}
	add(m, "publish", ep.publishWhy, flowSeq(ep.publish...))
	if ep.fallback != "" {
		add(m, "fallback", ep.fallbackWhy, flowMap("policy", str(ep.fallback)))
	}
	return m
}

func renderExpect(x expectPlan) *yaml.Node {
	m := mapping()
	if len(x.transports) == 1 {
		add(m, "transport", nil, str(x.transports[0]))
	} else {
		add(m, "transport", nil, flowSeq(x.transports...))
	}
	add(m, "connected", nil, boolean(x.connected))
	if len(x.local) > 0 {
		add(m, "candidates", nil, flowMap("local", oneOrList(x.local), "remote", oneOrList(x.remote)))
	}
	if x.finalState != "" {
		add(m, "final_state", nil, str(x.finalState))
	}
	if x.failureContains != "" {
		add(m, "failure_contains", nil, str(x.failureContains))
	}
	return m
}

func oneOrList(s []string) *yaml.Node {
	if len(s) == 1 {
		return str(s[0])
	}
	return flowSeq(s...)
}

// whyText renders inferences as comment paragraphs.
func whyText(why []*Inference) []string {
	out := make([]string, 0, len(why))
	for _, in := range why {
		if in.N == 0 {
			out = append(out, in.What+".")
			continue
		}
		out = append(out, in.Comment())
	}
	return out
}

// comment wraps paragraphs into comment lines, one paragraph after the
// other.
func comment(paras []string) string {
	var lines []string
	for _, p := range paras {
		for _, l := range wrap(p, commentWidth) {
			lines = append(lines, "# "+l)
		}
	}
	return strings.Join(lines, "\n")
}

// headerComment wraps the file's opening paragraphs, a blank comment
// line between them.
func headerComment(paras []string) string {
	out := make([]string, len(paras))
	for i, p := range paras {
		out[i] = comment([]string{p})
	}
	return strings.Join(out, "\n#\n")
}

// wrap breaks s into lines of at most width characters at spaces.
func wrap(s string, width int) []string {
	var out []string
	line := ""
	for _, w := range strings.Fields(s) {
		switch {
		case line == "":
			line = w
		case len(line)+1+len(w) > width:
			out = append(out, line)
			line = w
		default:
			line += " " + w
		}
	}
	if line != "" {
		out = append(out, line)
	}
	return out
}

func dur(d time.Duration) string { return d.String() }

// YAML node helpers.

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func folded(s string) *yaml.Node {
	n := str(s)
	if len(s) > 60 {
		n.Style = yaml.FoldedStyle
	}
	return n
}

func num(n int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(n)}
}

func boolean(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}
}

func mapping(content ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Content: content}
}

func kv(k string, why []*Inference, v *yaml.Node) []*yaml.Node {
	key := str(k)
	if len(why) > 0 {
		key.HeadComment = comment(whyText(why))
	}
	return []*yaml.Node{key, v}
}

func add(m *yaml.Node, k string, why []*Inference, v *yaml.Node) {
	m.Content = append(m.Content, kv(k, why, v)...)
}

func seq(items ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Content: items}
}

func flow(items ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle, Content: items}
}

func flowSeq(items ...string) *yaml.Node {
	n := flow()
	for _, s := range items {
		n.Content = append(n.Content, str(s))
	}
	return n
}

// flowMap makes a flow mapping of key, value pairs; values are nodes.
func flowMap(args ...any) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
	for i := 0; i+1 < len(args); i += 2 {
		m.Content = append(m.Content, str(args[i].(string)), args[i+1].(*yaml.Node))
	}
	return m
}
