package vnet

import (
	"net/netip"
	"time"
)

// TCP mapping lifetimes after RFC 5382 REQ-5.
const (
	defaultTCPEstablishedLifetime = 2*time.Hour + 4*time.Minute
	defaultTCPTransitoryLifetime  = 4 * time.Minute
)

// tcpMapState is what a NAT knows of the TCP connection through a mapping:
// whether SYNs have crossed both ways, and whether a FIN or reset has.
type tcpMapState struct {
	synOut, synIn, closing bool
}

func (s tcpMapState) established() bool { return s.synOut && s.synIn && !s.closing }

// track records a segment crossing the mapping.
func (s *tcpMapState) track(f TCPFlags, dir Flow) {
	if f&FlagSYN != 0 {
		if dir == Outbound {
			s.synOut = true
		} else {
			s.synIn = true
		}
		s.closing = false
	}
	if f&(FlagFIN|FlagRST) != 0 {
		s.closing = true
	}
}

// lifetimeOf returns how long m lives idle: UDP's mapping lifetime, or
// RFC 5382's established or transitory idle timeout for TCP.
func (t *natTable) lifetimeOf(m *mapping) time.Duration {
	if m.key.proto != TCP {
		return t.lifetime
	}
	if m.tcp.established() {
		if t.cfg.TCPEstablishedLifetime > 0 {
			return t.cfg.TCPEstablishedLifetime
		}
		return defaultTCPEstablishedLifetime
	}
	if t.cfg.TCPTransitoryLifetime > 0 {
		return t.cfg.TCPTransitoryLifetime
	}
	return defaultTCPTransitoryLifetime
}

// externalFor returns the external endpoint that an inbound TCP segment,
// already translated, was addressed to, so that a reset can answer from
// it. Called for packets the firewall rejects after translation.
func (t *natTable) externalFor(pkt *packet) (netip.AddrPort, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cfg.Mode == OneToOne {
		ext, ok := t.toExt[pkt.dst.Addr()]
		return netip.AddrPortFrom(ext, pkt.dst.Port()), ok
	}
	if m := t.static[staticKey{pkt.proto, pkt.dst}]; m != nil {
		return m.external, true
	}
	if m := t.out[outKey{proto: pkt.proto, internal: pkt.dst, remote: t.cfg.Mapping.mask(pkt.src)}]; m != nil {
		return m.external, true
	}
	return netip.AddrPort{}, false
}

// rejectTCP answers a TCP segment that a firewall rule rejects with a
// reset from the segment's destination, as iptables' REJECT with
// tcp-reset does, so the reset shows in captures like any segment.
func (r *Router) rejectTCP(pkt *packet) {
	if pkt.seg.Flags&FlagRST != 0 {
		return
	}
	rst := resetFor(pkt)
	if att := r.lookup(pkt.src.Addr()); att != nil {
		// Outbound: the sender is on the LAN, untranslated yet.
		r.down(att, rst)
		return
	}
	// Inbound: the segment was translated before the firewall saw it;
	// answer from the address the sender used. IPv6 is not translated.
	if r.nat != nil && pkt.src.Addr().Is4() {
		ext, ok := r.nat.externalFor(pkt)
		if !ok {
			rst.release()
			return
		}
		rst.src = ext
	}
	if r.parent == nil {
		rst.release()
		return
	}
	r.uplink.send(Up, rst, toLAN(r.parent))
}
