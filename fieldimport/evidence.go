package fieldimport

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pion/stun/v4"
)

// Candidate is an ICE candidate as a dump shows it.
type Candidate struct {
	ID            string
	Local         bool
	Type          string // host, srflx, prflx, relay
	Protocol      string // udp, tcp
	Address       string // an IP, an mDNS name, or "" when hidden
	Port          int
	RelayProtocol string // udp, tcp, tls: how a local relay candidate reaches its server
	URL           string // the STUN or TURN server it came from (Chromium)
	TCPType       string // active, passive, so (ICE-TCP)
	RelatedPort   int
	// Signalled: known from the update log only (no stats object).
	Signalled bool
}

// Class is what the candidate's address says about its host.
func (c *Candidate) Class() AddrClass {
	cl, _ := classify(c.Address)
	return cl
}

// IPv6 says whether the candidate's address is IPv6.
func (c *Candidate) IPv6() bool {
	_, a := classify(c.Address)
	return a.Is6()
}

// Pair is a candidate pair ICE formed and how far it got.
type Pair struct {
	ID                string
	Local, Remote     *Candidate
	State             string // frozen, waiting, in-progress, failed, succeeded
	Nominated         bool
	BytesSent         float64
	BytesReceived     float64
	RequestsSent      float64
	ResponsesReceived float64
	// LastReceived is the last report in which bytesReceived grew; zero
	// when the dump holds no series to tell.
	LastReceived time.Time
}

// ICEServer is one configured STUN or TURN URL.
type ICEServer struct {
	URL       string
	Scheme    string // stun, stuns, turn, turns
	Host      string
	Port      int
	Transport string // udp, tcp
}

// relayProtocol is how a TURN URL reaches its server: udp, tcp or tls
// ("" for STUN).
func (s ICEServer) relayProtocol() string {
	switch {
	case s.Scheme == "turns":
		return "tls"
	case s.Scheme == "turn" && s.Transport == "tcp":
		return "tcp"
	case s.Scheme == "turn":
		return "udp"
	}
	return ""
}

// StateChange is a state and when the dump saw it (zero when unknown).
type StateChange struct {
	At    time.Time
	State string
}

// CandidateError is an icecandidateerror: a STUN or TURN server that
// failed to give a candidate.
type CandidateError struct {
	At   time.Time
	URL  string
	Code int
	Text string
}

// Evidence is what a dump shows about one peer connection.
type Evidence struct {
	File      string
	Format    Format
	UserAgent string
	// Connection is the connection's id in the dump and Connections how
	// many the dump holds.
	Connection  string
	Connections int
	// ConfigKnown: the dump holds the configuration (ICE servers and
	// policy); otherwise ICEServers are only those some candidate names.
	ConfigKnown bool
	ICEServers  []ICEServer
	// ServersGuessed: neither the configuration nor the candidates name
	// the servers (pion's stats carry no URLs); ICEServers are read from
	// the relay and server-reflexive candidates, on default ports.
	ServersGuessed bool
	Policy         string // all, relay
	// PolicyInferred: the dump does not hold the policy; it is read from
	// the candidates gathered.
	PolicyInferred bool
	Local, Remote  []*Candidate
	Pairs          []*Pair
	// Selected is the pair that carried the call last (the transport's
	// selected pair, or the nominated pair that moved the most bytes);
	// nil when none was selected.
	Selected *Pair
	// States are the peer connection's states in order; ICEStates and
	// DTLSStates the ICE and DTLS transport's.
	States, ICEStates, DTLSStates []StateChange
	// StatesDerived: the dump logs no state changes; States are read
	// from the stats (transport and pair states).
	StatesDerived   bool
	CandidateErrors []CandidateError
	ICERestarts     int
	// Sends lists the media the endpoint sent: audio, video, data.
	Sends []string
	// Start and End are the first and last moments the dump covers.
	Start, End time.Time
	// Snapshots is how many getStats() reports the dump holds.
	Snapshots int
}

