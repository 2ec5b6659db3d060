package vnet

import (
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// Behavior is an RFC 4787 mapping or filtering behaviour: what a NAT
// keys its mappings, or its inbound filter, on.
type Behavior uint8

// RFC 4787 behaviours.
const (
	// EndpointIndependent: one mapping (or filter) for all remote endpoints.
	EndpointIndependent Behavior = iota
	// AddressDependent: per remote IP address.
	AddressDependent
	// AddressPortDependent: per remote IP address and port.
	AddressPortDependent
)

func (b Behavior) String() string {
	switch b {
	case EndpointIndependent:
		return "endpoint-independent"
	case AddressDependent:
		return "address-dependent"
	case AddressPortDependent:
		return "address-and-port-dependent"
	}
	return fmt.Sprintf("behavior(%d)", uint8(b))
}

// mask reduces a remote endpoint to the part that behaviour b depends on.
func (b Behavior) mask(remote netip.AddrPort) netip.AddrPort {
	switch b {
	case EndpointIndependent:
		return netip.AddrPort{}
	case AddressDependent:
		return netip.AddrPortFrom(remote.Addr(), 0)
	}
	return remote
}

// NATMode says whether and how a router translates addresses.
type NATMode uint8

// NAT modes.
const (
	// NoNAT routes the LAN's addresses unchanged: they are public.
	NoNAT NATMode = iota
	// NAPT shares the router's one external address among the LAN's hosts,
	// translating ports (the home and office router).
	NAPT
	// OneToOne gives each LAN host its own external address with ports
	// unchanged and no filtering (a cloud VM without a public IP).
	OneToOne
)

// NAT describes a router's address translation after RFC 4787 (UDP) and
// RFC 5382 (TCP). Use a preset such as [FullCone] or [Symmetric] and change
// what differs.
type NAT struct {
	Mode    NATMode
	Mapping Behavior
	// Filtering decides which remotes may send in through a mapping: those
	// the internal endpoint has sent to, masked by the behaviour. Each such
	// permission expires one mapping lifetime after the last packet out to
	// that remote, even while the mapping itself lives on through traffic
	// to others, as connection tracking forgets an idle flow.
	Filtering Behavior
	// Hairpinning lets a LAN host reach another through the router's
	// external address.
	Hairpinning bool
	// PortPreservation keeps the internal port as the external one when it
	// is free.
	PortPreservation bool
	// MappingLifetime is how long a UDP mapping lives after its last
	// outbound packet; zero means two minutes (RFC 4787 REQ-5). An expired
	// mapping frees its port.
	MappingLifetime time.Duration
	// TCPEstablishedLifetime is how long the mapping of an established TCP
	// connection lives idle; zero means 2 h 4 min (RFC 5382 REQ-5). TCP
	// mappings are made by outbound SYNs only and refreshed both ways.
	TCPEstablishedLifetime time.Duration
	// TCPTransitoryLifetime is how long a TCP mapping lives idle while its
	// connection opens or after it closes; zero means 4 minutes.
	TCPTransitoryLifetime time.Duration
	// InboundRefresh makes inbound packets refresh a mapping too.
	InboundRefresh bool
	// Forwards are static port forwards; they never expire and accept
	// packets from anywhere.
	Forwards []Forward
	// PortMin and PortMax bound the external ports NAPT allocates; zero
	// means 1024 to 65535.
	PortMin, PortMax uint16
	// PortBlock, when set, gives each internal address a block of this many
	// consecutive external ports, handed out on its first mapping, and
	// allocates its mappings only from that block, as carrier-grade NATs
	// with port block allocation do (RFC 6888 REQ-4, RFC 7422): a host that
	// opens more mappings than its block holds gets no more ports. A block
	// stays with its address for the network's life.
	PortBlock uint16
	// ConntrackClash models the connection tracking beneath Linux's
	// masquerade when nothing drops the router's unsolicited WAN input: a
	// UDP datagram from a remote endpoint R to an external port P that no
	// mapping admits still leaves a conntrack entry (R → P), which lives
	// 30 s after the last such datagram (nf_conntrack_udp_timeout). While
	// it lives, a LAN flow to R cannot take P: nf_nat_core.c's
	// get_unique_tuple keeps the source port only when nf_nat_used_tuple
	// finds the reply tuple (R → P) unused, and otherwise picks another
	// port. That flow gets an external port of its own, so the mapping
	// becomes destination-dependent for R alone. It applies to NAPT with
	// endpoint-independent mapping only.
	ConntrackClash bool
}

// Forward forwards a protocol's external port to an internal endpoint.
type Forward struct {
	Proto        Proto
	ExternalPort uint16
	Internal     netip.AddrPort
}

// FullCone is RFC 4787 endpoint-independent mapping and filtering.
func FullCone() NAT {
	return NAT{Mode: NAPT, Mapping: EndpointIndependent, Filtering: EndpointIndependent, Hairpinning: true, PortPreservation: true}
}

// AddressRestricted is endpoint-independent mapping with address-dependent
// filtering.
func AddressRestricted() NAT {
	return NAT{Mode: NAPT, Mapping: EndpointIndependent, Filtering: AddressDependent, Hairpinning: true, PortPreservation: true}
}

// PortRestricted is endpoint-independent mapping with address-and-port
// dependent filtering: the most common home router.
func PortRestricted() NAT {
	return NAT{Mode: NAPT, Mapping: EndpointIndependent, Filtering: AddressPortDependent, Hairpinning: true, PortPreservation: true}
}

// Symmetric is address-and-port-dependent mapping and filtering: every
// remote endpoint gets its own external port, so STUN-learnt addresses are
// useless to anyone else.
func Symmetric() NAT {
	return NAT{Mode: NAPT, Mapping: AddressPortDependent, Filtering: AddressPortDependent}
}

// CarrierGrade is a carrier-grade NAT (RFC 6888) as mobile and fixed-line
// carriers deploy them between the subscriber's router, addressed from the
// RFC 6598 shared space 100.64.0.0/10, and the internet: endpoint-
// independent mapping (RFC 6888 REQ-1 by way of RFC 4787 REQ-1),
// address-and-port-dependent filtering, ports handed out in blocks of 512
// per subscriber (port block allocation, RFC 7422), no port preservation,
// and no hairpinning: RFC 4787 REQ-9 asks for it, but many deployed CGNs do
// not, so two subscribers of one carrier cannot reach each other through
// their shared public address. For the symmetric CGNs also met in the field,
// set Mapping to AddressPortDependent.
func CarrierGrade() NAT {
	return NAT{Mode: NAPT, Mapping: EndpointIndependent, Filtering: AddressPortDependent, PortBlock: 512}
}

// LinuxMasquerade is a Linux router whose NAT is nftables' masquerade (or
// iptables' MASQUERADE) and whose firewall lets unsolicited WAN input reach
// the router itself (a plain `masquerade` rule and nothing else):
// conntrack keeps the source port when it can and admits only replies, so
// it behaves as port-restricted with port preservation, until an
// unsolicited datagram from a remote claims a tuple (see
// [NAT.ConntrackClash]); and it does not hairpin (masquerade rewrites only
// the source; reaching the router's own address needs a separate DNAT
// rule). A router that drops unsolicited WAN input, as OpenWrt's default
// zone policy does, never lets the clash happen: set ConntrackClash to
// false, and it is [PortRestricted] without hairpinning.
func LinuxMasquerade() NAT {
	return NAT{Mode: NAPT, Mapping: EndpointIndependent, Filtering: AddressPortDependent, PortPreservation: true, ConntrackClash: true}
}

// CloudOneToOne is the 1:1 NAT of a cloud VM without a public IP: each
// host's private address maps to its own external address.
func CloudOneToOne() NAT {
	return NAT{Mode: OneToOne, Hairpinning: true}
}

func (c NAT) lifetime() time.Duration {
	if c.MappingLifetime > 0 {
		return c.MappingLifetime
	}
	return 2 * time.Minute
}

func (c NAT) portRange() (uint16, uint16) {
	lo, hi := c.PortMin, c.PortMax
	if lo == 0 {
		lo = 1024
	}
	if hi == 0 {
		hi = 65535
	}
	return lo, hi
}

func (c NAT) validate() error {
	if c.Mode > OneToOne {
		return fmt.Errorf("unknown NAT mode %d", c.Mode)
	}
	if c.Mapping > AddressPortDependent || c.Filtering > AddressPortDependent {
		return fmt.Errorf("unknown NAT behaviour")
	}
	if c.MappingLifetime < 0 || c.TCPEstablishedLifetime < 0 || c.TCPTransitoryLifetime < 0 {
		return fmt.Errorf("mapping lifetime %v is negative", c.MappingLifetime)
	}
	lo, hi := c.portRange()
	if lo > hi {
		return fmt.Errorf("NAT port range %d-%d is reversed", lo, hi)
	}
	if c.ConntrackClash && (c.Mode != NAPT || c.Mapping != EndpointIndependent) {
		return fmt.Errorf("conntrack clash needs a NAPT with endpoint-independent mapping")
	}
	if int(c.PortBlock) > int(hi)-int(lo)+1 {
		return fmt.Errorf("NAT port block of %d ports is larger than its port range %d-%d", c.PortBlock, lo, hi)
	}
	for i, f := range c.Forwards {
		if f.Proto != UDP && f.Proto != TCP {
			return fmt.Errorf("forward %d: protocol must be udp or tcp", i)
		}
		if f.ExternalPort == 0 || !f.Internal.IsValid() || f.Internal.Port() == 0 {
			return fmt.Errorf("forward %d: external port and internal address:port are required", i)
		}
	}
	return nil
}

// natTable is a router's translation state.
type natTable struct {
	cfg      NAT
	lifetime time.Duration
	extIP    netip.Addr // the NAPT address

	mu        sync.Mutex
	out       map[outKey]*mapping
	in        map[inKey]*mapping
	static    map[staticKey]*mapping
	toExt     map[netip.Addr]netip.Addr // 1:1
	toInt     map[netip.Addr]netip.Addr // 1:1
	cursor    [3]uint16                 // next port to try, by proto
	lastSweep time.Time
	blocks    map[netip.Addr]uint16 // first port of each internal address's block (PortBlock)
	nextBlock int                   // first port of the next block to hand out
	// claims are the conntrack entries unsolicited inbound datagrams left
	// (ConntrackClash), with when each was last refreshed.
	claims map[claimKey]time.Time
}

// claimKey is an unsolicited inbound flow's conntrack entry: which remote
// sent to which external port.
type claimKey struct {
	proto  Proto
	port   uint16
	remote netip.AddrPort
}

// claimLifetime is how long an unreplied UDP conntrack entry lives: Linux's
// nf_conntrack_udp_timeout default.
const claimLifetime = 30 * time.Second

type outKey struct {
	proto    Proto
	internal netip.AddrPort
	remote   netip.AddrPort // masked by the mapping behaviour
	// flow marks a mapping for one remote endpoint only, made when the
	// endpoint-independent one's port was claimed (ConntrackClash).
	flow bool
}

type inKey struct {
	proto Proto
	port  uint16
}

type staticKey struct {
	proto    Proto
	internal netip.AddrPort
}

type mapping struct {
	key      outKey
	external netip.AddrPort
	// permits holds the remotes the internal endpoint has sent to, masked
	// by the filtering behaviour, with when it last did.
	permits map[netip.AddrPort]time.Time
	lastOut time.Time
	static  bool
	tcp     tcpMapState // TCP only, in tcp_nat.go
}

func newNATTable(cfg NAT, extIP netip.Addr) *natTable {
	t := &natTable{
		cfg:      cfg,
		lifetime: cfg.lifetime(),
		extIP:    extIP,
		out:      make(map[outKey]*mapping),
		in:       make(map[inKey]*mapping),
		static:   make(map[staticKey]*mapping),
		toExt:    make(map[netip.Addr]netip.Addr),
		toInt:    make(map[netip.Addr]netip.Addr),
		blocks:   make(map[netip.Addr]uint16),
		claims:   make(map[claimKey]time.Time),
	}
	lo, _ := cfg.portRange()
	t.nextBlock = int(lo)
	for i := range t.cursor {
		t.cursor[i] = lo
	}
	for _, f := range cfg.Forwards {
		m := &mapping{
			key:      outKey{proto: f.Proto, internal: f.Internal},
			external: netip.AddrPortFrom(extIP, f.ExternalPort),
			static:   true,
		}
		t.in[inKey{f.Proto, f.ExternalPort}] = m
		t.static[staticKey{f.Proto, f.Internal}] = m
	}
	return t
}

// bindOneToOne maps an internal address to its own external one.
func (t *natTable) bindOneToOne(internal, external netip.Addr) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.toExt[internal] = external
	t.toInt[external] = internal
}

