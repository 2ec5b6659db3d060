package fieldimport

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// clientNetwork infers alice's network: the class of her address, the
// NAT's mapping and filtering, and what the firewall lets out.
func (im *importer) clientNetwork() {
	e := im.e
	hosts := im.candidatesOf("host")
	srflx := im.candidatesOf("srflx")
	relays := im.candidatesOf("relay")
	var shown []string
	classes := map[AddrClass]bool{}
	for _, c := range hosts {
		cl := c.Class()
		if cl == ClassLoopback || cl == ClassLinkLocal {
			continue
		}
		classes[cl] = true
		shown = append(shown, im.describeCandidate(c, sideLocal))
	}
	switch {
	case classes[ClassCGNAT] && !classes[ClassPrivate]:
		im.hostClass = ClassCGNAT
	case classes[ClassPrivate]:
		im.hostClass = ClassPrivate
	case classes[ClassPublic]:
		im.hostClass = ClassPublic
	case classes[ClassMDNS] || classes[ClassHidden]:
		im.hostClass = ClassMDNS
	default:
		im.hostClass = ClassHidden
	}
	im.udpOut = len(srflx) > 0 || slices.ContainsFunc(relays, func(c *Candidate) bool { return relayProtocolOf(c) == "udp" }) ||
		slices.ContainsFunc(e.Pairs, func(p *Pair) bool {
			return p.State == "succeeded" && p.Local != nil && p.Local.Type != "relay" && p.Local.Protocol == "udp"
		})
	lan := lanPlan{name: clientName + "-net"}
	publicSrflx := slices.ContainsFunc(srflx, func(s *Candidate) bool {
		return !slices.ContainsFunc(hosts, func(h *Candidate) bool { return h.Address == s.Address })
	})
	switch im.hostClass {
	case ClassPublic:
		if !publicSrflx {
			in := im.infer(Inferred, "alice has a public address: no NAT between her and the internet",
				"her host candidates carry "+describeClass(ClassPublic, publicAddr(hosts))+" ("+listOf(shown, 3)+") and no server-reflexive candidate differs from them",
				[]string{"a one-to-one NAT that keeps the port (indistinguishable when no STUN server answered)"}, AspectCandidates, AspectTransport)
			im.p.client.why = append(im.p.client.why, in)
			im.firewallOnly(lan, in)
			return
		}
		lan.why = append(lan.why, im.infer(Inferred, "alice is behind a NAT although her host address is public",
			"her server-reflexive address differs from her host candidates ("+listOf(shown, 3)+")", nil, AspectCandidates))
	case ClassCGNAT:
		lan.name, lan.prefix = clientName+"-carrier", "100.64.0.0/24"
		lan.why = append(lan.why, im.infer(Observed, "alice's device sits directly behind a carrier-grade NAT (a phone on mobile data, RFC 6888)",
			"her host candidates carry "+describeClass(ClassCGNAT, publicAddr(hosts))+": "+listOf(shown, 3),
			[]string{"a home router behind the carrier's NAT (CGNAT): the router's own address is what would be in 100.64/10, not the device's"}, AspectCandidates, AspectTransport))
	case ClassPrivate:
		lan.why = append(lan.why, im.infer(Observed, "alice is behind a NAT",
			"her host candidates carry "+describeClass(ClassPrivate, privateAddr(hosts))+": "+listOf(shown, 3),
			[]string{"two NATs in a row (a home router behind a carrier NAT), which a dump from one end cannot tell from one"}, AspectCandidates, AspectTransport))
	default:
		because := "her host candidates are hidden behind mDNS names (Chromium hides a page's host addresses unless it holds camera or microphone permission)"
		if len(hosts) == 0 {
			because = "she gathered no host candidates (relay-only policy), so the dump shows nothing of her own address"
		}
		lan.why = append(lan.why, im.infer(Assumed, "alice is behind a NAT, as most users are", because,
			[]string{"a public address with no NAT (would let icelab connect directly where a NAT might not)"}, AspectCandidates, AspectTransport))
	}
	im.mapping(&lan, srflx, hosts)
	im.firewall(&lan, hosts, srflx, relays)
	im.p.lans = append(im.p.lans, lan)
	im.p.client.lan = lan.name
}

func publicAddr(cs []*Candidate) (a netip.Addr) {
	for _, c := range cs {
		if cl, x := classify(c.Address); cl == ClassPublic || cl == ClassCGNAT {
			return x
		}
	}
	return
}

