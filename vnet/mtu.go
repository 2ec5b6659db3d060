package vnet

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// MTU limits, after RFC 791: every IPv4 link carries at least 68 bytes, and
// no IPv4 packet is longer than 65535.
const (
	MinMTU = 68
	MaxMTU = 65535
)

// Linux's path MTU constants (Documentation/networking/ip-sysctl.rst):
// a learned path MTU is never below net.ipv4.route.min_pmtu and is
// forgotten after net.ipv4.route.mtu_expires.
const (
	linuxMinPMTU    = 552
	linuxMTUExpires = 10 * time.Minute
)

// MTU is what a link does with packets larger than it carries. The zero
// value carries packets of any size, as the virtual links did before they
// had an MTU: a virtual link costs the same whatever the packet's size, so
// an unlimited MTU keeps TCP's large default segments (DefaultTCPMSS).
type MTU struct {
	// Size is the largest IP packet the link carries, in bytes, headers
	// included: 1500 for Ethernet, 1492 for PPPoE (RFC 2516), 1280 for
	// many VPNs. Zero means no limit.
	Size int
	// Fragment makes the link fragment an oversize packet even when its
	// DF bit is set, clearing it, as a tunnel endpoint configured to
	// fragment the inner packet does (RFC 4459 section 3.1; Cisco's
	// "crypto ipsec df-bit clear"). Without it a packet with DF set is
	// dropped, and one without DF is fragmented, as RFC 791 routers do.
	Fragment bool
	// NoICMP suppresses the ICMP "fragmentation needed" (RFC 1191, type 3
	// code 4) that tells the sender of a dropped DF packet the MTU: the
	// packet vanishes without a signal, a path MTU black hole (RFC 2923
	// section 2.1), as behind a firewall that drops all ICMP.
	NoICMP bool
	// ClampMSS rewrites the MSS option of TCP SYNs crossing the link to at
	// most Size-40, as PPPoE routers do (iptables TCPMSS
	// --clamp-mss-to-pmtu; RFC 4459 section 3.2), so that TCP never needs
	// path MTU discovery across the link.
	ClampMSS bool
}

func (m MTU) validate() error {
	if m.Size != 0 && (m.Size < MinMTU || m.Size > MaxMTU) {
		return fmt.Errorf("MTU %d is outside %d to %d (RFC 791)", m.Size, MinMTU, MaxMTU)
	}
	return nil
}

// SetMTU sets the link's MTU, both ways. It applies where a packet enters
// the link, as at a real router's egress interface, and to packets already
// queued only when they are sent again.
func (l *Link) SetMTU(m MTU) error {
	if err := m.validate(); err != nil {
		return fmt.Errorf("link %s: %w", l.name, err)
	}
	mp := &m
	if m == (MTU{}) {
		mp = nil
	}
	for d := range l.dirs {
		l.dirs[d].mtu.Store(mp)
	}
	return nil
}

// MTU returns the link's MTU; its Size is zero for no limit.
func (l *Link) MTU() MTU {
	if m := l.dirs[Up].mtu.Load(); m != nil {
		return *m
	}
	return MTU{}
}

// mtuSize returns the link's MTU, zero for no limit.
func (l *Link) mtuSize() int {
	if m := l.dirs[Up].mtu.Load(); m != nil {
		return m.Size
	}
	return 0
}

// checkMTU applies the link's MTU to a packet entering it. It reports
// whether it took the packet: dropped it, or fragmented it and sent the
// fragments on.
func (l *Link) checkMTU(d Direction, pkt *packet, next hop) bool {
	m := l.dirs[d].mtu.Load()
	if m == nil {
		return false
	}
	if m.ClampMSS && pkt.proto == TCP && pkt.seg.Flags&FlagSYN != 0 && m.Size > 40 && int(pkt.seg.MSS) > m.Size-40 {
		pkt.seg.MSS = uint16(m.Size - 40)
	}
	if m.Size == 0 || pkt.size() <= m.Size || l.IsCut() {
		return false // a cut link drops it as such, without ICMP
	}
	// IPv6 routers never fragment (RFC 8200 section 5): every IPv6 packet
	// is as if DF were set, and the message is ICMPv6 "packet too big"
	// (RFC 4443 section 3.2, RFC 8201).
	v4 := pkt.dst.Addr().Unmap().Is4()
	if (pkt.df || !v4) && !m.Fragment {
		size := pkt.size()
		if m.NoICMP {
			l.net.drop(l.name, pkt, fmt.Sprintf("link %s MTU %d: %d-byte packet too big (DF set), no ICMP sent: a path MTU black hole", l.name, m.Size, size))
			return true
		}
		if pkt.from != nil {
			pkt.from.fragmentationNeeded(pkt, m.Size)
		}
		icmp := "ICMP fragmentation needed"
		if !v4 {
			icmp = "ICMPv6 packet too big"
		}
		l.net.drop(l.name, pkt, fmt.Sprintf("link %s MTU %d: %d-byte packet too big (DF set), %s sent", l.name, m.Size, size, icmp))
		return true
	}
	frags := fragmentPacket(l.net, pkt, m.Size)
	pkt.release()
	for _, f := range frags {
		l.send(d, f, next)
	}
	return true
}

