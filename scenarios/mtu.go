package scenarios

import (
	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/vnet"
	"go.yaml.in/yaml/v3"
)

// The smallest MTU a scenario may give a link: RFC 791 requires every IPv4
// host to accept 576-byte datagrams, and no real access link or tunnel
// carries less.
const minScenarioMTU = 576

// mtu reads a link's MTU: a size (1280) or {size, fragment, icmp_too_big,
// mss_clamp}.
func (p *parser) mtu(path string, v *yaml.Node) vnet.MTU {
	var m vnet.MTU
	size := func(path string, v *yaml.Node) {
		var n int64
		if !p.scalar(v, path, "an MTU in bytes, like 1280") {
			return
		}
		if p.integer(v, path, 0, 1<<31-1, &n) {
			switch {
			case n < minScenarioMTU:
				p.errorf(v, path, "MTU %d is below %d, the smallest datagram every IPv4 host must accept (RFC 791)", n, minScenarioMTU)
			case n > vnet.MaxMTU:
				p.errorf(v, path, "MTU %d is above %d, the largest IPv4 packet", n, vnet.MaxMTU)
			default:
				m.Size = int(n)
			}
		}
	}
	if v.Kind == yaml.ScalarNode {
		size(path, v)
		return m
	}
	icmp := true
	p.fields(v, path, map[string]field{
		"size":         size,
		"fragment":     func(path string, v *yaml.Node) { p.boolean(v, path, &m.Fragment) },
		"icmp_too_big": func(path string, v *yaml.Node) { p.boolean(v, path, &icmp) },
		"mss_clamp":    func(path string, v *yaml.Node) { p.boolean(v, path, &m.ClampMSS) },
	})
	m.NoICMP = !icmp
	if m.Size == 0 {
		if _, has := fieldNode(v, "size"); !has && v.Kind == yaml.MappingNode {
			p.errorf(v, join(path, "size"), "missing; want the MTU in bytes, like 1280")
		}
		return vnet.MTU{}
	}
	return m
}

var dtlsCertificates = []string{"ecdsa-p256", "rsa-2048", "rsa-4096"}

// dtlsCertificate reads the kind of certificate a client presents in DTLS.
func (p *parser) dtlsCertificate(path string, v *yaml.Node) harness.DTLSCertificate {
	var s string
	if !p.enum(v, path, "DTLS certificate", dtlsCertificates, &s) || s == "ecdsa-p256" {
		return harness.DTLSCertECDSA
	}
	return harness.DTLSCertificate(s)
}

var fragmentMatches = []string{"later", "all"}

// fragments reads a rule's fragment match: later (non-first) or all.
func (p *parser) fragments(path string, v *yaml.Node) vnet.FragmentMatch {
	var s string
	if !p.enum(v, path, "fragment match", fragmentMatches, &s) {
		return vnet.AnyPacket
	}
	if s == "later" {
		return vnet.LaterFragments
	}
	return vnet.AllFragments
}

var pmtuModes = []string{"want", "do", "dont"}

// pmtuDiscovery reads how a client's operating system marks DF on UDP:
// want (Linux's default), do or dont.
func (p *parser) pmtuDiscovery(path string, v *yaml.Node) vnet.PMTUDiscovery {
	var s string
	if !p.enum(v, path, "path MTU discovery mode", pmtuModes, &s) {
		return vnet.PMTUDiscoveryWant
	}
	return map[string]vnet.PMTUDiscovery{"want": vnet.PMTUDiscoveryWant, "do": vnet.PMTUDiscoveryDo, "dont": vnet.PMTUDiscoveryDont}[s]
}