// privateAddr returns a private address of the candidates, IPv4 first.
func privateAddr(cs []*Candidate) (a netip.Addr) {
	for _, c := range cs {
		if cl, x := classify(c.Address); cl == ClassPrivate && (!a.IsValid() || x.Is4() && a.Is6()) {
			a = x
		}
	}
	return
}

// firewallOnly places a client with a public address: on the internet,
// or in a LAN without NAT when the evidence shows a firewall.
func (im *importer) firewallOnly(lan lanPlan, why *Inference) {
	lan.nat = "none"
	lan.natWhy = []*Inference{why}
	im.firewall(&lan, im.candidatesOf("host"), im.candidatesOf("srflx"), im.candidatesOf("relay"))
	if len(lan.firewall) == 0 {
		return // on the internet
	}
	im.p.lans = append(im.p.lans, lan)
	im.p.client.lan = lan.name
}

// mapping infers the NAT's mapping behaviour (RFC 4787 §4.1) from the
// server-reflexive ports, and states the filtering the dump cannot show.
func (im *importer) mapping(lan *lanPlan, srflx, hosts []*Candidate) {
	e := im.e
	// Server-reflexive candidates of one socket (same related port) for
	// different servers: equal ports mean endpoint-independent mapping,
	// different ones address-dependent.
	// pion gathers each server's candidate on a socket of its own and
	// reports no related port: nothing to compare there.
	byBase := map[int][]*Candidate{}
	for _, c := range srflx {
		if c.Protocol == "udp" && c.RelatedPort > 0 {
			byBase[c.RelatedPort] = append(byBase[c.RelatedPort], c)
		}
	}
	var dependent []string
	for _, cs := range byBase {
		ports := map[int]bool{}
		for _, c := range cs {
			ports[c.Port] = true
		}
		if len(ports) > 1 {
			for _, c := range cs {
				dependent = append(dependent, im.describeCandidate(c, sideLocal)+" from "+im.serverRef(c.URL))
			}
		}
	}
	// A local peer-reflexive candidate on a pair that succeeded: the far
	// end saw alice at a port no STUN server had.
	var prflx []string
	for _, p := range e.Pairs {
		if p.State != "succeeded" || p.Local == nil || p.Local.Type != "prflx" || p.Local.Protocol != "udp" {
			continue
		}
		if !slices.ContainsFunc(srflx, func(s *Candidate) bool { return s.Port == p.Local.Port }) && len(srflx) > 0 {
			prflx = append(prflx, im.describeCandidate(p.Local, sideLocal))
		}
	}
	udpServers := 0
	for _, s := range e.ICEServers {
		if s.Transport == "udp" && (s.Scheme == "stun" || s.Scheme == "turn") {
			udpServers++
		}
	}
	carrier := im.hostClass == ClassCGNAT
	preset := "port-restricted"
	if carrier {
		preset = "carrier-grade"
	}
	switch {
	case len(dependent) > 0 || len(prflx) > 0:
		because := "her server-reflexive ports differ by server: " + listOf(dependent, 4)
		if len(dependent) == 0 {
			because = "the far end saw her at a port no STUN server had seen (peer-reflexive " + listOf(prflx, 3) + ")"
		}
		what := "the NAT maps each destination to its own port (address-dependent mapping, RFC 4787 §4.1): symmetric"
		c := Observed
		if len(dependent) == 0 {
			c = Inferred
		}
		in := im.infer(c, what, because, []string{"address-dependent rather than address-and-port-dependent mapping (the same for icelab's outcomes with one server per address)"},
			AspectTransport, AspectCandidates)
		if carrier {
			lan.natMapping = "address-and-port-dependent"
		} else {
			preset = "symmetric"
		}
		lan.natWhy = append(lan.natWhy, in)
	case len(byBase) > 0 && udpServers >= 2 && !e.ServersGuessed:
		lan.natWhy = append(lan.natWhy, im.infer(Inferred, "the NAT keeps one port per socket whatever the destination (endpoint-independent mapping, RFC 4787 REQ-1)",
			fmt.Sprintf("%d STUN/TURN servers over UDP answered and each socket has one server-reflexive candidate (browsers drop a candidate that repeats another)", udpServers),
			[]string{"address-dependent mapping (symmetric NAT), which would show as a second server-reflexive port"}, AspectTransport, AspectCandidates))
	default:
		because := "only one server could report her mapped port, so the dump cannot compare two"
		if len(srflx) == 0 {
			because = "no STUN server reported a mapped address"
		}
		lan.natWhy = append(lan.natWhy, im.infer(Assumed, "endpoint-independent mapping (RFC 4787 REQ-1), the most common and what the RFC requires", because,
			[]string{"symmetric (address-dependent mapping): direct calls to a media server are unaffected, peer-to-peer calls then need TURN"}, AspectTransport, AspectCandidates))
	}
	if preset != "symmetric" {
		lan.natWhy = append(lan.natWhy, im.infer(Assumed, "address-and-port-dependent filtering (port-restricted, RFC 4787 REQ-8), the most restrictive with endpoint-independent mapping",
			"a dump cannot show how the NAT filters: that needs a packet from an address alice has not sent to",
			[]string{"endpoint-independent filtering (full-cone)", "address-dependent filtering (address-restricted); both only change peer-to-peer hole punching"}, AspectTransport))
	}
	lan.nat = preset
}