// PMTUDiscovery is how a host's sockets use path MTU discovery: Linux's
// IP_MTU_DISCOVER socket option (ip(7)).
type PMTUDiscovery uint32

// Path MTU discovery modes.
const (
	// PMTUDiscoveryWant is Linux's default for UDP sockets
	// (IP_PMTUDISC_WANT, with net.ipv4.ip_no_pmtu_disc=0), and so for pion's
	// sockets, which do not set the option: a datagram that fits the known
	// path MTU is sent with DF set; a larger one is fragmented by the
	// sending host. A router's ICMP "fragmentation needed" lowers the known
	// path MTU for that destination for ten minutes, and a connected
	// socket's next send or receive fails once with EMSGSIZE.
	PMTUDiscoveryWant PMTUDiscovery = iota
	// PMTUDiscoveryDo sets DF on every datagram and refuses to send a
	// datagram larger than the known path MTU with EMSGSIZE
	// (IP_PMTUDISC_DO), as QUIC stacks and RFC 8899 packetization-layer
	// discovery do.
	PMTUDiscoveryDo
	// PMTUDiscoveryDont never sets DF (IP_PMTUDISC_DONT): routers fragment
	// what does not fit.
	PMTUDiscoveryDont
)

// TCP segments always carry DF except under PMTUDiscoveryDont: Linux TCP
// does path MTU discovery and sizes its segments to the path MTU.

// hostMTU is a host's IP-level state: its path MTU discovery mode, its
// route cache of learned path MTUs and its fragment reassembly queues.
type hostMTU struct {
	mode atomic.Uint32
	// cache holds the learned path MTUs, nil while there are none. It is
	// replaced whole when an ICMP message arrives, which is rare, so that
	// sending reads it without a lock.
	cache atomic.Pointer[map[netip.Addr]pmtuEntry]

	mu    sync.Mutex // guards reasm and serialises cache updates
	reasm map[fragKey]*reassembly
}

type pmtuEntry struct {
	mtu     int
	expires time.Time
}

// SetPMTUDiscovery sets how the host's sockets mark DF and use path MTU
// discovery; the default is PMTUDiscoveryWant, Linux's.
func (h *Host) SetPMTUDiscovery(m PMTUDiscovery) { h.mtu.mode.Store(uint32(m)) }

// PathMTU returns the path MTU the host knows for dst: the MTU of the link
// it would send on, lowered by any ICMP "fragmentation needed" it has
// received for dst in the last ten minutes. Zero means no limit.
func (h *Host) PathMTU(dst netip.Addr) int {
	return h.pathMTU(h.route(netip.Addr{}, dst), dst)
}

func (h *Host) pathMTU(ifc *Interface, dst netip.Addr) int {
	mtu := ifc.link.mtuSize()
	cache := h.mtu.cache.Load()
	if cache == nil {
		return mtu
	}
	e, ok := (*cache)[dst]
	if !ok || time.Now().After(e.expires) {
		return mtu
	}
	if mtu == 0 || e.mtu < mtu {
		return e.mtu
	}
	return mtu
}

// fragmentationNeeded is the ICMP "fragmentation needed" a router sends
// back for a dropped DF packet (RFC 1191 section 4): the host records the
// next-hop MTU for the destination, and TCP connections to it lower their
// segment size and retransmit at once, as Linux's tcp_v4_mtu_reduced does.
// The message reaches the sender at once and is never lost.
func (h *Host) fragmentationNeeded(pkt *packet, mtu int) {
	dst := pkt.to
	if dst.Unmap().Is4() {
		mtu = max(mtu, linuxMinPMTU)
	} else {
		mtu = max(mtu, 1280) // IPv6's minimum link MTU (RFC 8200 section 5)
	}
	now := time.Now()
	h.mtu.mu.Lock()
	next := map[netip.Addr]pmtuEntry{}
	if old := h.mtu.cache.Load(); old != nil {
		for a, e := range *old {
			if now.Before(e.expires) { // expired entries go
				next[a] = e
			}
		}
	}
	if e, ok := next[dst]; !ok || mtu < e.mtu {
		next[dst] = pmtuEntry{mtu: mtu, expires: now.Add(linuxMTUExpires)}
	}
	h.mtu.cache.Store(&next)
	h.mtu.mu.Unlock()
	if pkt.proto != TCP {
		if c, ok := pkt.sender.(*UDPConn); ok && PMTUDiscovery(h.mtu.mode.Load()) != PMTUDiscoveryDont {
			c.tooBig()
		}
		return
	}
	h.tcp.mu.RLock()
	var conns []*TCPConn
	for k, c := range h.tcp.conns {
		if k.remote.Addr() == dst {
			conns = append(conns, c)
		}
	}
	h.tcp.mu.RUnlock()
	for _, c := range conns {
		c.pathMTUReduced(mtu)
	}
}

