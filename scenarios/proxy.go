package scenarios

import (
	"slices"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/middlebox"
	"go.yaml.in/yaml/v3"
)

var (
	proxyKinds   = []string{string(middlebox.HTTPConnect), string(middlebox.SOCKS5)}
	inspectModes = []string{string(middlebox.HTTPOnly), string(middlebox.PassThrough)}
)

// proxyList reads network.proxies: explicit proxies on LANs. It runs after
// network.lans, whatever their order in the file.
func (p *parser) proxyList(path string, v *yaml.Node) {
	p.list(v, path, func(path string, _ int, v *yaml.Node) { p.proxy(path, v) })
}

func (p *parser) proxy(path string, v *yaml.Node) {
	var (
		ps                          harness.ProxySpec
		named, kindSet, lanSet      bool
		addrAt, inspectAt, nameNode *yaml.Node
	)
	ok := p.fields(v, path, map[string]field{
		"name": func(path string, v *yaml.Node) {
			name, ok := p.hostName(v, path)
			if !ok {
				return
			}
			if prev, dup := p.proxies[name]; dup {
				p.errorf(v, path, "proxy %q is defined twice (first at line %d)", name, prev.Line)
				return
			}
			if _, lan := p.lans[name]; lan {
				p.errorf(v, path, "%q is both a proxy and a LAN; fault targets would be ambiguous", name)
				return
			}
			ps.Name, named, nameNode = name, true, v
		},
		"lan": func(path string, v *yaml.Node) {
			if v.Kind == yaml.ScalarNode && (v.Value == "" || v.Value == "internet") {
				p.errorf(v, path, "a proxy sits on a LAN, whose firewall lets it out; want one of: %s", oneOf(mapKeys(p.lans)))
				lanSet = true // reported
				return
			}
			ps.LAN = p.lanRef(path, v)
			lanSet = true
		},
		"addr": func(path string, v *yaml.Node) {
			a, ok := p.ipv4(path, v)
			if !ok {
				return
			}
			ps.Addr, addrAt = a, v
		},
		"kind": func(path string, v *yaml.Node) {
			var s string
			if p.enum(v, path, "proxy kind", proxyKinds, &s) {
				ps.Kind, kindSet = middlebox.Kind(s), true
			}
		},
		"port": func(path string, v *yaml.Node) {
			var port uint16
			if p.port(v, path, &port) {
				ps.Port = int(port)
			}
		},
		"allow_ports": func(path string, v *yaml.Node) {
			for _, port := range p.portList(path, v) {
				ps.AllowPorts = append(ps.AllowPorts, int(port))
			}
		},
		"inspect": func(path string, v *yaml.Node) {
			var s string
			if p.enum(v, path, "TLS inspection", inspectModes, &s) {
				ps.Inspect, inspectAt = middlebox.Inspect(s), v
			}
		},
		"users": func(path string, v *yaml.Node) {
			errs := len(p.errs)
			ps.Users = map[string]string{}
			p.pairs(v, path, func(user string, _, v *yaml.Node) {
				var pass string
				if p.str(v, join(path, user), &pass) {
					ps.Users[user] = pass
				}
			})
			if len(ps.Users) == 0 && len(p.errs) == errs {
				p.errorf(v, path, "empty; want user: password pairs, or leave users out for a proxy without authentication")
			}
		},
		"issuer": func(path string, v *yaml.Node) {
			if p.str(v, path, &ps.Issuer) && ps.Issuer == "" {
				p.errorf(v, path, "empty; want the inspection CA's common name")
			}
		},
	})
	if !ok {
		return
	}
	if !named {
		if _, has := fieldNode(v, "name"); !has {
			p.errorf(v, join(path, "name"), "missing; every proxy needs a name")
		}
		return
	}
	p.proxies[ps.Name] = nameNode
	if !kindSet {
		if _, has := fieldNode(v, "kind"); !has {
			p.errorf(v, join(path, "kind"), "missing; want %s", oneOf(proxyKinds))
		}
		return
	}
	if !lanSet {
		p.errorf(v, join(path, "lan"), "missing; a proxy sits on a LAN, whose firewall lets it out")
		return
	}
	if ps.LAN == "" {
		return // reported
	}
	if inspectAt != nil && ps.Kind != middlebox.HTTPConnect {
		p.errorf(inspectAt, join(path, "inspect"), "TLS inspection is done by an http (CONNECT) proxy, not %s", ps.Kind)
		return
	}
	if ps.Issuer != "" && inspectAt == nil {
		p.errorf(v, join(path, "issuer"), "an issuer needs inspect: http-only or pass-through")
		return
	}
	if addrAt != nil {
		for _, l := range p.s.Spec.LANs {
			if l.Name == ps.LAN && l.LANPrefix.IsValid() && !l.LANPrefix.Contains(ps.Addr) {
				p.errorf(addrAt, join(path, "addr"), "%s is outside LAN %s's prefix %s", ps.Addr, l.Name, l.LANPrefix)
				return
			}
		}
	}
	p.s.Spec.Proxies = append(p.s.Spec.Proxies, ps)
	p.s.place(v, path, "proxy "+ps.Name, "host "+ps.Name)
}

// proxyRef reads a client's proxy: the name of a proxy.
func (p *parser) proxyRef(path string, v *yaml.Node) string {
	var name string
	if !p.str(v, path, &name) {
		return ""
	}
	if _, ok := p.proxies[name]; !ok {
		if len(p.proxies) == 0 {
			p.errorf(v, path, "unknown proxy %q; network.proxies defines none", name)
		} else {
			p.errorf(v, path, "unknown proxy %q; want one of: %s", name, oneOf(mapKeys(p.proxies)))
		}
		return ""
	}
	return name
}

// proxyAuth reads a client's proxy_auth: {username, password}.
func (p *parser) proxyAuth(path string, v *yaml.Node) *middlebox.Credentials {
	var c middlebox.Credentials
	if !p.fields(v, path, map[string]field{
		"username": func(path string, v *yaml.Node) { p.str(v, path, &c.Username) },
		"password": func(path string, v *yaml.Node) { p.str(v, path, &c.Password) },
	}) {
		return nil
	}
	if c.Username == "" {
		p.errorf(v, join(path, "username"), "missing; the proxy user to authenticate as")
		return nil
	}
	return &c
}

// trust reads a client's trust: TLS-inspecting proxies whose CA it has
// installed.
func (p *parser) trust(path string, v *yaml.Node) []string {
	var out []string
	p.list(v, path, func(path string, _ int, v *yaml.Node) {
		name := p.proxyRef(path, v)
		if name == "" {
			return
		}
		i := slices.IndexFunc(p.s.Spec.Proxies, func(ps harness.ProxySpec) bool { return ps.Name == name })
		if i < 0 || p.s.Spec.Proxies[i].Inspect == middlebox.NoInspection {
			p.errorf(v, path, "proxy %q does not inspect TLS; trust names a proxy with inspect: set", name)
			return
		}
		if slices.Contains(out, name) {
			p.errorf(v, path, "%s is listed twice", name)
			return
		}
		out = append(out, name)
	})
	return out
}

// checkProxyNames reports a proxy named like a client or the media node.
func (p *parser) checkProxyNames() {
	for name, at := range p.proxies {
		if _, ok := p.clients[name]; ok {
			p.errorf(at, "network.proxies", "%q is both a proxy and a client", name)
		}
		if name == p.node {
			p.errorf(at, "network.proxies", "%q is both a proxy and the media node", name)
		}
	}
}