// serverRef names a server URL in comments by its scenario name.
func (im *importer) serverRef(url string) string {
	s, ok := parseICEURL(url)
	if !ok {
		return "a STUN server"
	}
	return s.Scheme + ":" + im.serverDomain(s.Host)
}

// firewall infers what alice's network lets out.
func (im *importer) firewall(lan *lanPlan, hosts, srflx, relays []*Candidate) {
	e := im.e
	var udpTried []string
	for _, s := range e.ICEServers {
		if s.Transport == "udp" {
			udpTried = append(udpTried, s.Scheme+":"+im.serverDomain(s.Host)+fmt.Sprintf(":%d", s.Port))
		}
	}
	udpChecks := slices.ContainsFunc(e.Pairs, func(p *Pair) bool {
		return p.Local != nil && p.Local.Type == "host" && p.Local.Protocol == "udp" && p.RequestsSent > 0
	})
	errs := im.candidateErrors("udp")
	// A media server on a public address is reachable from behind any
	// NAT: a call to one that never connected met a firewall.
	unreachable := im.o.Stage == StageICE && im.p.node != nil && slices.ContainsFunc(e.Remote, func(c *Candidate) bool { return c.Class() == ClassPublic })
	switch {
	case im.udpOut:
		var seen []string
		for _, c := range srflx {
			seen = append(seen, im.describeCandidate(c, sideLocal))
		}
		for _, c := range relays {
			if relayProtocolOf(c) == "udp" {
				seen = append(seen, im.describeCandidate(c, sideLocal))
			}
		}
		because := "UDP candidates came back from servers: " + listOf(seen, 3)
		if len(seen) == 0 {
			because = "a UDP candidate pair succeeded"
		}
		im.p.client.why = append(im.p.client.why, im.infer(Observed, "UDP leaves alice's network", because, nil, AspectTransport))
	case len(udpTried) > 0 || udpChecks || unreachable:
		because := "no server-reflexive or UDP relay candidate came back"
		if unreachable {
			because = "the call never connected to a media server that offered public addresses, which any NAT lets a client reach, and " + because
		}
		if len(udpTried) > 0 {
			because += " although she was configured with " + listOf(udpTried, 3)
		}
		if udpChecks {
			because += "; her UDP checks to the far end got no answer"
		}
		if len(errs) > 0 {
			because += "; " + listOf(errs, 2)
		}
		in := im.infer(Inferred, "alice's network drops UDP", because,
			[]string{"UDP allowed but the STUN/TURN servers down (then TURN over TCP or TLS would fail too)"}, AspectTransport, AspectStage)
		if !im.tcpRestricted(lan, in) {
			lan.firewall = append(lan.firewall, rulePlan{preset: "block-udp", why: []*Inference{in}})
		}
	}
	if im.dtlsFiltered() {
		lan.firewall = append(lan.firewall, rulePlan{preset: "dtls-filtered", why: []*Inference{im.infer(Inferred,
			"something on alice's path drops DTLS (RFC 7983 first byte 20-63) and lets STUN through",
			"ICE connected (a candidate pair succeeded) but the DTLS handshake never completed: "+im.dtlsStory(),
			[]string{"a path MTU black hole that swallows the large DTLS flight (a VPN; mtu: with icmp_too_big: false)", "a certificate fingerprint mismatch in signalling (not a network problem)"},
			AspectStage)}})
	}
}

// candidateErrors lists the icecandidateerror entries of servers over a
// transport, for comments.
func (im *importer) candidateErrors(transport string) []string {
	var out []string
	for _, ce := range im.e.CandidateErrors {
		s, ok := parseICEURL(ce.URL)
		if ok && s.Transport != transport {
			continue
		}
		ref := "a server"
		if ok {
			ref = s.Scheme + ":" + im.serverDomain(s.Host)
		}
		out = append(out, fmt.Sprintf("icecandidateerror %d (%s) from %s", ce.Code, ce.Text, ref))
	}
	return out
}