// Since is how long after the dump's start t was; false when either is
// unknown.
func (e *Evidence) Since(t time.Time) (time.Duration, bool) {
	if t.IsZero() || e.Start.IsZero() || t.Before(e.Start) {
		return 0, false
	}
	return t.Sub(e.Start), true
}

// Gather reads the evidence of one peer connection of d: id, or when id
// is "" the connection that shows the most (candidates, pairs, events).
func Gather(d *Dump, id string) (*Evidence, error) {
	c, err := pick(d, id)
	if err != nil {
		return nil, err
	}
	e := &Evidence{File: d.File, Format: d.Format, UserAgent: d.UserAgent, Connection: c.ID,
		Connections: len(d.Connections), Snapshots: c.Snapshots}
	e.config(c)
	if err := e.candidates(c); err != nil {
		return nil, err
	}
	if len(e.Local) == 0 && len(e.Remote) == 0 {
		where := "its stats hold no local-candidate or remote-candidate objects"
		if d.Format == WebRTCInternals {
			where += " and its update log no icecandidate or addIceCandidate entries"
		}
		field := ""
		if c.ID != "" {
			field = fmt.Sprintf("PeerConnections[%q]", c.ID)
		}
		return nil, &Error{File: d.File, Field: field, Msg: "no ICE candidates: " + where + "; was the dump taken before ICE started?"}
	}
	e.pairs(c)
	e.selected(c)
	e.states(c)
	e.events(c)
	e.media(c)
	e.span(c)
	if e.Policy == "" {
		e.inferPolicy()
	}
	return e, nil
}

// pick chooses the connection to import.
func pick(d *Dump, id string) (*Connection, error) {
	if id != "" {
		var ids []string
		for _, c := range d.Connections {
			if c.ID == id {
				return c, nil
			}
			ids = append(ids, strconv.Quote(c.ID))
		}
		return nil, &Error{File: d.File, Field: "PeerConnections", Msg: fmt.Sprintf("no peer connection %q; the dump holds %s", id, strings.Join(ids, ", "))}
	}
	var best *Connection
	score := -1
	for _, c := range d.Connections {
		s := len(c.Events)
		for _, o := range c.Objects {
			switch o.Type {
			case "local-candidate", "remote-candidate", "candidate-pair":
				s += 10
			}
		}
		for _, ev := range c.Events {
			if ev.Type == "icecandidate" || ev.Type == "addIceCandidate" {
				s += 10
			}
		}
		if s > score {
			best, score = c, s
		}
	}
	if best == nil {
		return nil, &Error{File: d.File, Msg: "the dump holds no peer connection"}
	}
	return best, nil
}

func (e *Evidence) config(c *Connection) {
	if c.Config == nil {
		return
	}
	e.ConfigKnown = true
	e.Policy = c.Config.Policy
	if e.Policy == "" {
		e.Policy = "all" // Chromium logs the policy only when it is not the default
	}
	for _, u := range c.Config.ICEServers {
		if s, ok := parseICEURL(u); ok {
			e.ICEServers = append(e.ICEServers, s)
		}
	}
}

// parseICEURL reads a stun:, stuns:, turn: or turns: URL.
func parseICEURL(u string) (ICEServer, bool) {
	uri, err := stun.ParseURI(strings.TrimSpace(u))
	if err != nil || uri.Host == "" {
		return ICEServer{}, false
	}
	s := ICEServer{URL: u, Scheme: uri.Scheme.String(), Host: uri.Host, Port: uri.Port}
	switch uri.Proto {
	case stun.ProtoTypeTCP:
		s.Transport = "tcp"
	case stun.ProtoTypeUDP:
		s.Transport = "udp"
	}
	if s.Scheme == "turns" || s.Scheme == "stuns" {
		s.Transport = "tcp"
	}
	if s.Transport == "" {
		s.Transport = "udp"
	}
	return s, true
}

