package fieldimport

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

// hostGroup is the URLs of one server host of the dump, in order.
type hostGroup struct {
	host string
	urls []ICEServer
}

// groups lists the dump's ICE servers by host, in the order they appear.
func (im *importer) groups() []hostGroup {
	var out []hostGroup
	for _, s := range im.e.ICEServers {
		i := slices.IndexFunc(out, func(g hostGroup) bool { return g.host == s.Host })
		if i < 0 {
			out = append(out, hostGroup{host: s.Host})
			i = len(out) - 1
		}
		out[i].urls = append(out[i].urls, s)
	}
	return out
}

func (g hostGroup) hasTURN() bool {
	return slices.ContainsFunc(g.urls, func(s ICEServer) bool { return s.Scheme == "turn" || s.Scheme == "turns" })
}

// nameServers names the dump's server hosts as the scenario does: the
// first TURN host is the media node's embedded TURN in a call to a media
// node; the others standalone servers. Names come from the RFC 2606
// example domains, none the dump itself uses.
func (im *importer) nameServers() {
	used := map[string]bool{}
	for _, s := range im.e.ICEServers {
		used[strings.ToLower(s.Host)] = true
	}
	free := func(name string) string {
		for i := 2; used[name]; i++ {
			label, rest, _ := strings.Cut(name, ".")
			name = fmt.Sprintf("%s%d.%s", strings.TrimRight(label, "0123456789"), i, rest)
		}
		used[name] = true
		return name
	}
	n := 0
	for _, g := range im.groups() {
		if im.p.node != nil && g.hasTURN() && im.nodeDomain == "" {
			im.nodeDomain = free(nodeDomain)
			im.serverNames[g.host] = im.nodeDomain
			continue
		}
		n++
		kind := "stun"
		if g.hasTURN() {
			kind = "turn"
		}
		im.serverNames[g.host] = free(fmt.Sprintf("%s%d.example.net", kind, n))
	}
}

// hostName is a standalone server's host name: its domain's first label.
func hostName(domain string) string {
	name, _, _ := strings.Cut(domain, ".")
	return name
}

