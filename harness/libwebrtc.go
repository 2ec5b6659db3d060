package harness

import (
	"crypto/sha256"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/icelab/icelab/vnet"
)

// What a browser client does that pion does not: Chromium's mDNS host
// candidates (ClientSpec.MDNS) and libwebrtc's label for its own end of
// the selected pair (ClientSpec.LibwebrtcStats).

// mdnsName is the NAME.local a client's hidden host candidates carry: a
// version-4-shaped UUID, as Chromium and pion make them, derived from the
// client's name so that runs of a scenario report the same addresses.
func mdnsName(client string) string {
	h := sha256.Sum256([]byte("icelab mdns " + client))
	h[6] = h[6]&0x0f | 0x40 // version 4
	h[8] = h[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x.local", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// libwebrtcLocal relabels the local end of a client's selected pair as
// libwebrtc's getStats reports it. libwebrtc's Connection, on each
// successful binding response, looks up the response's XOR-MAPPED-ADDRESS
// among its port's candidates (a host candidate hidden behind an mDNS
// name still matches by its IP) and makes the first that matches its
// local candidate, or else a new peer-reflexive one
// (Connection::MaybeUpdateLocalCandidate, p2p/base/connection.cc). The
// mapped address is where the far end saw the client: far's remote
// candidate (the media node's end of the pair, or the other peer's).
//
// Chromium gathers its server-reflexive candidate on the host
// candidate's own socket, pion on a socket of its own, so pion's srflx
// candidate never has the host socket's mapping. Chromium's would have it
// when its STUN or TURN/UDP server answered (pion gathered a srflx
// candidate of that external address) and every NAT on the way maps
// endpoint-independently (eim), so the mapping towards the server is the
// one towards the far end. So a client behind a home router reads srflx,
// one behind a symmetric NAT prflx, and ICE-TCP's active connection, from
// an ephemeral port that no candidate has, prflx. pion keeps calling all
// of them host. own lists the client's interface addresses, which its
// hidden host candidates stand for.
//
// sel is left alone when either end is unknown or the local candidate is
// a relay (its allocation is what the far end sees).
func libwebrtcLocal(sel, far *Pair, locals []Candidate, own []netip.Addr, eim bool) *Pair {
	if sel == nil || far == nil || sel.Local.Type == "relay" {
		return sel
	}
	mapped, err := netip.ParseAddrPort(far.Remote.Address)
	if err != nil {
		return sel
	}
	mapped = netip.AddrPortFrom(mapped.Addr().Unmap(), mapped.Port())
	q := *sel
	q.Local.Type = "prflx"
	for _, c := range locals {
		if c.Protocol == sel.Local.Protocol && candidateAt(c, mapped, own) {
			q.Local.Type = c.Type
			return &q
		}
	}
	if sel.Local.Protocol != "udp" || !eim {
		return &q
	}
	for _, c := range locals {
		if c.Type != "srflx" || c.Protocol != "udp" {
			continue
		}
		if ap, err := netip.ParseAddrPort(c.Address); err == nil && ap.Addr().Unmap() == mapped.Addr() {
			q.Local.Type = "srflx"
			break
		}
	}
	return &q
}

// endpointIndependent reports whether every NAT between h and the
// internet keeps one mapping for all destinations (RFC 4787
// endpoint-independent mapping; a 1:1 NAT does too).
func endpointIndependent(h *vnet.Host) bool {
	for _, ifc := range h.NetInterfaces() {
		for r := ifc.Router(); r != nil; r = r.Parent() {
			if nat, ok := r.NAT(); ok && nat.Mode == vnet.NAPT && nat.Mapping != vnet.EndpointIndependent {
				return false
			}
		}
	}
	return true
}

// ownAddrs are the addresses of h's interfaces.
func ownAddrs(h *vnet.Host) []netip.Addr {
	out := []netip.Addr{h.Addr()}
	if a := h.Addr6(); a.IsValid() {
		out = append(out, a)
	}
	return out
}

// candidateAt reports whether c's address is a; a hidden host candidate's
// address is any of own at its port.
func candidateAt(c Candidate, a netip.AddrPort, own []netip.Addr) bool {
	host, port, err := net.SplitHostPort(c.Address)
	if err != nil {
		return false
	}
	p, err := strconv.Atoi(port)
	if err != nil || p != int(a.Port()) {
		return false
	}
	if strings.HasSuffix(host, ".local") {
		for _, o := range own {
			if o.Unmap() == a.Addr() {
				return true
			}
		}
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap() == a.Addr()
}
