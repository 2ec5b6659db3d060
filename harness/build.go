package harness

import (
	"fmt"
	"net/netip"

	"github.com/icelab/icelab/vnet"
)

// topology is a built network: the vnet with its routers and hosts by
// name.
type topology struct {
	net     *vnet.Network
	lans    map[string]*vnet.Router
	hosts   map[string]*vnet.Host
	parents map[string]string
	// ipv6 names the hosts on the internet that get an IPv6 address.
	ipv6 map[string]bool
}

// buildNetwork creates the network and LANs of spec, parents first. On the
// fake clock the network handles each instant's packets in an order of its
// own rather than the goroutines' (vnet.Config.Serial), so that a run takes
// the same path every time.
func buildNetwork(spec *Spec, clock Clock) (*topology, error) {
	n, err := vnet.New(vnet.Config{Seed: spec.Seed, Serial: clock == FakeClock})
	if err != nil {
		return nil, err
	}
	t := &topology{net: n, lans: map[string]*vnet.Router{}, hosts: map[string]*vnet.Host{}, parents: map[string]string{}}
	pending := append([]LANSpec(nil), spec.LANs...)
	for len(pending) > 0 {
		progress := false
		rest := pending[:0]
		for _, l := range pending {
			parent := n.Internet()
			if l.Parent != "" {
				p, ok := t.lans[l.Parent]
				if !ok {
					rest = append(rest, l)
					continue
				}
				parent = p
			}
			r, err := parent.AddRouter(l.routerConfig())
			if err != nil {
				_ = n.Close()
				return nil, fmt.Errorf("lan %s: %w", l.Name, err)
			}
			if _, err := r.Firewall().Add(l.Firewall...); err != nil {
				_ = n.Close()
				return nil, fmt.Errorf("lan %s: %w", l.Name, err)
			}
			if err := r.Uplink().SetMTU(l.MTU); err != nil {
				_ = n.Close()
				return nil, fmt.Errorf("lan %s: %w", l.Name, err)
			}
			t.lans[l.Name] = r
			t.parents[l.Name] = l.Parent
			progress = true
		}
		pending = rest
		if !progress {
			_ = n.Close()
			return nil, fmt.Errorf("lan %s: parent %q is not defined (or the parents form a cycle)", pending[0].Name, pending[0].Parent)
		}
	}
	return t, nil
}

// router returns the named LAN's router, or the internet for "".
func (t *topology) router(lan string) (*vnet.Router, error) {
	if lan == "" || lan == "internet" {
		return t.net.Internet(), nil
	}
	r, ok := t.lans[lan]
	if !ok {
		return nil, fmt.Errorf("lan %q is not defined", lan)
	}
	return r, nil
}

// addHost adds a named host on a LAN, at addr unless it is zero.
func (t *topology) addHost(name, lan string, addr netip.Addr, link vnet.Impairment) (*vnet.Host, error) {
	r, err := t.router(lan)
	if err != nil {
		return nil, fmt.Errorf("host %s: %w", name, err)
	}
	h, err := r.AddHost(vnet.HostConfig{Name: name, Addr: addr, Link: link, IPv6: t.ipv6[name]})
	if err != nil {
		return nil, err
	}
	t.hosts[name] = h
	return h, nil
}

// link returns the link a fault targets: a host's, or a LAN's uplink.
func (t *topology) link(target string) (*vnet.Link, error) {
	if h, ok := t.hosts[target]; ok {
		return h.Link(), nil
	}
	if r, ok := t.lans[target]; ok {
		return r.Uplink(), nil
	}
	return nil, fmt.Errorf("no host or lan named %q", target)
}

// addName makes name resolve to addr, parsing addr.
func (t *topology) addName(name, addr string) error {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return fmt.Errorf("name %s: address %q: %w", name, addr, err)
	}
	return t.net.AddName(name, a)
}
