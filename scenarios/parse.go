package scenarios

import (
	"path/filepath"
	"strings"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/vnet"
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
	servers map[string]*yaml.Node // standalone relays (peers.go)
	proxies map[string]*yaml.Node
	node    string
	// parentNodes locates each LAN's parent field, prefixNodes its
	// prefix field; lansNode is network.lans.
	parentNodes map[string]*yaml.Node
	prefixNodes map[string]*yaml.Node
	lansNode    *yaml.Node
	// traces are the link traces read, by path (link.go).
	traces map[string]*vnet.Trace
}

// top holds the top-level fields, read first so that sections can refer
// to each other whatever their order in the file.
type top struct {
	network, node, clients, faults, expect *yaml.Node
	peers, servers, traffic                *yaml.Node
}

func (p *parser) scenario(root *yaml.Node) *Scenario {
	p.s = &Scenario{File: p.file, Expect: map[string]Expectation{}}
	p.lans = map[string]*yaml.Node{}
	p.clients = map[string]*yaml.Node{}
	p.servers = map[string]*yaml.Node{}
	p.proxies = map[string]*yaml.Node{}
	p.parentNodes = map[string]*yaml.Node{}
	p.prefixNodes = map[string]*yaml.Node{}
	p.node = defaultNodeName
	var t top
	ok := p.fields(root, "", map[string]field{
		"name":     func(path string, v *yaml.Node) { p.name(path, v) },
		"report":   func(path string, v *yaml.Node) { p.str(v, path, &p.s.Report) },
		"source":   func(path string, v *yaml.Node) { p.str(v, path, &p.s.Source) },
		"network":  func(_ string, v *yaml.Node) { t.network = v },
		"node":     func(_ string, v *yaml.Node) { t.node = v },
		"clients":  func(_ string, v *yaml.Node) { t.clients = v },
		"peers":    func(_ string, v *yaml.Node) { t.peers = v },
		"servers":  func(_ string, v *yaml.Node) { t.servers = v },
		"faults":   func(_ string, v *yaml.Node) { t.faults = v },
		"traffic":  func(_ string, v *yaml.Node) { t.traffic = v },
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
	netErrs := len(p.errs)
	if t.network != nil {
		p.network("network", t.network)
	}
	netClean := len(p.errs) == netErrs
	if t.servers != nil {
		p.serverList("servers", t.servers)
	}
	kindOK := p.callKind(root, t)
	switch {
	case t.peers != nil:
		p.node = ""
		if kindOK {
			p.peerList("peers", t.peers)
		}
	case t.node != nil:
		p.nodeSpec("node", t.node)
	default:
		p.s.Spec.Node = harness.NodeSpec{Name: defaultNodeName, Config: defaultNodeConfig()}
	}
	if t.clients != nil && kindOK {
		p.clientList("clients", t.clients)
	}
	p.checkNames()
	if netClean {
		p.checkAddressing(p.lansNode)
	}
	if t.faults != nil {
		p.faultList("faults", t.faults)
	}
	if t.traffic != nil {
		p.trafficList("traffic", t.traffic)
	}
	switch {
	case t.expect == nil:
	case t.peers != nil:
		p.peerExpectations("expect", t.expect)
	default:
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
		if _, ok := p.servers[name]; ok {
			p.errorf(at, "servers", "%q is both a server and a client or peer", name)
		}
	}
	for name, at := range p.servers {
		if _, ok := p.lans[name]; ok {
			p.errorf(at, "servers", "%q is both a server and a LAN; fault targets would be ambiguous", name)
		}
		if name == p.node {
			p.errorf(at, "servers", "%q is both a server and the media node", name)
		}
	}
	if n, ok := p.lans[p.node]; ok && p.node != "" {
		p.errorf(n, "network.lans", "%q is both a LAN and the media node", p.node)
	}
	p.checkProxyNames()
}