// checkDatagram refuses, under PMTUDiscoveryDo, a datagram of n payload
// bytes larger than the known path MTU to dst, as Linux does with EMSGSIZE.
func (h *Host) checkDatagram(dst netip.Addr, n int) error {
	if PMTUDiscovery(h.mtu.mode.Load()) != PMTUDiscoveryDo {
		return nil
	}
	if mtu := h.PathMTU(dst); mtu > 0 && n+ipHeader(dst)+udpHeader > mtu {
		return syscall.EMSGSIZE
	}
	return nil
}

// egress marks a packet's DF bit and puts it on the interface's link,
// fragmenting a datagram larger than the known path MTU under
// PMTUDiscoveryWant as Linux's ip_fragment does.
func (h *Host) egress(ifc *Interface, pkt *packet) {
	// to is read from here on, not from the packet: the line of the
	// packet these stores go to is cold (it was in the pool), and
	// reading it back waited for it, some 1% of a 64-client room's CPU.
	to := pkt.dst.Addr()
	pkt.from, pkt.to = h, to
	mode := PMTUDiscovery(h.mtu.mode.Load())
	if mode == PMTUDiscoveryDont {
		pkt.df = false
		ifc.link.send(Up, pkt, toLAN(ifc.router))
		return
	}
	pkt.df = true
	if pkt.proto == TCP || mode == PMTUDiscoveryDo {
		ifc.link.send(Up, pkt, toLAN(ifc.router))
		return
	}
	mtu := h.pathMTU(ifc, to)
	if mtu == 0 || pkt.size() <= mtu {
		ifc.link.send(Up, pkt, toLAN(ifc.router))
		return
	}
	pkt.df = false
	frags := fragmentPacket(h.net, pkt, mtu)
	pkt.release()
	for _, f := range frags {
		ifc.link.send(Up, f, toLAN(ifc.router))
	}
}

// tcpConfigTo returns the configuration of a connection to dst whose peer
// announced peerMSS (zero: not yet known), and the MSS to announce: the
// MTU of the link towards dst less 40 bytes of IPv4 and TCP headers
// (RFC 9293 3.7.1, RFC 879), or the configured MSS on a link without MTU.
// The connection sends segments no larger than the smaller of both ends'.
func (h *Host) tcpConfigTo(dst netip.Addr, peerMSS uint16) (cfg TCPConfig, announce int) {
	cfg = h.tcpConfig()
	ifc := h.route(netip.Addr{}, dst)
	headers := ipHeader(dst) + tcpHeader
	if mtu := ifc.link.mtuSize(); mtu > 0 {
		cfg.MSS = min(cfg.MSS, mtu-headers)
	}
	announce = cfg.MSS
	if mtu := h.pathMTU(ifc, dst); mtu > 0 {
		cfg.MSS = min(cfg.MSS, mtu-headers)
	}
	if peerMSS > 0 {
		cfg.MSS = min(cfg.MSS, int(peerMSS))
	}
	return cfg, announce
}

// peerMSS lowers the connection's segment size to the MSS its peer
// announced in the SYN-ACK, and its initial window with it (RFC 6928).
// Called with c.mu held, before any data is sent.
func (c *TCPConn) peerMSS(mss uint16) {
	if mss == 0 || int(mss) >= c.cfg.MSS {
		return
	}
	c.cfg.MSS = int(mss)
	c.cwnd = min(10*c.cfg.MSS, max(2*c.cfg.MSS, 14600))
}

// pathMTUReduced lowers the segment size to fit a path MTU an ICMP message
// reported and resends what is unacknowledged at the new size.
func (c *TCPConn) pathMTUReduced(mtu int) {
	mss := mtu - ipHeader(c.raddr.Addr()) - tcpHeader
	c.mu.Lock()
	if mss >= c.cfg.MSS || c.state == stateClosed || c.state == stateTimeWait {
		c.mu.Unlock()
		return
	}
	c.cfg.MSS = mss
	if c.sndMax != c.sndUna {
		c.sndNxt = c.sndUna
		c.rttActive = false
	}
	c.mu.Unlock()
	c.output()
}

// tooBig records an ICMP "fragmentation needed" for a connected UDP socket:
// its next send or receive fails once with EMSGSIZE, as Linux's udp_err
// sets sk_err for a connected socket. Unconnected sockets, such as pion's,
// learn nothing but the path MTU.
func (c *UDPConn) tooBig() {
	c.mu.Lock()
	c.icmpTooBig = true
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// takeTooBig reports and clears a pending EMSGSIZE.
func (c *UDPConn) takeTooBig() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	was := c.icmpTooBig
	c.icmpTooBig = false
	return was
}
