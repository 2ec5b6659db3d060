package scenarios

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"go.yaml.in/yaml/v3"
)

// internetPrefix is the virtual internet's address space (vnet's default).
var internetPrefix = netip.MustParsePrefix("203.0.113.0/24")

// loopback is reserved by the network: ICE-TCP bridges use it for real.
var loopback = netip.MustParsePrefix("127.0.0.0/8")

// claim is address space taken before a LAN claims its own.
type claim struct {
	prefix netip.Prefix
	owner  string // "LAN corp", "the internet", "this machine's address space"
}

// machinePrefixes returns the address space of this machine's interfaces,
// which no virtual LAN may overlap: an ICE-TCP bridge would dial it for
// real.
func machinePrefixes() []netip.Prefix {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(ipn.IP); ok && ip.Unmap().Is4() {
				ones, _ := ipn.Mask.Size()
				out = append(out, netip.PrefixFrom(ip.Unmap(), ones).Masked())
			}
		}
	}
	return out
}

// checkAddressing does what building the network will: it gives each LAN,
// parents first, its prefix or the next free 10.N.0.0/24, and reports a
// prefix that overlaps another LAN's, the internet, loopback or this
// machine's address space, and a LAN too small for the hosts on it (its
// clients, the media node, and the routers of the LANs behind it).
func (p *parser) checkAddressing(lansNode *yaml.Node) {
	taken := []claim{{internetPrefix, "the internet"}, {loopback, "loopback"}}
	machine := p.loader.HostPrefixes
	if machine == nil {
		machine = machinePrefixes()
	}
	for _, m := range machine {
		taken = append(taken, claim{m, "this machine's address space"})
	}
	next := 0
	for i, l := range p.s.Spec.LANs {
		path := index("network.lans", lanIndex(lansNode, l.Name, i))
		at, explicit := p.prefixNodes[l.Name]
		prefix := l.LANPrefix
		if explicit {
			path = join(path, "prefix")
			if c, ok := overlapping(taken, prefix); ok {
				p.errorf(at, path, "%s overlaps %s %s; give each LAN address space of its own", prefix, c.owner, c.prefix)
				continue
			}
		} else {
			at = p.lans[l.Name]
			found := false
			for next < 255 && !found {
				next++
				prefix = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(next), 0, 0}), 24)
				_, clash := overlapping(taken, prefix)
				found = !clash
			}
			if !found {
				p.errorf(at, join(path, "name"), "no free 10.N.0.0/24 is left for this LAN; give it a prefix")
				continue
			}
		}
		owner := "LAN " + l.Name
		if !explicit {
			owner += ", assigned automatically in file order, parents first,"
		}
		taken = append(taken, claim{prefix, owner})
		hosts := p.hostsOn(l.Name)
		// The network address, the router (.1) and the broadcast address
		// are not for hosts.
		room := 1<<(32-prefix.Bits()) - 3
		if len(hosts) > room {
			p.errorf(at, path, "%s has room for %s besides its router, but %d are on it: %s",
				prefix, plural(room, "host"), len(hosts), strings.Join(hosts, ", "))
		}
	}
}

// hostsOn lists what takes an address on the named LAN.
func (p *parser) hostsOn(lan string) []string {
	var out []string
	for _, c := range p.s.Spec.Clients {
		if c.LAN == lan {
			out = append(out, "client "+c.Name)
		}
	}
	for _, c := range p.s.Spec.Peers {
		if c.LAN == lan {
			out = append(out, "peer "+c.Name)
		}
	}
	for _, s := range p.s.Spec.Servers {
		if s.LAN == lan {
			out = append(out, "server "+s.Name)
		}
	}
	if n := p.s.Spec.Node; n.LAN == lan && p.node != "" {
		out = append(out, "media node "+p.node)
		if n.SecondNode {
			out = append(out, "the second media node")
		}
	}
	for _, x := range p.s.Spec.Proxies {
		if x.LAN == lan {
			out = append(out, "proxy "+x.Name)
		}
	}
	for _, l := range p.s.Spec.LANs {
		if l.Parent == lan {
			out = append(out, "the router of LAN "+l.Name)
		}
	}
	return out
}

func overlapping(taken []claim, p netip.Prefix) (claim, bool) {
	for _, c := range taken {
		if c.prefix.Overlaps(p) {
			return c, true
		}
	}
	return claim{}, false
}

// plural is n and the noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
