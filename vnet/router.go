package vnet

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// RouterConfig describes a router and the LAN behind it.
type RouterConfig struct {
	// Name names the router, its LAN and its uplink ("office",
	// "office-wan").
	Name string
	// LAN is the LAN's address space; zero picks the next free
	// 10.N.0.0/24. The router is its first address.
	LAN netip.Prefix
	// NAT is the router's address translation; the zero value routes the
	// LAN's addresses unchanged.
	NAT NAT
	// WAN is the router's address on its parent's LAN; zero picks one.
	WAN netip.Addr
	// Uplink is the impairment of the link to the parent, both ways.
	Uplink Impairment

	// IPv6 makes the LAN carry IPv6 besides IPv4: its hosts get an
	// address on LAN6, or on the next free 2001:db8:0:N::/64 of the
	// internet's IPv6 space when LAN6 is zero. IPv6 is routed, not
	// translated, and guarded as RFC 6092 recommends (see ipv6.go).
	IPv6 bool
	// LAN6 is the LAN's IPv6 prefix; setting it implies IPv6.
	LAN6 netip.Prefix
	// IPv6Only makes the LAN IPv6-only, as mobile carriers' are: hosts get
	// no IPv4 address. It implies IPv6.
	IPv6Only bool
	// NAT64 makes the router a stateful NAT64 (RFC 6146) for 64:ff9b::/96
	// and its LAN's resolver a DNS64 (RFC 6147). The translation uses the
	// router's NAT; with NoNAT it gets endpoint-independent mapping and
	// filtering. It implies IPv6.
	NAT64 bool
	// IPv6Open turns off the RFC 6092 firewall of the LAN's IPv6: inbound
	// flows are admitted unsolicited, as on a CPE with the firewall off.
	IPv6Open bool
}

// HostConfig describes a host attached to a router's LAN.
type HostConfig struct {
	// Name names the host and its first interface's link ("alice",
	// "alice-eth0").
	Name string
	// Addr is the host's address on the LAN; zero picks one.
	Addr netip.Addr
	// PublicAddr is the host's own external address behind a 1:1 NAT;
	// zero picks one on the parent's LAN.
	PublicAddr netip.Addr
	// Link is the impairment of the host's link, both ways.
	Link Impairment
	// IPv6 gives a host on the internet an IPv6 address too (hosts on a
	// LAN that carries IPv6 always get one).
	IPv6 bool
	// Addr6 is the host's IPv6 address; zero picks one when the host gets
	// one.
	Addr6 netip.Addr
}

// Router forwards packets between its LAN and its parent's, applying its
// firewall and NAT to everything that crosses between the two.
type Router struct {
	net    *Network
	name   string
	lan    netip.Prefix
	parent *Router
	uplink *Link
	wan    netip.Addr
	nat    *natTable
	fw     *Firewall

	lan6   netip.Prefix // zero: the LAN carries no IPv6
	v6only bool         // hosts get no IPv4 address
	nat64  bool         // NAT64 for NAT64Prefix, DNS64 for the LAN
	guard  *flowTable   // RFC 6092 simple security; nil when open
	next6  netip.Addr

	mu     sync.Mutex // serialises topology changes
	used   map[netip.Addr]bool
	next   netip.Addr
	routes atomic.Pointer[routeTable]
	seed   uint64 // orders its packets among an instant's (serial.go)
}

// routeTable is a router's immutable view of its LAN, replaced whole on
// every topology change so forwarding takes no lock.
type routeTable struct {
	addrs   map[netip.Addr]*attachment
	subnets []subnetRoute
}

type subnetRoute struct {
	prefix netip.Prefix
	att    *attachment
}

// attachment is something on a router's LAN: a host's interface or a
// child router.
type attachment struct {
	link  *Link
	iface *Interface
	child *Router
}

func newRouter(n *Network, name string, lan, lan6 netip.Prefix, parent *Router) (*Router, error) {
	r := &Router{
		net:    n,
		name:   name,
		lan:    lan,
		parent: parent,
		fw:     newFirewall(name),
		used:   make(map[netip.Addr]bool),
		seed:   n.nodeSeed(name),
	}
	gw := lan.Addr().Next()
	if !lan.Contains(gw) {
		return nil, fmt.Errorf("LAN %s has no room for a router address", lan)
	}
	r.used[gw] = true
	r.next = gw.Next()
	if lan6.IsValid() {
		r.lan6 = lan6
		r.used[lan6.Addr().Next()] = true
	}
	r.routes.Store(&routeTable{addrs: map[netip.Addr]*attachment{}})
	return r, nil
}

// Name returns the router's name.
func (r *Router) Name() string { return r.name }

// LAN returns the router's LAN address space.
func (r *Router) LAN() netip.Prefix { return r.lan }