// tcpRestricted adds an only-tcp-out rule when the evidence shows TCP is
// let out only to some ports: TURN over TCP, TURN/TLS or ICE-TCP that
// failed, while what worked (TURN/TLS to its port) or the page's own
// connection (web ports) shows TCP is not blocked altogether. It reports
// whether it did.
func (im *importer) tcpRestricted(lan *lanPlan, udp *Inference) bool {
	e := im.e
	tlsPorts := map[int]bool{}
	for _, c := range im.candidatesOf("relay") {
		switch relayProtocolOf(c) {
		case "tls":
			port := 0
			if s, ok := parseICEURL(c.URL); ok {
				port = s.Port
			}
			tlsPorts[port] = true
		case "tcp":
			return false // TURN over plain TCP worked: only UDP is blocked
		}
	}
	if slices.ContainsFunc(e.Pairs, func(p *Pair) bool {
		return p.Local != nil && p.Local.Protocol == "tcp" && p.Local.Type != "relay" && p.State == "succeeded"
	}) {
		return false // ICE-TCP worked
	}
	var failed []string
	var failedTLS []int
	for _, s := range e.ICEServers {
		switch {
		case s.Scheme == "turn" && s.Transport == "tcp":
			failed = append(failed, fmt.Sprintf("turn:%s:%d?transport=tcp gave no relay", im.serverDomain(s.Host), s.Port))
		case s.Scheme == "turns" && !tlsPorts[s.Port] && !tlsPorts[0]:
			failed = append(failed, fmt.Sprintf("turns:%s:%d gave no relay", im.serverDomain(s.Host), s.Port))
			failedTLS = append(failedTLS, s.Port)
		}
	}
	hasTCPHost := slices.ContainsFunc(im.candidatesOf("host"), func(c *Candidate) bool { return c.Protocol == "tcp" })
	remoteTCP := slices.ContainsFunc(e.Remote, func(c *Candidate) bool { return c.Protocol == "tcp" })
	if hasTCPHost && remoteTCP {
		failed = append(failed, "her ICE-TCP candidates never connected to the far end's TCP candidates")
	}
	if len(failed) == 0 {
		return false
	}
	var ports []int
	for _, p := range []int{80, 443} {
		if !slices.Contains(failedTLS, p) {
			ports = append(ports, p)
		}
	}
	what := fmt.Sprintf("alice's firewall lets out only TCP to %s", joinInts(ports))
	because := "every TCP path failed as well: " + strings.Join(failed, "; ") + "; the web ports are taken to be open, as the page loaded"
	alts := []string{"all TCP blocked, the page coming through a proxy (then the proxy would carry TURN/TLS too)"}
	if len(tlsPorts) > 0 {
		var tls []string
		for p := range tlsPorts {
			if p != 0 && !slices.Contains(ports, p) {
				ports = append(ports, p)
			}
			if p != 0 {
				tls = append(tls, fmt.Sprint(p))
			}
		}
		slices.Sort(ports)
		slices.Sort(tls)
		what = fmt.Sprintf("alice's firewall lets out only TCP to %s (web ports and the TURN/TLS port)", joinInts(ports))
		because = "TURN/TLS"
		if len(tls) > 0 {
			because += " to port " + strings.Join(tls, ", ")
		}
		because += " gave a relay candidate while " + strings.Join(failed, "; ")
		alts = []string{"UDP blocked with TCP open but the TURN server not listening on TCP and no ICE-TCP (then only block-udp)"}
	}
	in := im.infer(Inferred, what, because, alts, AspectTransport, AspectStage)
	lan.firewall = append(lan.firewall, rulePlan{preset: "only-tcp-out", ports: ports, why: []*Inference{udp, in}})
	return true
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}

// dtlsFiltered says whether ICE connected and DTLS never did.
func (im *importer) dtlsFiltered() bool { return im.o.Stage == StageDTLS }

// dtlsStory says what the DTLS transport did.
func (im *importer) dtlsStory() string {
	var states []string
	for _, s := range im.e.DTLSStates {
		states = append(states, s.State)
	}
	if len(states) == 0 {
		return "the peer connection never left " + im.o.FinalState
	}
	return "the DTLS transport went " + strings.Join(states, " → ")
}