// candidateTypes are the candidate types of RFC 8445 §5.1.1, as
// webrtc-stats spells them.
var candidateTypes = []string{"host", "srflx", "prflx", "relay"}

// candidates reads the candidates of the stats, then adds those only the
// update log names (one of an unknown type there is skipped: the log is
// text a page may have shaped).
func (e *Evidence) candidates(c *Connection) error {
	for _, id := range sortedIDs(c) {
		o := c.Objects[id]
		if o.Type != "local-candidate" && o.Type != "remote-candidate" {
			continue
		}
		cand := &Candidate{ID: id, Local: o.Type == "local-candidate",
			Type:          strings.ToLower(o.lastStr("candidateType")),
			Protocol:      strings.ToLower(o.lastStr("protocol")),
			Address:       o.lastStr("address"),
			RelayProtocol: strings.ToLower(o.lastStr("relayProtocol")),
			URL:           o.lastStr("url"),
			TCPType:       o.lastStr("tcpType"),
		}
		if cand.Address == "" {
			cand.Address = o.lastStr("ip") // pion; Chromium before M80
		}
		if p, ok := o.lastNum("port"); ok && p >= 0 && p < 65536 {
			cand.Port = int(p)
		}
		if p, ok := o.lastNum("relatedPort"); ok && p >= 0 && p < 65536 {
			cand.RelatedPort = int(p)
		}
		cand.Type = normType(cand.Type)
		if !slices.Contains(candidateTypes, cand.Type) {
			field := fmt.Sprintf("stats[%q].candidateType", id)
			if c.ID != "" {
				field = fmt.Sprintf("PeerConnections[%q].", c.ID) + field
			}
			return &Error{File: e.File, Field: field, Msg: fmt.Sprintf("%q is not a candidate type; want one of %s", cand.Type, strings.Join(candidateTypes, ", "))}
		}
		e.add(cand)
	}
	for _, ev := range c.Events {
		var local bool
		switch ev.Type {
		case "icecandidate":
			local = true
		case "addIceCandidate":
		default:
			continue
		}
		cand, ok := parseCandidateEvent(ev.Value)
		if !ok || !slices.Contains(candidateTypes, cand.Type) {
			continue
		}
		cand.Local, cand.Signalled = local, true
		if !e.has(cand) {
			e.add(cand)
		}
	}
	if e.ConfigKnown {
		return nil
	}
	if u := e.candidateURLs(); len(u) > 0 {
		e.ICEServers = u
		return nil
	}
	e.guessServers()
	return nil
}

// unknownSTUN stands for a STUN server whose address no candidate shows.
const unknownSTUN = "stun server"

// guessServers reads the servers from the candidates when nothing names
// them: a relay candidate's address is its TURN server's (pion/turn,
// coturn and LiveKit allocate on the server's own address), reached over
// its relay protocol on LiveKit's default ports (3478, TLS 5349); a
// server-reflexive candidate means a STUN server, the TURN server's when
// there is one.
func (e *Evidence) guessServers() {
	var out []ICEServer
	add := func(u string) {
		if s, ok := parseICEURL(u); ok && !slices.ContainsFunc(out, func(o ICEServer) bool { return o.URL == s.URL }) {
			out = append(out, s)
		}
	}
	stunHost := ""
	for _, c := range e.Local {
		if c.Type != "relay" || c.Class() == ClassHidden || c.Class() == ClassMDNS {
			continue
		}
		h := c.Address
		if strings.Contains(h, ":") {
			h = "[" + h + "]"
		}
		if stunHost == "" {
			stunHost = h
		}
		switch relayProtocolOf(c) {
		case "tls":
			add("turns:" + h + ":5349?transport=tcp")
		case "tcp":
			add("turn:" + h + ":3478?transport=tcp")
		default:
			add("turn:" + h + ":3478?transport=udp")
		}
	}
	if slices.ContainsFunc(e.Local, func(c *Candidate) bool { return c.Type == "srflx" }) {
		if stunHost == "" {
			out = append(out, ICEServer{URL: "stun:" + unknownSTUN + ":3478", Scheme: "stun", Host: unknownSTUN, Port: 3478, Transport: "udp"})
		} else {
			add("stun:" + stunHost + ":3478")
		}
	}
	e.ICEServers, e.ServersGuessed = out, len(out) > 0
}