// servers turns the dump's ICE servers into the media node's TURN and
// standalone STUN/TURN servers, and alice's ice_servers.
func (im *importer) servers() {
	e := im.e
	groups := im.groups()
	var rename []string
	for _, g := range groups {
		rename = append(rename, im.serverDomain(g.host))
	}
	urlsBecause := "the dump's configuration"
	c := Observed
	switch {
	case e.ServersGuessed:
		urlsBecause, c = "read from her relay and server-reflexive candidates: the dump names no server (pion's stats carry no URLs), so each relay candidate's address is taken for its TURN server's (as pion/turn, coturn and LiveKit allocate), on LiveKit's default ports (3478, TLS 5349); servers that gave no candidate are missing", Assumed
	case !e.ConfigKnown:
		urlsBecause, c = "the URLs her candidates name (a stats report holds no configuration, so servers that gave no candidate are missing)", Inferred
	}
	if im.p.node != nil && im.opt.Config != nil {
		im.p.node.configFile = im.opt.ConfigFile
		in := im.infer(Assumed, "the media node runs the deployment's livekit.yaml ("+im.opt.ConfigFile+") and hands alice its own STUN and TURN servers",
			"it was given with --config, and the dump cannot show a server's configuration; the dump's servers were "+listOf(im.urlList(e.ICEServers), 5),
			[]string{"the deployment as it was when the dump was taken, if it has changed since", "the servers of the dump, if the deployment handed out others"}, AspectTransport, AspectStage)
		im.p.node.why = append(im.p.node.why, in)
		return
	}
	if len(groups) == 0 {
		why := im.infer(c, "alice has no STUN or TURN server", "none appears in "+urlsBecause, nil, AspectTransport, AspectCandidates)
		im.p.client.serversWhy = []*Inference{why}
		im.p.client.iceServers = []iceServerPlan{}
		if im.p.node != nil {
			im.p.node.turn = &turnPlan{enabled: false}
		}
		return
	}
	hosts := slices.Clone(rename)
	mapping := im.infer(c, "alice's STUN and TURN servers are "+listOf(im.urlList(e.ICEServers), 6),
		"they are "+urlsBecause+"; server names are replaced ("+strings.Join(hosts, ", ")+"), their credentials are not in any dump",
		serverAlternatives(e), AspectTransport)
	im.p.client.serversWhy = []*Inference{mapping}
	for i, g := range groups {
		tp := turnPlan{enabled: true, domain: rename[i]}
		if g.hasTURN() {
			tp.users = map[string]string{turnUser: turnSecret}
		}
		var stunURLs, turnURLs []string
		for _, s := range g.urls {
			u := im.rewriteURL(s)
			switch s.Scheme {
			case "turns":
				tp.tls, tp.tlsPort = true, s.Port
				turnURLs = append(turnURLs, u)
			case "turn":
				if tp.udpPort == 0 {
					tp.udpPort = s.Port
				}
				turnURLs = append(turnURLs, u)
			default:
				if tp.udpPort == 0 {
					tp.udpPort = s.Port
				}
				stunURLs = append(stunURLs, u)
			}
		}
		if len(stunURLs) > 0 {
			im.p.client.iceServers = append(im.p.client.iceServers, iceServerPlan{urls: stunURLs})
		}
		if len(turnURLs) > 0 {
			im.p.client.iceServers = append(im.p.client.iceServers, iceServerPlan{urls: turnURLs, username: turnUser, password: turnSecret})
		}
		if rename[i] == im.nodeDomain && im.p.node != nil {
			im.p.node.turn = &tp
			im.p.node.why = append(im.p.node.why, im.infer(Inferred, "the media node's embedded TURN serves "+im.nodeDomain,
				"a LiveKit node hands out its own TURN server; its ports and TLS are those of the dump's URLs",
				[]string{"a TURN server apart from the media server (servers:)"}, AspectTransport))
			continue
		}
		im.p.servers = append(im.p.servers, serverPlan{name: hostName(rename[i]), turn: tp})
	}
	if im.p.node != nil && im.p.node.turn == nil {
		im.p.node.turn = &turnPlan{enabled: false}
	}
}

func serverAlternatives(e *Evidence) []string {
	if !e.ServersGuessed {
		return nil
	}
	return []string{"other ports (TURN/TLS on 443 behind a firewall that lets only 443 out would need turns: on 443)", "more servers that gave no candidate"}
}

// urlList renders server URLs with their scenario names.
func (im *importer) urlList(ss []ICEServer) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = im.rewriteURL(s)
	}
	return out
}

// rewriteURL writes a dump's URL with the scenario's name for its host.
func (im *importer) rewriteURL(s ICEServer) string {
	u := s.Scheme + ":" + net.JoinHostPort(im.serverDomain(s.Host), fmt.Sprint(s.Port))
	if s.Scheme == "turn" || s.Scheme == "turns" {
		u += "?transport=" + s.Transport
	}
	return u
}

