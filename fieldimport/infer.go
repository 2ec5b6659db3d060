package fieldimport

import (
	"fmt"
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
	p2p         bool
	serverNames map[string]string // dump host → scenario name (domain)
	nodeDomain  string            // the media node's TURN domain, when it serves one
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
