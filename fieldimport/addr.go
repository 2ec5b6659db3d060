package fieldimport

import (
	"fmt"
	"net/netip"
	"strings"
)

// AddrClass is what an address says about where a host sits.
type AddrClass string

// Address classes.
const (
	// ClassPrivate is RFC 1918 IPv4 or RFC 4193 IPv6 (unique local)
	// space: the host is behind a NAT or on a routed private network.
	ClassPrivate AddrClass = "private"
	// ClassCGNAT is RFC 6598 shared address space, 100.64.0.0/10: the
	// host's own address is on the carrier side of a carrier-grade NAT.
	ClassCGNAT AddrClass = "cgnat"
	// ClassPublic is a globally routable address.
	ClassPublic AddrClass = "public"
	// ClassLoopback and ClassLinkLocal are never useful across hosts.
	ClassLoopback  AddrClass = "loopback"
	ClassLinkLocal AddrClass = "link-local"
	// ClassMDNS is a host candidate Chromium hid behind a random
	// NAME.local (an mDNS name), as it does for pages without camera or
	// microphone permission.
	ClassMDNS AddrClass = "mdns"
	// ClassHidden is an address a dump leaves empty (getStats() in
	// Chromium redacts it where it would show a hidden host candidate).
	ClassHidden AddrClass = "hidden"
)

var cgnatSpace = netip.MustParsePrefix("100.64.0.0/10")

// classify says what kind of address s is.
func classify(s string) (AddrClass, netip.Addr) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0.0.0.0" || s == "::" {
		return ClassHidden, netip.Addr{}
	}
	if strings.HasSuffix(strings.ToLower(s), ".local") {
		return ClassMDNS, netip.Addr{}
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return ClassHidden, netip.Addr{}
	}
	a = a.Unmap()
	switch {
	case a.IsLoopback():
		return ClassLoopback, a
	case a.IsLinkLocalUnicast():
		return ClassLinkLocal, a
	case cgnatSpace.Contains(a):
		return ClassCGNAT, a
	case a.IsPrivate():
		return ClassPrivate, a
	}
	return ClassPublic, a
}

// describeClass says an address class in words, for comments.
func describeClass(c AddrClass, a netip.Addr) string {
	fam := ""
	if a.Is6() {
		fam = " IPv6"
	}
	switch c {
	case ClassPrivate:
		if a.Is6() {
			return "a unique local IPv6 address (RFC 4193)"
		}
		return "a private address (RFC 1918)"
	case ClassCGNAT:
		return "an address in the carriers' shared space 100.64.0.0/10 (RFC 6598)"
	case ClassPublic:
		return "a public" + fam + " address"
	case ClassLoopback:
		return "a loopback address"
	case ClassLinkLocal:
		return "a link-local" + fam + " address"
	case ClassMDNS:
		return "an mDNS name (Chromium hides the host's address)"
	}
	return "an address the dump does not show"
}

// side is which end of the call an address belongs to, which decides the
// documentation range it is written in.
type side int

const (
	sideLocal  side = iota // the dumped endpoint: 192.0.2.0/24, 2001:db8:1::/48
	sideRemote             // the far end and servers: 198.51.100.0/24, 2001:db8:2::/48
)

// anonymizer replaces every address of a dump with one from the
// documentation ranges (RFC 5737, RFC 3849), the same one each time, and
// remembers what each stands for.
type anonymizer struct {
	byAddr map[string]string
	// taken holds every address of the dump, so that no replacement is
	// one of them (a dump made on icelab's own ranges).
	taken map[string]bool
	next  [2][2]int // [side][v6]
	notes []string
}

// newAnonymizer makes an anonymizer for a dump holding the addresses in
// dump.
func newAnonymizer(dump []string) *anonymizer {
	an := &anonymizer{byAddr: map[string]string{}, taken: map[string]bool{}}
	for _, s := range dump {
		if _, a := classify(s); a.IsValid() {
			an.taken[a.String()] = true
		}
	}
	return an
}

// addr returns the documentation address standing for s, which what
// describes (for the mapping comment). Names and hidden addresses are
// described, never repeated.
func (an *anonymizer) addr(s string, sd side, what string) string {
	class, a := classify(s)
	switch class {
	case ClassMDNS:
		return "an mDNS name"
	case ClassHidden:
		return "a hidden address"
	}
	key := a.String()
	if got, ok := an.byAddr[key]; ok {
		return got
	}
	v6 := 0
	if a.Is6() {
		v6 = 1
	}
	var out string
	for {
		an.next[sd][v6]++
		n := an.next[sd][v6]
		switch {
		case v6 == 1:
			out = fmt.Sprintf("2001:db8:%d::%x", int(sd)+1, n)
		case sd == sideLocal:
			out = fmt.Sprintf("192.0.2.%d", (n-1)%254+1)
		default:
			out = fmt.Sprintf("198.51.100.%d", (n-1)%254+1)
		}
		if !an.taken[out] || n > 1<<16 {
			break
		}
	}
	an.byAddr[key] = out
	an.notes = append(an.notes, fmt.Sprintf("%s: %s, %s", out, what, describeClass(class, a)))
	return out
}

// hostPort renders an anonymized address with its port.
func (an *anonymizer) hostPort(s string, port int, sd side, what string) string {
	a := an.addr(s, sd, what)
	if strings.Contains(a, ":") {
		a = "[" + a + "]"
	}
	if strings.HasPrefix(a, "a") { // a description, not an address
		return fmt.Sprintf("%s, port %d", a, port)
	}
	return fmt.Sprintf("%s:%d", a, port)
}
