package vnet

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"syscall"
	"time"
)

// IPv6 in the virtual network.
//
// The internet has an IPv6 address space besides its IPv4 one (by default
// 2001:db8::/32, the documentation prefix of RFC 3849); a router's LAN
// carries IPv6 when it is given a prefix ([RouterConfig.IPv6],
// [RouterConfig.LAN6]), by default the next free 2001:db8:0:N::/64. IPv6 is
// routed, not translated, as deployed: every ancestor of a LAN routes its
// prefix down to it. A router whose LAN carries IPv6 guards it with the
// "simple security" of RFC 6092 (section 3.2 for UDP, 3.3 for TCP):
// inbound IPv6 is admitted only as the reply of a flow a LAN host opened,
// the per-flow connection tracking (ip6tables --ctstate
// ESTABLISHED,RELATED) of home routers and phones' carrier gateways.
//
// A router may be a stateful NAT64 (RFC 6146) for its LAN: IPv6 packets to
// 64:ff9b::/96 (RFC 6052's well-known prefix) leave as IPv4 from the
// router's external address, with the router's NAT mapping and filtering
// (endpoint-independent mapping, as RFC 6146 section 3 requires), and the
// replies come back as IPv6 from the synthesized address. Its LAN's
// resolver is a DNS64 (RFC 6147): a name with no IPv6 address resolves
// also to its IPv4 addresses embedded in 64:ff9b::/96. An IPv4 literal is
// no name and asks no resolver: an IPv6-only host cannot reach it, which
// is why 464XLAT (RFC 6877) exists for IPv4 literals and IPv4-only APIs.

// DefaultInternet6 is the internet's IPv6 address space unless
// [Config.Internet6] says otherwise.
var DefaultInternet6 = netip.MustParsePrefix("2001:db8::/32")

// NAT64Prefix is the well-known prefix of RFC 6052 section 2.1 into which
// a NAT64 and DNS64 embed IPv4 addresses.
var NAT64Prefix = netip.MustParsePrefix("64:ff9b::/96")

// Synthesize embeds an IPv4 address in [NAT64Prefix] as RFC 6052 section
// 2.2 does for a /96 prefix: the last 32 bits are the IPv4 address.
func Synthesize(v4 netip.Addr) netip.Addr {
	a := NAT64Prefix.Addr().As16()
	b := v4.Unmap().As4()
	copy(a[12:], b[:])
	return netip.AddrFrom16(a)
}

// extract returns the IPv4 address embedded in an address of NAT64Prefix.
func extract(v6 netip.Addr) netip.Addr {
	a := v6.As16()
	return netip.AddrFrom4([4]byte{a[12], a[13], a[14], a[15]})
}

// source returns the interface's address to send to dst from: its address
// of dst's family, or the zero address when it has none.
func (i *Interface) source(dst netip.Addr) netip.Addr {
	if dst.Is6() {
		return i.addr6
	}
	return i.addr
}

// Addr6 returns the interface's IPv6 address; zero when it has none.
func (i *Interface) Addr6() netip.Addr { return i.addr6 }

// Addr6 returns the IPv6 address of the host's first interface; zero when
// it has none.
func (h *Host) Addr6() netip.Addr { return h.first().addr6 }

// Router's IPv6 side.

// LAN6 returns the router's LAN IPv6 prefix; zero when the LAN carries no
// IPv6.
func (r *Router) LAN6() netip.Prefix { return r.lan6 }

// IPv6Only reports whether the router's LAN is IPv6-only.
func (r *Router) IPv6Only() bool { return r.v6only }

// NAT64 reports whether the router is a NAT64 for its LAN.
func (r *Router) NAT64() bool { return r.nat64 }

// allocate6 reserves addr on the LAN's IPv6 prefix, or picks the next free
// address. The caller holds r.mu.
func (r *Router) allocate6(addr netip.Addr) (netip.Addr, error) {
	if !r.next6.IsValid() {
		r.next6 = r.lan6.Addr().Next().Next() // ::1 is the router's
	}
	return r.reserve(r.lan6, &r.next6, addr)
}

// route6 makes r and every router above it route prefix towards att, the
// attachment of r's child that owns it. The caller holds r.mu.
func (r *Router) route6(prefix netip.Prefix, att *attachment) {
	r.attach(nil, prefix, att)
	for cur := r; cur.parent != nil; cur = cur.parent {
		p := cur.parent
		p.mu.Lock()
		p.attach(nil, prefix, p.routes.Load().addrs[cur.wan])
		p.mu.Unlock()
	}
}