// endpoint sets alice's connect options from the evidence.
func (im *importer) endpoint() {
	e := im.e
	ep := &im.p.client
	ep.name = clientName
	if e.Policy == "relay" {
		c, because := Observed, "the configuration says iceTransportPolicy relay"
		if e.PolicyInferred {
			c, because = Inferred, "she gathered only relay candidates (a relay-only policy gathers no host candidates, RFC 8445 §5.1.1)"
		}
		ep.policy = "relay"
		ep.policyWhy = []*Inference{im.infer(c, "alice connects relay-only", because, nil, AspectTransport, AspectCandidates)}
	}
	ep.networkTypes = []string{"udp4"}
	tcpHosts := slices.ContainsFunc(im.candidatesOf("host"), func(c *Candidate) bool { return c.Protocol == "tcp" })
	switch {
	case tcpHosts && im.p.node != nil:
		ep.networkTypes = append(ep.networkTypes, "tcp4")
		ep.typesWhy = append(ep.typesWhy, im.infer(Observed, "alice gathers ICE-TCP candidates too (tcp4: the scenario runs on the real clock)",
			"her host candidates include TCP ones, as Chromium's do", nil, AspectTransport))
	case tcpHosts:
		ep.typesWhy = append(ep.typesWhy, im.infer(Assumed, "alice gathers UDP only",
			"she gathered ICE-TCP candidates, but icelab models no ICE-TCP between peers",
			[]string{"none in icelab; ICE-TCP between browsers rarely carries a call (RFC 6544 needs one passive end)"}, AspectTransport))
	}
	if slices.ContainsFunc(im.candidatesOf("host"), (*Candidate).IPv6) {
		ep.typesWhy = append(ep.typesWhy, im.infer(Assumed, "the call is modelled over IPv4",
			"alice gathered IPv6 host candidates too, which this import does not model", []string{"a LAN with ipv6: true and udp6 (scenarios/doc.go)"}, AspectCandidates))
	}
	ep.publish = slices.Clone(e.Sends)
	if len(ep.publish) == 0 {
		ep.publish = []string{"audio", "data"}
		ep.publishWhy = []*Inference{im.infer(Assumed, "alice publishes audio and data", "the dump shows no outbound media",
			[]string{"video too (about 1.5 Mbit/s more, which matters only on a slow or lossy link)"})}
	} else {
		ep.publishWhy = []*Inference{im.infer(Observed, "alice publishes "+strings.Join(ep.publish, ", "), "the dump holds her outbound RTP or data channels", nil)}
	}
	if e.ICERestarts > 0 {
		ep.fallback = "ice-restart"
		ep.fallbackWhy = []*Inference{im.infer(Observed, "alice restarts ICE when it fails", fmt.Sprintf("the update log shows %d offer(s) with iceRestart", e.ICERestarts),
			[]string{"LiveKit's transport fallback (fallback: transport)"}, AspectStage)}
	} else {
		ep.fallback = "none"
		ep.fallbackWhy = []*Inference{im.infer(Assumed, "alice does nothing when her connection fails (fallback: none)",
			"the dump shows no ICE restart or reconnect",
			[]string{"ice-restart (a JavaScript SDK's resume)", "transport (LiveKit's ICE/TCP and TURN/TLS fallback, media node only)"}, AspectStage)}
	}
	if im.p.peer != nil {
		im.peerEndpoint()
	}
}

// peerEndpoint infers the far end of a peer-to-peer call from the
// candidates it offered.
func (im *importer) peerEndpoint() {
	e := im.e
	bob := im.p.peer
	bob.publish = []string{"audio", "data"}
	bob.fallback = "none"
	var srflx, relay, hosts []*Candidate
	for _, c := range e.Remote {
		switch c.Type {
		case "srflx":
			srflx = append(srflx, c)
		case "relay":
			relay = append(relay, c)
		case "host":
			hosts = append(hosts, c)
		}
	}
	if len(relay) > 0 && len(srflx) == 0 && len(hosts) == 0 {
		bob.policy = "relay"
		bob.policyWhy = []*Inference{im.infer(Inferred, "bob connects relay-only",
			"he offered only relay candidates", []string{"a network that lets out nothing but TURN (he would still offer host candidates)"}, AspectTransport)}
	}
	public := slices.ContainsFunc(hosts, func(c *Candidate) bool { return c.Class() == ClassPublic })
	if public && len(srflx) == 0 {
		bob.why = append(bob.why, im.infer(Inferred, "bob has a public address", "his host candidates are public and he offered no server-reflexive one", nil, AspectCandidates))
		return
	}
	lan := lanPlan{name: peerName + "-net", nat: "port-restricted"}
	ports := map[int]bool{}
	for _, c := range srflx {
		ports[c.Port] = true
	}
	if len(ports) > 1 {
		lan.nat = "symmetric"
		lan.natWhy = []*Inference{im.infer(Observed, "bob's NAT maps each destination to its own port (symmetric)",
			"he offered server-reflexive candidates with different ports for one address", nil, AspectTransport)}
	} else {
		lan.natWhy = []*Inference{im.infer(Assumed, "bob is behind a port-restricted NAT (endpoint-independent mapping, port-dependent filtering)",
			"the dump is alice's: it shows only the candidates bob offered, not how his NAT behaves",
			[]string{"full-cone or address-restricted (easier hole punching)", "symmetric (needs TURN when alice's NAT filters by port)"}, AspectTransport, AspectCandidates)}
	}
	im.p.lans = append(im.p.lans, lan)
	bob.lan = lan.name
	bob.serversWhy = []*Inference{im.infer(Assumed, "bob is handed every server's STUN and TURN", "his configuration is not in alice's dump",
		[]string{"fewer servers (only STUN, or TURN over UDP only), which would leave him without a relay where his network needs one"}, AspectTransport)}
}

