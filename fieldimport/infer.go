package fieldimport

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/icelab/icelab/relay"
)

// Options are what the importer cannot take from a dump.
type Options struct {
	// Name is the scenario's name; default "field-" and the dump's base
	// name.
	Name string
	// File is where the scenario will be written, against which its
	// relative paths (ConfigFile) resolve; "" for the working directory.
	File string
	// Connection picks the peer connection to import by its id in the
	// dump; "" picks the one that shows the most.
	Connection string
	// ConfigFile is the deployment's livekit.yaml as the scenario refers
	// to it (relative to the scenario file), and Config its content:
	// the media node then runs that configuration instead of one made
	// from the dump's ICE servers.
	ConfigFile string
	Config     *relay.Config
	// Report is the field report in the reporter's words; default: what
	// the dump shows, in one sentence.
	Report string
}

// Import is a dump turned into a scenario.
type Import struct {
	Evidence *Evidence
	// Outcome is what happened in the field, which the scenario expects.
	Outcome Outcome
	// Inferences are every conclusion the scenario rests on, numbered
	// as the file's comments number them.
	Inferences []*Inference
	// Scenario is the scenario file.
	Scenario []byte
	// Client names the endpoint the dump came from in the scenario.
	Client string
	// PeerToPeer: the far end is a peer (peers:), not a media node.
	PeerToPeer bool
	// Archetype names the archetype the client's network matches; "" for
	// none.
	Archetype string
	// accept holds the candidate types the expectation accepts.
	accept struct{ local, remote []string }
}

// The names the scenario gives its parts.
const (
	clientName = "alice"
	peerName   = "bob"
	nodeDomain = "turn.example.com"
	turnUser   = "icelab"
	turnSecret = "icelab-secret"
)

// importer carries one import.
type importer struct {
	e    *Evidence
	o    Outcome
	opt  Options
	an   *anonymizer
	p    plan
	list []*Inference
	// what the evidence says about the client's network
	hostClass   AddrClass
	udpOut      bool // UDP left the client's network
	udpBlocked  bool
	p2p         bool
	serverNames map[string]string // dump host → scenario name (domain)
}

// infer records an inference and returns it.
func (im *importer) infer(c Certainty, what, because string, alts []string, affects ...Aspect) *Inference {
	in := &Inference{N: len(im.list) + 1, Certainty: c, What: what, Because: because, Alternatives: alts, Affects: affects}
	im.list = append(im.list, in)
	return in
}

// Convert turns a dump into a scenario: evidence, the inferences drawn
// from it, and the file.
func Convert(d *Dump, opt Options) (*Import, error) {
	e, err := Gather(d, opt.Connection)
	if err != nil {
		return nil, err
	}
	im := &importer{e: e, o: FieldOutcome(e), opt: opt, serverNames: map[string]string{}}
	im.an = newAnonymizer(im.dumpAddresses())
	im.build()
	data, archetype, err := im.write()
	if err != nil {
		return nil, err
	}
	out := &Import{Evidence: e, Outcome: im.o, Inferences: im.list, Scenario: data, Client: clientName,
		PeerToPeer: im.p2p, Archetype: archetype}
	out.accept.local, out.accept.remote = im.p.expect.local, im.p.expect.remote
	return out, nil
}

// dumpAddresses lists every address the evidence holds.
func (im *importer) dumpAddresses() []string {
	var out []string
	for _, c := range slices.Concat(im.e.Local, im.e.Remote) {
		out = append(out, c.Address)
	}
	for _, s := range im.e.ICEServers {
		out = append(out, s.Host)
	}
	return out
}

