package scenarios

import (
	"slices"

	"github.com/icelab/icelab/archetypes"
	"github.com/icelab/icelab/harness"
	"github.com/pion/stun/v4"
	"github.com/pion/webrtc/v4"
	"go.yaml.in/yaml/v3"
)

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

// networkTypes are the network types a client may gather on; udp6 only
// where its network carries IPv6, which checkClientFamilies checks.
var networkTypes = []string{"udp4", "udp6", "tcp4", "tcp6"}

func (p *parser) networkTypes(path string, v *yaml.Node) []webrtc.NetworkType {
	var out []webrtc.NetworkType
	bad := false
	p.list(v, path, func(path string, _ int, v *yaml.Node) {
		var s string
		if !p.enum(v, path, "network type", networkTypes, &s) {
			bad = true
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
	if out == nil && !bad {
		p.errorf(v, path, "empty; want at least one of %s", oneOf(networkTypes))
	}
	return out
}

func (p *parser) publish(path string, v *yaml.Node) harness.Publish {
	var pub harness.Publish
	// simulcast is video in three layers: it implies video.
	kinds := []string{"audio", "video", "simulcast", "data"}
	set := func(kind string, on bool) {
		switch kind {
		case "audio":
			pub.Audio = on
		case "video":
			pub.Video = on
		case "simulcast":
			pub.Simulcast = on
			pub.Video = pub.Video || on
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

var fallbackPolicies = []string{"livekit", "none", "ice-restart", "transport", "renomination", "force-relay"}

func (p *parser) fallback(path string, v *yaml.Node, def harness.FallbackPolicy) harness.Fallback {
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
			fb.Policy = def
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
	c, ok := p.clientSpec(path, v, "client", nil)
	if !ok {
		return
	}
	if c.Fallback.OtherNode {
		p.s.Spec.Node.SecondNode = true
	}
	p.s.Spec.Clients = append(p.s.Spec.Clients, c)
	p.s.place(v, path, "client "+c.Name, "host "+c.Name)
}

// clientSpec reads a client's (or, with kind "peer", a peer's) connect
// options; extra adds fields of the kind's own.
func (p *parser) clientSpec(path string, v *yaml.Node, kind string, extra map[string]field) (harness.ClientSpec, bool) {
	// A media node's client behaves as LiveKit's SDK does unless it says
	// otherwise; a peer of a peer-to-peer call has pion's defaults.
	def := harness.LiveKit
	if kind == "peer" {
		def = harness.NoFallback
	}
	c := harness.ClientSpec{Policy: webrtc.ICETransportPolicyAll, Fallback: harness.Fallback{Policy: def}}
	named := false
	var (
		profile         *archetypes.Profile
		typesSet, fbSet bool
		mdnsSet, ccSet  bool
		proxyAuthAt     *yaml.Node
		typesAt         *yaml.Node
	)
	handlers := map[string]field{
		"name": func(path string, v *yaml.Node) {
			name, ok := p.hostName(v, path)
			if !ok {
				return
			}
			if prev, dup := p.clients[name]; dup {
				p.errorf(v, path, "%s %q is defined twice (first at line %d)", kind, name, prev.Line)
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
		"mtu":         func(path string, v *yaml.Node) { c.MTU = p.mtu(path, v) },
		"dtls_certificate": func(path string, v *yaml.Node) {
			c.DTLSCertificate = p.dtlsCertificate(path, v)
		},
		"pmtu_discovery": func(path string, v *yaml.Node) { c.PMTUDiscovery = p.pmtuDiscovery(path, v) },
		"policy": func(path string, v *yaml.Node) {
			var s string
			if p.enum(v, path, "ICE transport policy", []string{"all", "relay"}, &s) {
				c.Policy = webrtc.NewICETransportPolicy(s)
			}
		},
		"network_types": func(path string, v *yaml.Node) { c.NetworkTypes, typesSet, typesAt = p.networkTypes(path, v), true, v },
		"publish":       func(path string, v *yaml.Node) { c.Publish = p.publish(path, v) },
		"fallback":      func(path string, v *yaml.Node) { c.Fallback, fbSet = p.fallback(path, v, def), true },
		"proxy":         func(path string, v *yaml.Node) { c.Proxy = p.proxyRef(path, v) },
		"mdns":          func(path string, v *yaml.Node) { mdnsSet = p.boolean(v, path, &c.MDNS) },
		"trust":         func(path string, v *yaml.Node) { c.Trust = p.trust(path, v) },
		"congestion_control": func(path string, v *yaml.Node) {
			var s string
			if p.enum(v, path, "congestion control", []string{"gcc", "none"}, &s) {
				c.CongestionControl, ccSet = harness.CongestionControl(s), true
			}
		},
		"proxy_auth": func(path string, v *yaml.Node) {
			c.ProxyAuth, proxyAuthAt = p.proxyAuth(path, v), v
		},
		"profile": func(path string, v *yaml.Node) {
			var name string
			if !p.str(v, path, &name) {
				return
			}
			pr, err := archetypes.LookupProfile(name)
			if err != nil {
				p.errorf(v, path, "%v", err)
				return
			}
			profile = &pr
		},
	}
	for k, f := range extra {
		handlers[k] = f
	}
	ok := p.fields(v, path, handlers)
	// A profile supplies what a real client of that kind does; the fields
	// the file sets itself win.
	if profile != nil {
		pc := profile.Client(c.Name)
		if !typesSet {
			c.NetworkTypes = pc.NetworkTypes
		}
		if !fbSet {
			c.Fallback = pc.Fallback
		}
		c.Relays = pc.Relays
		if !mdnsSet {
			c.MDNS = pc.MDNS
		}
		c.LibwebrtcStats = pc.LibwebrtcStats
		c.SRTPReplayWindow = pc.SRTPReplayWindow
		if !ccSet {
			c.CongestionControl = pc.CongestionControl
		}
		if !typesSet {
			c.NetworkTypes = p.profileIPv6(c) // in ipv6.go
		}
	}
	if !ok {
		return c, false
	}
	if !named {
		if _, has := fieldNode(v, "name"); !has {
			p.errorf(v, join(path, "name"), "missing; every %s needs a name", kind)
		}
		return c, false
	}
	if proxyAuthAt != nil && c.ProxyAuth != nil && c.Proxy == "" {
		p.errorf(proxyAuthAt, join(path, "proxy_auth"), "credentials without a proxy; set proxy: too")
		return c, false
	}
	p.checkClientFamilies(path, typesAt, c) // in ipv6.go
	return c, true
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