// normType maps pion's and older spellings of candidate types.
func normType(t string) string {
	switch t {
	case "serverreflexive", "server-reflexive", "stun":
		return "srflx"
	case "peerreflexive", "peer-reflexive":
		return "prflx"
	case "relayed", "relay":
		return "relay"
	case "local":
		return "host"
	}
	return t
}

func (e *Evidence) add(c *Candidate) {
	if c.Local {
		e.Local = append(e.Local, c)
	} else {
		e.Remote = append(e.Remote, c)
	}
}

// has says whether a signalled candidate is already known from the stats.
func (e *Evidence) has(c *Candidate) bool {
	list := e.Remote
	if c.Local {
		list = e.Local
	}
	return slices.ContainsFunc(list, func(o *Candidate) bool {
		return o.Type == c.Type && o.Protocol == c.Protocol && o.Port == c.Port &&
			(o.Address == c.Address || o.Class() == ClassHidden || c.Class() == ClassMDNS)
	})
}

// candidateURLs lists the servers the local candidates name, for a dump
// without the configuration.
func (e *Evidence) candidateURLs() []ICEServer {
	var out []ICEServer
	for _, c := range e.Local {
		if c.URL == "" {
			continue
		}
		s, ok := parseICEURL(c.URL)
		if ok && !slices.ContainsFunc(out, func(o ICEServer) bool { return o.URL == s.URL }) {
			out = append(out, s)
		}
	}
	return out
}

// parseCandidateEvent reads the value of an icecandidate or
// addIceCandidate entry: JSON {"candidate": "candidate:...", "url":
// ..., "relayProtocol": ...} in newer Chromium, "sdpMid: 0,
// sdpMLineIndex: 0, candidate: candidate:..., url: ..." in older.
func parseCandidateEvent(v string) (*Candidate, bool) {
	var line, url, relay string
	if j, err := decodeJSON([]byte(v)); err == nil && j.kind == jObject {
		line, url, relay = j.get("candidate").str(), j.get("url").str(), j.get("relayProtocol").str()
	} else {
		i := strings.Index(v, "candidate: ")
		if i < 0 {
			return nil, false
		}
		line = v[i+len("candidate: "):]
		end := len(line)
		field := func(key string) string {
			j := strings.Index(line, ", "+key+": ")
			if j < 0 {
				return ""
			}
			end = min(end, j)
			val := line[j+len(key)+4:]
			if k := strings.Index(val, ", "); k >= 0 {
				val = val[:k]
			}
			return val
		}
		url, relay = field("url"), field("relayProtocol")
		line = line[:end]
	}
	c, ok := parseCandidateLine(line)
	if !ok {
		return nil, false
	}
	c.URL, c.RelayProtocol = url, strings.ToLower(relay)
	return c, true
}

// parseCandidateLine reads an SDP candidate attribute (RFC 8839 §5.1):
// "candidate:FOUNDATION COMPONENT PROTOCOL PRIORITY ADDRESS PORT typ TYPE
// [raddr A rport P] [tcptype T] ...".
func parseCandidateLine(s string) (*Candidate, bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "a=")
	s = strings.TrimPrefix(s, "candidate:")
	f := strings.Fields(s)
	if len(f) < 8 || f[6] != "typ" {
		return nil, false
	}
	port, err := strconv.Atoi(f[5])
	if err != nil || port < 0 || port > 65535 {
		return nil, false
	}
	c := &Candidate{Protocol: strings.ToLower(f[2]), Address: f[4], Port: port, Type: normType(strings.ToLower(f[7]))}
	for i := 8; i+1 < len(f); i += 2 {
		switch f[i] {
		case "rport":
			c.RelatedPort, _ = strconv.Atoi(f[i+1])
		case "tcptype":
			c.TCPType = f[i+1]
		}
	}
	return c, true
}