// external returns the external address of an internal one under 1:1 NAT.
func (t *natTable) external(internal netip.Addr) (netip.Addr, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ext, ok := t.toExt[internal]
	return ext, ok
}

// outbound translates pkt's source as it leaves the LAN. It returns a
// reason when the packet cannot be translated.
func (t *natTable) outbound(pkt *packet, now time.Time) (reason string) {
	if t.cfg.Mode == OneToOne {
		ext, ok := t.lookupExt(pkt.src.Addr())
		if !ok {
			return "nat: no external address for " + pkt.src.Addr().String()
		}
		pkt.src = netip.AddrPortFrom(ext, pkt.src.Port())
		return ""
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.static[staticKey{pkt.proto, pkt.src}]
	if m == nil {
		key := outKey{proto: pkt.proto, internal: pkt.src, remote: t.cfg.Mapping.mask(pkt.dst)}
		m = t.out[key]
		if m != nil && t.expired(m, now) {
			t.remove(m)
			m = nil
		}
		if t.cfg.ConntrackClash && pkt.proto == UDP {
			var why string
			if m, why = t.clashing(key, m, pkt, now); why != "" {
				return why
			}
		}
		if m == nil {
			if pkt.proto == TCP && pkt.seg.Flags&FlagSYN == 0 {
				return "nat: no mapping for a TCP segment without SYN"
			}
			port, why := t.allocate(pkt.proto, pkt.src, now)
			if why != "" {
				return why
			}
			m = &mapping{key: key, external: netip.AddrPortFrom(t.extIP, port)}
			t.out[key] = m
			t.in[inKey{pkt.proto, port}] = m
		}
	}
	m.lastOut = now
	if pkt.proto == TCP {
		m.tcp.track(pkt.seg.Flags, Outbound)
	}
	if t.cfg.Filtering != EndpointIndependent {
		if m.permits == nil {
			m.permits = make(map[netip.AddrPort]time.Time)
		}
		m.permits[t.cfg.Filtering.mask(pkt.dst)] = now
	}
	pkt.src = m.external
	return ""
}

// clashing returns the mapping a UDP datagram from pkt.src to pkt.dst
// leaves by under ConntrackClash: the flow's own mapping when an earlier
// clash made one, a new one when the port the endpoint-independent mapping
// m has (or port preservation would give) is claimed by pkt.dst, else m.
func (t *natTable) clashing(key outKey, m *mapping, pkt *packet, now time.Time) (*mapping, string) {
	fkey := outKey{proto: pkt.proto, internal: pkt.src, remote: pkt.dst, flow: true}
	if f := t.out[fkey]; f != nil {
		if !t.expired(f, now) {
			return f, ""
		}
		t.remove(f)
	}
	port := pkt.src.Port()
	if m != nil {
		port = m.external.Port()
	}
	at, claimed := t.claims[claimKey{pkt.proto, port, pkt.dst}]
	if !claimed || now.Sub(at) >= claimLifetime {
		return m, ""
	}
	// get_unique_tuple's fallback: any free port, not the preserved one.
	p, why := t.allocate(pkt.proto, netip.AddrPortFrom(pkt.src.Addr(), 0), now)
	if why != "" {
		return nil, why
	}
	f := &mapping{key: fkey, external: netip.AddrPortFrom(t.extIP, p)}
	t.out[fkey] = f
	t.in[inKey{pkt.proto, p}] = f
	return f, ""
}

// claim records the conntrack entry an unsolicited inbound UDP datagram
// leaves (ConntrackClash).
func (t *natTable) claim(pkt *packet, now time.Time) {
	if t.cfg.ConntrackClash && pkt.proto == UDP && pkt.dst.Addr() == t.extIP {
		t.claims[claimKey{pkt.proto, pkt.dst.Port(), pkt.src}] = now
	}
}

func (t *natTable) lookupExt(internal netip.Addr) (netip.Addr, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ext, ok := t.toExt[internal]
	return ext, ok
}

// inbound translates pkt's destination as it enters the LAN, applying the
// filtering behaviour. It returns a reason when the packet may not enter.
func (t *natTable) inbound(pkt *packet, now time.Time) (reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cfg.Mode == OneToOne {
		internal, ok := t.toInt[pkt.dst.Addr()]
		if !ok {
			return "nat: no host has external address " + pkt.dst.Addr().String()
		}
		pkt.dst = netip.AddrPortFrom(internal, pkt.dst.Port())
		return ""
	}
	m := t.in[inKey{pkt.proto, pkt.dst.Port()}]
	if m == nil || pkt.dst.Addr() != t.extIP {
		t.claim(pkt, now)
		return "nat: no mapping"
	}
	if t.expired(m, now) {
		t.remove(m)
		t.claim(pkt, now)
		return "nat: mapping expired"
	}
	if !m.static && t.cfg.Filtering != EndpointIndependent {
		at, ok := m.permits[t.cfg.Filtering.mask(pkt.src)]
		if !ok || now.Sub(at) >= t.lifetimeOf(m) {
			t.claim(pkt, now)
			return "nat: filtered (" + t.cfg.Filtering.String() + ")"
		}
	}
	if t.cfg.InboundRefresh || pkt.proto == TCP {
		m.lastOut = now
	}
	if pkt.proto == TCP {
		m.tcp.track(pkt.seg.Flags, Inbound)
	}
	pkt.dst = m.key.internal
	return ""
}

// isExternal reports whether addr is one of the router's external
// addresses.
func (t *natTable) isExternal(addr netip.Addr) bool {
	if t.cfg.Mode == NAPT {
		return addr == t.extIP
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.toInt[addr]
	return ok
}

func (t *natTable) expired(m *mapping, now time.Time) bool {
	return !m.static && now.Sub(m.lastOut) >= t.lifetimeOf(m)
}

func (t *natTable) remove(m *mapping) {
	delete(t.out, m.key)
	if t.in[inKey{m.key.proto, m.external.Port()}] == m {
		delete(t.in, inKey{m.key.proto, m.external.Port()})
	}
}

// sweep removes every expired mapping, freeing their ports.
func (t *natTable) sweep(now time.Time) {
	t.lastSweep = now
	for _, m := range t.out {
		if t.expired(m, now) {
			t.remove(m)
		}
	}
	for k, at := range t.claims {
		if now.Sub(at) >= claimLifetime {
			delete(t.claims, k)
		}
	}
}

// allocate picks a free external port for proto, preferring want when the
// NAT preserves ports. Expired mappings are swept once a lifetime, and again
// when no port is free, so ports are reused for ever.
func (t *natTable) allocate(proto Proto, internal netip.AddrPort, now time.Time) (uint16, string) {
	if now.Sub(t.lastSweep) >= t.lifetime {
		t.sweep(now)
	}
	lo, hi := t.cfg.portRange()
	if t.cfg.PortBlock > 0 {
		first, ok := t.blocks[internal.Addr()]
		if !ok {
			if t.nextBlock+int(t.cfg.PortBlock)-1 > int(hi) {
				return 0, "nat: no port block left for " + internal.Addr().String()
			}
			first = uint16(t.nextBlock) //nolint:gosec // bounded by hi above
			t.blocks[internal.Addr()] = first
			t.nextBlock += int(t.cfg.PortBlock)
		}
		lo, hi = first, first+t.cfg.PortBlock-1
		if c := t.cursor[proto]; c < lo || c > hi {
			t.cursor[proto] = lo
		}
	}
	want := internal.Port()
	free := func(p uint16) bool {
		_, used := t.in[inKey{proto, p}]
		return !used
	}
	if t.cfg.PortPreservation && want >= lo && want <= hi && free(want) {
		return want, ""
	}
	for pass := 0; pass < 2; pass++ {
		n := int(hi) - int(lo) + 1
		for i := 0; i < n; i++ {
			p := t.cursor[proto]
			if p < lo || p > hi {
				p = lo
			}
			next := p + 1
			if p == hi {
				next = lo
			}
			t.cursor[proto] = next
			if free(p) {
				return p, ""
			}
		}
		t.sweep(now)
	}
	if t.cfg.PortBlock > 0 {
		return 0, fmt.Sprintf("nat: port block %d-%d of %s exhausted", lo, hi, internal.Addr())
	}
	return 0, "nat: no free external port"
}

// mappings returns the number of live dynamic mappings.
func (t *natTable) mappings() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.out)
}

// NAT returns the router's NAT configuration; false when the router
// translates nothing (NoNAT).
func (r *Router) NAT() (NAT, bool) {
	if r.nat == nil {
		return NAT{}, false
	}
	return r.nat.cfg, true
}