// claimLAN6 reserves an IPv6 LAN prefix, or picks the next free /64 of the
// internet's IPv6 space.
func (n *Network) claimLAN6(p netip.Prefix) (netip.Prefix, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if p.IsValid() {
		p = p.Masked()
		if !p.Addr().Is6() {
			return netip.Prefix{}, fmt.Errorf("IPv6 LAN %s is not IPv6", p)
		}
		if p.Bits() > 120 {
			return netip.Prefix{}, fmt.Errorf("IPv6 LAN %s is too small", p)
		}
		if err := n.checkPrefix(p); err != nil {
			return netip.Prefix{}, fmt.Errorf("IPv6 LAN %s: %w", p, err)
		}
		n.reserved = append(n.reserved, p)
		return p, nil
	}
	// The N-th /64 of the internet's space; the first is its own hosts'.
	space := n.internet.lan6
	base := space.Addr().As16()
	hi := binary.BigEndian.Uint64(base[:8])
	for n.nextLAN6 < 0xffff {
		n.nextLAN6++
		a := base
		binary.BigEndian.PutUint64(a[:8], hi+uint64(n.nextLAN6))
		p = netip.PrefixFrom(netip.AddrFrom16(a), 64)
		if !space.Contains(p.Addr()) {
			break
		}
		if n.checkPrefix(p) == nil {
			n.reserved = append(n.reserved, p)
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free IPv6 /64 left in %s", n.internet.lan6)
}

// guardKey is a flow as the IPv6 firewall tracks it.
func guardKey(pkt *packet, local, remote netip.AddrPort) flowKey {
	return flowKey{pkt.proto, local, remote}
}

// fromLAN6 forwards an IPv6 packet from the LAN that no route on the LAN
// takes: through the NAT64 when it is addressed to NAT64Prefix and the
// router translates, else up, opening its flow in the IPv6 firewall.
func (r *Router) fromLAN6(pkt *packet) {
	dst := pkt.dst.Addr()
	if r.parent == nil {
		r.net.drop(r.name, pkt, "no route to "+dst.String())
		return
	}
	now := time.Now()
	if act, why := r.fw.verdict(Outbound, pkt, pkt.src, pkt.dst, now); act != Accept {
		r.refuse(pkt, act, why)
		return
	}
	if r.nat64 && NAT64Prefix.Contains(dst) {
		src, odst := pkt.src, pkt.dst
		pkt.dst = netip.AddrPortFrom(extract(dst), pkt.dst.Port())
		if reason := r.nat.outbound(pkt, now); reason != "" {
			r.net.drop(r.name, pkt, reason)
			return
		}
		r.emitTranslated(pkt, src, odst)
		r.uplink.send(Up, pkt, toLAN(r.parent))
		return
	}
	if r.guard != nil {
		k := guardKey(pkt, pkt.src, pkt.dst)
		if s := r.guard.observe(k, Outbound, now); s.untracked {
			r.guard.confirm(k, Outbound, now)
		}
	}
	r.uplink.send(Up, pkt, toLAN(r.parent))
}

// fromWAN6 forwards an IPv6 packet from the parent to the LAN: the IPv6
// firewall admits replies only, then the rules apply.
func (r *Router) fromWAN6(pkt *packet) {
	now := time.Now()
	if r.guard != nil {
		s := r.guard.observe(guardKey(pkt, pkt.dst, pkt.src), Inbound, now)
		if s.untracked || !s.established(Inbound) {
			r.net.drop(r.name, pkt, "ipv6 firewall: unsolicited inbound (RFC 6092 simple security)")
			return
		}
	}
	r.deliverInbound(pkt, pkt.src, now)
}

// deliverInbound applies the firewall's rules to an inbound packet whose
// destination is on the LAN and hands it down; from is its remote end as
// the rules see it (its source before any translation).
func (r *Router) deliverInbound(pkt *packet, from netip.AddrPort, now time.Time) {
	if act, why := r.fw.verdict(Inbound, pkt, pkt.dst, from, now); act != Accept {
		r.refuse(pkt, act, why)
		return
	}
	att := r.lookup(pkt.dst.Addr())
	if att == nil {
		r.net.drop(r.name, pkt, "no route to "+pkt.dst.Addr().String())
		return
	}
	r.down(att, pkt)
}

// allocatePair allocates an interface's addresses on r's LAN: an IPv4 one
// unless the LAN is IPv6-only, an IPv6 one when the LAN carries IPv6 and,
// on the internet, when want6 asks. The caller holds r.mu.
func (r *Router) allocatePair(addr, addr6 netip.Addr, want6 bool) (netip.Addr, netip.Addr, error) {
	var v4, v6 netip.Addr
	var err error
	switch {
	case !r.v6only:
		if v4, err = r.allocate(addr); err != nil {
			return v4, v6, err
		}
	case addr.IsValid():
		return v4, v6, fmt.Errorf("LAN of %s is IPv6-only: no IPv4 address %s", r.name, addr)
	}
	switch {
	case r.lan6.IsValid() && (r.parent != nil || want6 || addr6.IsValid()):
		if v6, err = r.allocate6(addr6); err != nil {
			if v4.IsValid() {
				delete(r.used, v4)
			}
			return netip.Addr{}, netip.Addr{}, err
		}
	case addr6.IsValid():
		if v4.IsValid() {
			delete(r.used, v4)
		}
		return netip.Addr{}, netip.Addr{}, fmt.Errorf("LAN of %s carries no IPv6: no address %s", r.name, addr6)
	}
	return v4, v6, nil
}

// addrs returns the interface's addresses, IPv4 first.
func (i *Interface) addrs() []netip.Addr {
	var out []netip.Addr
	for _, a := range []netip.Addr{i.addr, i.addr6} {
		if a.IsValid() {
			out = append(out, a)
		}
	}
	return out
}

// familyName names an address's family.
func familyName(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// checkFamily returns the error of a socket of family fam bound to src
// sending to dst: a socket of the other family cannot (EAFNOSUPPORT), and a
// host without an address of dst's family has no route (ENETUNREACH, what
// an IPv6-only phone gets for an IPv4 literal).
func (h *Host) checkFamily(fam family, src, dst netip.Addr) error {
	if !src.IsUnspecified() && src.Is4() != dst.Is4() || !fam.has(dst) {
		return syscall.EAFNOSUPPORT
	}
	if src.IsUnspecified() && !h.route(netip.Addr{}, dst).source(dst).IsValid() {
		return syscall.ENETUNREACH
	}
	return nil
}