// Gateway returns the router's own address on its LAN.
func (r *Router) Gateway() netip.Addr { return r.lan.Addr().Next() }

// WAN returns the router's address on its parent's LAN: its external
// address under NAPT. The internet router has none.
func (r *Router) WAN() netip.Addr { return r.wan }

// Uplink returns the link to the parent router; nil for the internet.
func (r *Router) Uplink() *Link { return r.uplink }

// Firewall returns the router's firewall.
func (r *Router) Firewall() *Firewall { return r.fw }

// Parent returns the router above this one; nil for the internet.
func (r *Router) Parent() *Router { return r.parent }

// ExternalAddr returns the address the internet sees for a LAN address:
// the router's WAN address under NAPT, the host's own one under 1:1 NAT,
// the address itself without NAT. Nested routers translate in turn.
func (r *Router) ExternalAddr(lanAddr netip.Addr) (netip.Addr, bool) {
	if lanAddr.Is6() {
		return lanAddr, true // IPv6 is routed, not translated
	}
	for rt := r; rt.parent != nil; rt = rt.parent {
		switch {
		case rt.nat == nil:
		case rt.nat.cfg.Mode == OneToOne:
			ext, ok := rt.nat.external(lanAddr)
			if !ok {
				return netip.Addr{}, false
			}
			lanAddr = ext
		default:
			lanAddr = rt.wan
		}
	}
	return lanAddr, true
}

// Mappings returns how many dynamic NAT mappings are live.
func (r *Router) Mappings() int {
	if r.nat == nil {
		return 0
	}
	return r.nat.mappings()
}

// allocate reserves addr on the LAN, or picks the next free address.
func (r *Router) allocate(addr netip.Addr) (netip.Addr, error) {
	return r.reserve(r.lan, &r.next, addr)
}