// duration sets the call's length: long enough to see the outcome the
// field saw, on pion's timers (ICE disconnected 5 s after the last
// packet, failed 25 s later).
func (im *importer) duration() {
	o := im.o
	span := time.Duration(0)
	if !im.e.Start.IsZero() {
		span = im.e.End.Sub(im.e.Start)
	}
	d := 20 * time.Second
	var because string
	switch o.Stage {
	case StageConnected:
		d = 15 * time.Second
		because = "the call connected; 15 s shows which transport carries it"
	case StageDTLS:
		because = "ICE connected and DTLS did not; 30 s leaves no doubt it never will"
		d = 30 * time.Second
	case StageICE:
		d = 20 * time.Second
		because = "the call never connected and the dump ends before it failed; 20 s of checks show it does not"
		if o.FinalState == "failed" {
			d = 40 * time.Second
			because = "the call never connected and failed; pion gives up after 30 s of checks (ICE failed)"
		}
	case StageLost:
		// The run follows the dump from the cut on: as long after it,
		// but long enough for pion to reach the state the field ended in
		// (failed 30 s after the last packet) and not past it.
		cut := o.LostAt - 5*time.Second
		if len(im.p.faults) > 0 {
			cut = o.ConnectedAt + im.p.faults[0].after
		}
		past := span - cut
		switch o.FinalState {
		case "failed":
			past = max(past, 35*time.Second)
		case "disconnected":
			past = min(max(past, 10*time.Second), 25*time.Second)
		}
		d = cut + past + 2*time.Second
		because = fmt.Sprintf("the dump runs %.0f s past the cut and ends %s; the run follows it as far, for pion's timers to reach the same state (disconnected 5 s after the last packet, failed 25 s later)", (span - cut).Seconds(), o.FinalState)
	}
	d = min(max(d, 15*time.Second), 2*time.Minute).Round(time.Second)
	im.p.duration = d
	im.p.durationWhy = []*Inference{im.infer(Inferred, fmt.Sprintf("the call lasts %s", d), because, nil, AspectStage)}
}

// header writes the file's opening comment: what it is and the address
// mapping.
func (im *importer) header() {
	e := im.e
	h := []string{
		"Imported by icelab import from " + im.source() + ".",
		"Field outcome: " + im.o.Summary() + ".",
		"Each [N] comment is one inference: observed (the dump shows it), inferred (it follows from what the dump shows) or assumed (the dump cannot show it: the conservative choice, with its alternatives). `icelab import --run` names the ones to revisit when icelab does not reproduce the field outcome.",
	}
	if len(im.an.notes) > 0 {
		h = append(h, "Addresses: every address of the dump is replaced by one from the documentation ranges (RFC 5737, RFC 3849); what each stands for: "+strings.Join(im.an.notes, "; ")+".")
	}
	if len(im.serverNames) > 0 {
		h = append(h, "Server names are replaced too (RFC 2606 example domains); the original names are not in this file.")
	}
	if e.Connections > 1 {
		h = append(h, fmt.Sprintf("The dump holds %d peer connections; this is %s (choose another with --connection).", e.Connections, e.Connection))
	}
	im.p.header = h
}