// pairs reads the candidate pairs, joined with their candidates.
func (e *Evidence) pairs(c *Connection) {
	byID := map[string]*Candidate{}
	for _, cand := range slices.Concat(e.Local, e.Remote) {
		if cand.ID != "" {
			byID[cand.ID] = cand
		}
	}
	for _, id := range sortedIDs(c) {
		o := c.Objects[id]
		if o.Type != "candidate-pair" {
			continue
		}
		p := &Pair{ID: id, State: o.lastStr("state"), Local: byID[o.lastStr("localCandidateId")], Remote: byID[o.lastStr("remoteCandidateId")]}
		p.Nominated, _ = o.last("nominated").boolean()
		p.BytesSent, _ = o.lastNum("bytesSent")
		p.BytesReceived, _ = o.lastNum("bytesReceived")
		p.RequestsSent, _ = o.lastNum("requestsSent")
		p.ResponsesReceived, _ = o.lastNum("responsesReceived")
		p.LastReceived = lastGrowth(o.Attrs["bytesReceived"])
		e.Pairs = append(e.Pairs, p)
	}
}

// lastGrowth is when a counter last grew over its series; zero when it
// never did within the series.
func lastGrowth(ps []Point) time.Time {
	var at time.Time
	for i := 1; i < len(ps); i++ {
		a, _ := ps[i-1].V.num()
		b, _ := ps[i].V.num()
		if b > a {
			at = ps[i].At
		}
	}
	return at
}

// selected finds the pair that carried the call last: the transport's
// selectedCandidatePairId (its newest non-empty value), Firefox's
// "selected", or for pion (which reports no selection) the nominated,
// succeeded pair that received the most.
func (e *Evidence) selected(c *Connection) {
	byID := map[string]*Pair{}
	for _, p := range e.Pairs {
		byID[p.ID] = p
	}
	for _, id := range sortedIDs(c) {
		o := c.Objects[id]
		if o.Type != "transport" {
			continue
		}
		ps := o.Attrs["selectedCandidatePairId"]
		for i := len(ps) - 1; i >= 0; i-- {
			if p := byID[ps[i].V.str()]; p != nil {
				e.Selected = p
				return
			}
		}
	}
	for _, id := range sortedIDs(c) {
		if o := c.Objects[id]; o.Type == "candidate-pair" {
			if sel, _ := o.last("selected").boolean(); sel && byID[id] != nil {
				e.Selected = byID[id]
				return
			}
		}
	}
	for _, p := range e.Pairs {
		if p.State == "succeeded" && p.Nominated && (e.Selected == nil || p.BytesReceived > e.Selected.BytesReceived) {
			e.Selected = p
		}
	}
}

// inferPolicy reads the ICE transport policy from the candidates when
// the dump does not hold it: a relay-only endpoint gathers nothing but
// relay candidates (RFC 8445 §5.1.1, iceTransportPolicy "relay").
func (e *Evidence) inferPolicy() {
	e.PolicyInferred = true
	e.Policy = "all"
	gathered := func(c *Candidate) bool { return c.Type == "host" || c.Type == "srflx" }
	if slices.ContainsFunc(e.Local, func(c *Candidate) bool { return c.Type == "relay" }) && !slices.ContainsFunc(e.Local, gathered) {
		e.Policy = "relay"
	}
}

func sortedIDs(c *Connection) []string {
	ids := make([]string, 0, len(c.Objects))
	for id := range c.Objects {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