// build draws the inferences, in the order the file presents them.
func (im *importer) build() {
	e := im.e
	im.p.name = im.opt.Name
	if im.p.name == "" {
		im.p.name = scenarioName(e.File)
	}
	im.p.source = im.source() + "; imported by icelab import"
	im.p.report = im.opt.Report
	if im.p.report == "" {
		im.p.report = "In the field: " + im.fieldSentence()
	}
	im.p2p = im.farEnd()
	im.nameServers()
	im.clientNetwork()
	im.servers()
	im.endpoint()
	im.midCallCut()
	im.duration()
	im.expectation()
	im.header()
}

var nameChars = regexp.MustCompile(`[^a-z0-9_-]+`)

// scenarioName makes a scenario name from a dump's file name.
func scenarioName(file string) string {
	base := strings.ToLower(filepath.Base(file))
	for _, ext := range []string{".gz", ".json", ".txt"} {
		base = strings.TrimSuffix(base, ext)
	}
	base = strings.Trim(nameChars.ReplaceAllString(base, "-"), "-")
	if base == "" {
		base = "dump"
	}
	name := "field-" + base
	if len(name) > 60 {
		name = name[:60]
	}
	return name
}

func (im *importer) source() string {
	e := im.e
	s := fmt.Sprintf("%s %s", filepath.Base(e.File), formatName(e.Format))
	if e.UserAgent != "" {
		s += " (" + browserOf(e.UserAgent) + ")"
	}
	switch {
	case e.Connections > 1:
		s += fmt.Sprintf(", peer connection %s of %d", e.Connection, e.Connections)
	case e.Connection != "":
		s += ", peer connection " + e.Connection
	}
	return s
}

func formatName(f Format) string {
	switch f {
	case WebRTCInternals:
		return "webrtc-internals dump"
	case PionGetStats:
		return "pion GetStats() JSON"
	}
	return "getStats() report"
}

var uaProduct = regexp.MustCompile(`(HeadlessChrome|Chrome|Firefox|Edg|Safari)/(\d+)`)

// browserOf names the browser and major version of a user agent string.
func browserOf(ua string) string {
	m := uaProduct.FindStringSubmatch(ua)
	if m == nil {
		return "user agent not recognised"
	}
	name := map[string]string{"HeadlessChrome": "headless Chromium", "Chrome": "Chrome", "Firefox": "Firefox", "Edg": "Edge", "Safari": "Safari"}[m[1]]
	return name + " " + m[2]
}

// fieldSentence says what the dump shows happened.
func (im *importer) fieldSentence() string {
	o := im.o
	s := "the peer connection " + o.Summary()
	if o.ConnectedAt > 0 {
		s += fmt.Sprintf("; connected %.1f s after the dump's first event", o.ConnectedAt.Seconds())
	}
	if o.LostAt > 0 {
		s += fmt.Sprintf(", lost at %.1f s", o.LostAt.Seconds())
	}
	if o.FinalState != "" {
		s += "; its last state was " + o.FinalState
	}
	return s + "."
}