// reserve reserves addr in prefix, or picks the next free address from
// *next on; an IPv4 LAN's broadcast address is never given out.
func (r *Router) reserve(prefix netip.Prefix, next *netip.Addr, addr netip.Addr) (netip.Addr, error) {
	if addr.IsValid() {
		if !prefix.Contains(addr) {
			return netip.Addr{}, fmt.Errorf("address %s is outside %s's LAN %s", addr, r.name, prefix)
		}
		if r.used[addr] {
			return netip.Addr{}, fmt.Errorf("address %s is already used on %s", addr, r.name)
		}
		r.used[addr] = true
		return addr, nil
	}
	for a := *next; prefix.Contains(a); a = a.Next() {
		if !r.used[a] && (a.Is6() || a != lastAddr(prefix)) {
			r.used[a] = true
			*next = a.Next()
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("LAN %s of %s is full", prefix, r.name)
}

// lastAddr returns the broadcast address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	bits := p.Bits()
	for i := 0; i < 4; i++ {
		for b := 0; b < 8; b++ {
			if i*8+b >= bits {
				a[i] |= 0x80 >> b
			}
		}
	}
	return netip.AddrFrom4(a)
}

// attach publishes new routes.
func (r *Router) attach(addrs []netip.Addr, prefix netip.Prefix, att *attachment) {
	old := r.routes.Load()
	rt := &routeTable{addrs: make(map[netip.Addr]*attachment, len(old.addrs)+len(addrs)), subnets: old.subnets}
	for a, at := range old.addrs {
		rt.addrs[a] = at
	}
	for _, a := range addrs {
		rt.addrs[a] = att
	}
	if prefix.IsValid() {
		rt.subnets = append(append([]subnetRoute(nil), old.subnets...), subnetRoute{prefix, att})
	}
	r.routes.Store(rt)
}

// detach removes an address from the LAN's routes and frees it. The
// caller holds r.mu.
func (r *Router) detach(addr netip.Addr) {
	old := r.routes.Load()
	rt := &routeTable{addrs: make(map[netip.Addr]*attachment, len(old.addrs)), subnets: old.subnets}
	for a, at := range old.addrs {
		if a != addr {
			rt.addrs[a] = at
		}
	}
	r.routes.Store(rt)
	delete(r.used, addr)
}

func (r *Router) lookup(dst netip.Addr) *attachment {
	rt := r.routes.Load()
	if att, ok := rt.addrs[dst]; ok {
		return att
	}
	for _, s := range rt.subnets {
		if s.prefix.Contains(dst) {
			return s.att
		}
	}
	return nil
}

// AddRouter adds a router whose WAN side is on this router's LAN.
func (r *Router) AddRouter(cfg RouterConfig) (*Router, error) {
	n := r.net
	if err := n.claimName(cfg.Name); err != nil {
		return nil, fmt.Errorf("vnet: router: %w", err)
	}
	fail := func(err error) (*Router, error) { return nil, fmt.Errorf("vnet: router %s: %w", cfg.Name, err) }
	if err := cfg.NAT.validate(); err != nil {
		return fail(err)
	}
	if err := cfg.Uplink.Validate(); err != nil {
		return fail(err)
	}
	lan, err := n.claimLAN(cfg.LAN)
	if err != nil {
		return fail(err)
	}
	var lan6 netip.Prefix
	if cfg.IPv6 || cfg.IPv6Only || cfg.NAT64 || cfg.LAN6.IsValid() {
		if !r.lan6.IsValid() {
			return fail(fmt.Errorf("an IPv6 LAN needs IPv6 upstream, and %s's LAN carries none", r.name))
		}
		if lan6, err = n.claimLAN6(cfg.LAN6); err != nil {
			return fail(err)
		}
	}
	child, err := newRouter(n, cfg.Name, lan, lan6, r)
	if err != nil {
		return fail(err)
	}
	child.v6only, child.nat64 = cfg.IPv6Only, cfg.NAT64
	if lan6.IsValid() && !cfg.IPv6Open {
		child.guard = &flowTable{flows: make(map[flowKey]*flowState)}
	}
	if cfg.NAT64 && cfg.NAT.Mode == NoNAT {
		// RFC 6146 section 3: endpoint-independent mapping; of the
		// filterings it allows, the endpoint-independent one.
		cfg.NAT = NAT{Mode: NAPT, Mapping: EndpointIndependent, Filtering: EndpointIndependent}
	}
	if cfg.NAT64 && cfg.NAT.Mode != NAPT {
		return fail(errors.New("a NAT64 translates with NAPT"))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	wan, err := r.allocate(cfg.WAN)
	if err != nil {
		return fail(err)
	}
	child.wan = wan
	child.uplink = newLink(n, cfg.Name+"-wan")
	if err := child.uplink.Impair(cfg.Uplink); err != nil {
		return fail(err)
	}
	att := &attachment{link: child.uplink, child: child}
	if cfg.NAT.Mode != NoNAT {
		child.nat = newNATTable(cfg.NAT, wan)
		r.attach([]netip.Addr{wan}, netip.Prefix{}, att)
	} else {
		r.attach([]netip.Addr{wan}, lan, att)
	}
	if lan6.IsValid() {
		r.route6(lan6, att)
	}
	return child, nil
}

// claimLAN reserves a LAN prefix, or picks the next free 10.N.0.0/24.
func (n *Network) claimLAN(p netip.Prefix) (netip.Prefix, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if p.IsValid() {
		p = p.Masked()
		if !p.Addr().Is4() {
			return netip.Prefix{}, fmt.Errorf("LAN %s is not IPv4 (an IPv6 prefix goes in LAN6)", p)
		}
		if err := n.checkPrefix(p); err != nil {
			return netip.Prefix{}, fmt.Errorf("LAN %s: %w", p, err)
		}
		if p.Bits() > 30 {
			return netip.Prefix{}, fmt.Errorf("LAN %s is too small", p)
		}
		n.reserved = append(n.reserved, p)
		return p, nil
	}
	for n.nextLAN < 256 {
		n.nextLAN++
		p = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(n.nextLAN), 0, 0}), 24)
		if n.checkPrefix(p) == nil {
			n.reserved = append(n.reserved, p)
			return p, nil
		}
	}
	return netip.Prefix{}, errors.New("no free 10.N.0.0/24 LAN left")
}

// AddHost adds a host with one interface on this router's LAN.
func (r *Router) AddHost(cfg HostConfig) (*Host, error) {
	n := r.net
	if err := n.claimName(cfg.Name); err != nil {
		return nil, fmt.Errorf("vnet: host: %w", err)
	}
	h := &Host{net: n, name: cfg.Name}
	h.seed = n.nodeSeed(cfg.Name)
	h.ports.salt = h.seed
	h.tcp.ports.salt = mix(h.seed)
	want6 := cfg.IPv6 || cfg.Addr6.IsValid()
	if err := h.attach(r, cfg.Addr, cfg.PublicAddr, cfg.Addr6, want6, cfg.Link); err != nil {
		return nil, fmt.Errorf("vnet: host %s: %w", cfg.Name, err)
	}
	n.mu.Lock()
	n.hosts = append(n.hosts, h)
	n.mu.Unlock()
	return h, nil
}

// fromLAN forwards a packet that arrived from the LAN side.
func (r *Router) fromLAN(pkt *packet) {
	if pkt.hops++; pkt.hops > maxHops {
		r.net.drop(r.name, pkt, "hop limit exceeded")
		return
	}
	dst := pkt.dst.Addr()
	if att := r.lookup(dst); att != nil {
		r.down(att, pkt)
		return
	}
	if dst.Is6() {
		r.fromLAN6(pkt) // in ipv6.go
		return
	}
	if r.nat != nil && r.nat.isExternal(dst) {
		r.hairpin(pkt)
		return
	}
	if r.parent == nil {
		r.net.drop(r.name, pkt, "no route to "+dst.String())
		return
	}
	now := time.Now()
	if act, why := r.fw.verdict(Outbound, pkt, pkt.src, pkt.dst, now); act != Accept {
		r.refuse(pkt, act, why)
		return
	}
	if r.nat != nil {
		src := pkt.src
		if reason := r.nat.outbound(pkt, now); reason != "" {
			r.net.drop(r.name, pkt, reason)
			return
		}
		r.emitTranslated(pkt, src, pkt.dst)
	}
	r.uplink.send(Up, pkt, toLAN(r.parent))
}