// farEnd decides whether the far end is a media node (clients:) or a
// peer (peers:). A media server offers host candidates on public
// addresses (ICE-lite, as LiveKit's SFU); a peer behind a NAT offers
// server-reflexive or relay candidates, or private host addresses.
func (im *importer) farEnd() bool {
	var peerish, private, public []string
	for _, c := range im.e.Remote {
		if c.Type == "prflx" {
			continue
		}
		switch {
		case c.Type == "srflx" || c.Type == "relay":
			peerish = append(peerish, c.Type+" "+im.an.hostPort(c.Address, c.Port, sideRemote, "the far end's "+c.Type+" candidate"))
		case c.Class() == ClassMDNS:
			peerish = append(peerish, "host "+c.Protocol+" on an mDNS name (only browsers hide their addresses so)")
		case c.Class() == ClassPrivate || c.Class() == ClassCGNAT:
			private = append(private, "host "+im.an.hostPort(c.Address, c.Port, sideRemote, "the far end's host candidate"))
		case c.Class() == ClassPublic:
			public = append(public, c.Protocol+" "+im.an.hostPort(c.Address, c.Port, sideRemote, "the far end's host candidate"))
		}
	}
	if len(public) == 0 {
		peerish = append(peerish, private...)
	}
	if len(peerish) > 0 {
		in := im.infer(Inferred, "the far end is a peer (peers:), not a media server",
			"it offered candidates only an endpoint behind a NAT, with a relay or in a browser offers: "+listOf(peerish, 4),
			[]string{"a media server that relays or sits behind a NAT (clients: and node:)"}, AspectTransport, AspectCandidates)
		im.p.peer = &endpointPlan{name: peerName, why: []*Inference{in}}
		return true
	}
	because := "it offered only host candidates on public addresses (" + listOf(public, 4) + "), as a media server (an SFU such as LiveKit's) does"
	if len(private) > 0 {
		because = "it offered host candidates on public addresses (" + listOf(public, 4) + ") beside private ones, and no reflexive or relay candidate, as a media server (an SFU such as LiveKit's) does"
	}
	c := Inferred
	if len(public) == 0 {
		c, because = Assumed, "the dump holds no candidate of the far end but peer-reflexive ones learnt from its checks"
	}
	in := im.infer(c, "the far end is a media server: icelab's media node (node:), alice its client", because,
		[]string{"a peer with a public address (peers:)"}, AspectCandidates)
	im.p.node = &nodePlan{why: []*Inference{in}}
	return false
}

// listOf joins at most n items, saying how many more there are.
func listOf(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(" and %d more", len(items)-n)
}

// candidatesOf lists the local candidates of one type.
func (im *importer) candidatesOf(typ string) []*Candidate {
	var out []*Candidate
	for _, c := range im.e.Local {
		if c.Type == typ {
			out = append(out, c)
		}
	}
	return out
}