// fromWAN forwards a packet that arrived from the parent for one of this
// router's external addresses.
func (r *Router) fromWAN(pkt *packet) {
	if pkt.hops++; pkt.hops > maxHops {
		r.net.drop(r.name, pkt, "hop limit exceeded")
		return
	}
	if pkt.dst.Addr().Is6() {
		r.fromWAN6(pkt) // in ipv6.go
		return
	}
	now := time.Now()
	if r.nat != nil {
		src, dst := pkt.src, pkt.dst
		if reason := r.nat.inbound(pkt, now); reason != "" {
			r.refuse(pkt, Drop, reason)
			return
		}
		if pkt.dst.Addr().Is6() { // a NAT64 mapping: the reply comes from the synthesized address
			pkt.src = netip.AddrPortFrom(Synthesize(pkt.src.Addr()), pkt.src.Port())
		}
		r.emitTranslated(pkt, src, dst)
	}
	r.deliverInbound(pkt, pkt.src, now)
}

// hairpin sends a LAN packet addressed to the router's own external
// address back into the LAN, translating both ends as RFC 4787 REQ-9
// requires.
func (r *Router) hairpin(pkt *packet) {
	if !r.nat.cfg.Hairpinning {
		r.net.drop(r.name, pkt, "nat: hairpinning not supported")
		return
	}
	now := time.Now()
	src, dst := pkt.src, pkt.dst
	// A hairpinned packet leaves and re-enters through the firewall, as
	// traffic from a cloud VM to its own public address passes the
	// security group on the way back in.
	if act, why := r.fw.verdict(Outbound, pkt, pkt.src, pkt.dst, now); act != Accept {
		r.refuse(pkt, act, why)
		return
	}
	if reason := r.nat.outbound(pkt, now); reason != "" {
		r.net.drop(r.name, pkt, reason)
		return
	}
	translatedSrc := pkt.src
	if reason := r.nat.inbound(pkt, now); reason != "" {
		r.net.drop(r.name, pkt, reason)
		return
	}
	r.emitTranslated(pkt, src, dst)
	r.deliverInbound(pkt, translatedSrc, now)
}

func (r *Router) down(att *attachment, pkt *packet) {
	if att.child != nil {
		att.link.send(Down, pkt, toWAN(att.child))
		return
	}
	att.link.send(Down, pkt, toHost(att.iface.host))
}

// refuse ends a packet that a rule or the NAT stopped, telling the sender
// when the action is Reject.
func (r *Router) refuse(pkt *packet, act Action, why string) {
	if act == Reject {
		r.net.taps.emit(r.name, pkt, Rejected, why)
		if pkt.proto == TCP {
			r.rejectTCP(pkt) // a reset segment, in tcp_nat.go
		} else if pkt.sender != nil {
			pkt.sender.refused(pkt)
		}
		pkt.release()
		return
	}
	r.net.drop(r.name, pkt, why)
}

func (r *Router) emitTranslated(pkt *packet, oldSrc, oldDst netip.AddrPort) {
	if !r.net.taps.wants(Translated) {
		return
	}
	r.net.taps.emitEvent(Event{
		Packet: r.net.taps.number(pkt), Time: time.Now(), Where: r.name, Proto: pkt.proto, Src: oldSrc, Dst: oldDst,
		NewSrc: pkt.src, NewDst: pkt.dst, Class: pkt.class(), Flags: pkt.seg.Flags,
		Seq: pkt.seg.Seq, Ack: pkt.seg.Ack, Window: pkt.seg.Window,
		Size: pkt.size(), Verdict: Translated, Payload: pkt.payload,
		MSS: pkt.seg.MSS, Fragment: pkt.fragmentInfo(),
	})
}

// AddDoubleNAT adds two routers in a row below r, outer then inner, and
// returns the inner one: hosts added to it sit behind both NATs (cone
// behind cone, cone behind symmetric, a carrier-grade NAT behind a home
// router).
func (r *Router) AddDoubleNAT(name string, outer, inner NAT) (*Router, error) {
	o, err := r.AddRouter(RouterConfig{Name: name + "-outer", NAT: outer})
	if err != nil {
		return nil, err
	}
	return o.AddRouter(RouterConfig{Name: name, NAT: inner})
}