// describeCandidate renders a local candidate for a comment.
func (im *importer) describeCandidate(c *Candidate, sd side) string {
	who := "alice's"
	if sd == sideRemote {
		who = "the far end's"
	}
	s := c.Type + "/" + c.Protocol
	if c.Type == "relay" {
		s += "(" + relayProtocolOf(c) + ")"
	}
	return s + " " + im.an.hostPort(c.Address, c.Port, sd, who+" "+c.Type+" candidate")
}

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
		because := "her host candidates are hidden (" + describeClass(ClassMDNS, publicAddr(nil)) + ")"
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
	case len(udpTried) > 0 || udpChecks:
		because := "no server-reflexive or UDP relay candidate came back"
		if len(udpTried) > 0 {
			because += " although she was configured with " + listOf(udpTried, 3)
		}
		if udpChecks {
			because += "; her UDP checks to the far end got no answer"
		}
		if len(errs) > 0 {
			because += "; " + listOf(errs, 2)
		}
		im.udpBlocked = true
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
// let out only to some ports: a TURN/TCP URL or ICE-TCP that failed
// where TURN/TLS worked. It reports whether it did.
func (im *importer) tcpRestricted(lan *lanPlan, udp *Inference) bool {
	e := im.e
	relays := im.candidatesOf("relay")
	tlsPorts := map[int]bool{}
	tcpTURN := false
	for _, c := range relays {
		switch relayProtocolOf(c) {
		case "tls":
			if s, ok := parseICEURL(c.URL); ok {
				tlsPorts[s.Port] = true
			}
		case "tcp":
			tcpTURN = true
		}
	}
	if tcpTURN {
		return false // TURN over plain TCP worked: only UDP is blocked
	}
	var failed []string
	for _, s := range e.ICEServers {
		if s.Scheme == "turn" && s.Transport == "tcp" {
			failed = append(failed, fmt.Sprintf("turn:%s:%d?transport=tcp gave no relay", im.serverDomain(s.Host), s.Port))
		}
	}
	iceTCP := slices.ContainsFunc(e.Pairs, func(p *Pair) bool {
		return p.Local != nil && p.Local.Protocol == "tcp" && p.Local.Type != "relay" && p.State != "succeeded" && p.RequestsSent > 0
	})
	hasTCPHost := slices.ContainsFunc(im.candidatesOf("host"), func(c *Candidate) bool { return c.Protocol == "tcp" })
	remoteTCP := slices.ContainsFunc(e.Remote, func(c *Candidate) bool { return c.Protocol == "tcp" })
	if iceTCP || (hasTCPHost && remoteTCP && !slices.ContainsFunc(e.Pairs, func(p *Pair) bool {
		return p.Local != nil && p.Local.Protocol == "tcp" && p.State == "succeeded"
	})) {
		failed = append(failed, "her ICE-TCP candidates never connected to the far end's TCP candidates")
	}
	if len(tlsPorts) == 0 || len(failed) == 0 {
		return false
	}
	ports := []int{80, 443}
	for p := range tlsPorts {
		if !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	slices.Sort(ports)
	var tls []string
	for p := range tlsPorts {
		tls = append(tls, fmt.Sprint(p))
	}
	slices.Sort(tls)
	in := im.infer(Inferred, fmt.Sprintf("alice's firewall lets out only TCP to %s (web ports and the TURN/TLS port)", joinInts(ports)),
		"TURN/TLS to port "+strings.Join(tls, ", ")+" gave a relay candidate while "+strings.Join(failed, "; "),
		[]string{"UDP blocked with TCP open but the TURN server not listening on TCP (then only block-udp)"}, AspectTransport)
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

// serverDomain is the scenario's name for a server host of the dump.
func (im *importer) serverDomain(host string) string {
	if d, ok := im.serverNames[host]; ok {
		return d
	}
	d := fmt.Sprintf("server%d.example.net", len(im.serverNames)+1)
	im.serverNames[host] = d
	return d
}

// midCallCut models a call that connected and was lost: a fault that
// stops what carried it when its bytes stopped.
func (im *importer) midCallCut() {
	o, e := im.o, im.e
	if o.Stage != StageLost || o.ConnectedAt <= 0 {
		return
	}
	cut := o.LostAt - 5*time.Second
	because := fmt.Sprintf("the peer connection connected at %.1f s and went %s at %.1f s", o.ConnectedAt.Seconds(), o.FinalState, o.LostAt.Seconds())
	c := Inferred
	if e.Selected != nil && !e.Selected.LastReceived.IsZero() {
		if d, ok := e.Since(e.Selected.LastReceived); ok && d <= o.LostAt && d > o.ConnectedAt {
			cut = d
			because += fmt.Sprintf("; the selected pair's bytesReceived last grew at %.1f s", d.Seconds())
		}
	} else {
		because += "; the dump holds no byte counts over time, so the cut is put 5 s before the state change (pion's and browsers' disconnected timeout)"
		c = Assumed
	}
	after := (cut - o.ConnectedAt).Round(100 * time.Millisecond)
	if after < 0 {
		after = 0
	}
	f := faultPlan{name: "cut", event: "connected", client: clientName, after: after}
	udp := slices.Contains(o.Transports, "ICE/UDP") || slices.Contains(o.Transports, "TURN/UDP")
	target := im.p.client.lan
	if udp && target != "" {
		f.kind, f.target, f.rules = "add-rules", target, []string{"block-udp"}
	} else {
		f.kind, f.target = "cut", clientName
	}
	what := fmt.Sprintf("%.1f s after alice connects, her network stops the UDP that carried the call", after.Seconds())
	if f.kind == "cut" {
		what = fmt.Sprintf("%.1f s after alice connects, her link is cut", after.Seconds())
	}
	f.why = []*Inference{im.infer(c, what, because,
		[]string{"udp-whack {after} (a firewall that ends every UDP flow after a while)", "a network change (Wi-Fi to cellular: fault kind move)", "the far end or the server going away"},
		AspectStage)}
	im.p.faults = append(im.p.faults, f)
}
