package harness

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/icelab/icelab/relay"
	"github.com/icelab/icelab/relay/pki"
	"github.com/icelab/icelab/vnet"
	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// Names of the parts a run builds.
const (
	defaultNodeName = "media"
	secondNodeName  = "media-2"
	lbName          = "lb"
	signalDomain    = "rtc.icelab.test"
	signalDomain2   = "rtc-2.icelab.test"
	defaultDuration = 40 * time.Second
	credentialTTL   = 24 * time.Hour
)

// defaultClientLatency is a client's access link latency when its spec
// sets no impairment: real paths have latency, and without it every
// exchange completes in the same instant, so races that latency decides
// in the field (a UDP TURN allocation finishing before a TLS one) would be
// decided by the scheduler instead.
const defaultClientLatency = 15 * time.Millisecond

// Option adjusts a run.
type Option func(*options)

type options struct {
	ca      *pki.CA
	loggers logging.LoggerFactory
}

// WithCA issues the run's signalling certificate from ca, so that a node
// sharing port 443 between signalling and TURN/TLS presents certificates
// of one authority. Without it each run makes its own.
func WithCA(ca *pki.CA) Option { return func(o *options) { o.ca = ca } }

// WithLoggerFactory sets the pion logger factory for every peer and the
// relay; by default pion logs nothing below errors.
func WithLoggerFactory(f logging.LoggerFactory) Option { return func(o *options) { o.loggers = f } }

// NeedsRealClock reports whether a spec must run on the real clock: a
// client that gathers TCP candidates does ICE-TCP, whose active side pion
// dials through the operating system.
func (s Spec) NeedsRealClock() bool {
	for _, c := range s.Clients {
		if hasTCP(c.NetworkTypes) {
			return true
		}
	}
	return false
}

// Run runs spec on the caller's clock: the real one, or the fake one of a
// testing/synctest bubble the caller is in. It returns when the call has
// run for spec.Duration or ctx ends.
func Run(ctx context.Context, spec Spec, opts ...Option) Result {
	return run(ctx, spec, RealClock, opts)
}

// RunT runs spec in a testing/synctest bubble of its own, so that pion's
// production timers cost no wall time, unless the spec needs the real
// clock; Result.Clock says which. It must not be called from inside a
// bubble.
func RunT(t *testing.T, spec Spec, opts ...Option) Result {
	t.Helper()
	if spec.NeedsRealClock() {
		return run(t.Context(), spec, RealClock, opts)
	}
	var res Result
	start := time.Now() // the real clock, outside the bubble
	synctest.Test(t, func(*testing.T) {
		res = run(context.Background(), spec, FakeClock, opts)
	})
	res.Wall = time.Since(start)
	return res
}

func run(ctx context.Context, spec Spec, clock Clock, opts []Option) (res Result) {
	wall := time.Now() // fake inside a bubble: RunT measures the wall time there
	res = Result{Name: spec.Name, Clock: clock}
	defer func() { res.Wall = time.Since(wall) }()
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	if o.loggers == nil {
		lf := logging.NewDefaultLoggerFactory()
		lf.DefaultLogLevel = logging.LogLevelDisabled
		o.loggers = lf
	}
	if err := spec.validate(); err != nil {
		res.Err = err.Error()
		return res
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r, err := newRunner(ctx, spec, clock, o)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	r.cancel = cancel
	defer r.close()
	r.start(ctx)
	d := spec.Duration
	if d == 0 {
		d = defaultDuration
	}
	timer := time.NewTimer(d)
	select {
	case <-timer.C:
	case <-ctx.Done():
		timer.Stop()
	}
	r.collect(&res)
	return res
}

// validate checks what a spec refers to.
func (s Spec) validate() error {
	names := map[string]bool{"": true, "internet": true}
	for _, l := range s.LANs {
		if names[l.Name] {
			return fmt.Errorf("lan %q: duplicate or reserved name", l.Name)
		}
		names[l.Name] = true
	}
	if s.Node.LAN != "" && !names[s.Node.LAN] {
		return fmt.Errorf("node: lan %q is not defined", s.Node.LAN)
	}
	clients := map[string]bool{}
	for i, c := range s.Clients {
		if c.Name == "" {
			return fmt.Errorf("clients[%d]: a name is required", i)
		}
		if clients[c.Name] {
			return fmt.Errorf("clients[%d]: duplicate name %q", i, c.Name)
		}
		clients[c.Name] = true
		if !names[c.LAN] {
			return fmt.Errorf("client %s: lan %q is not defined", c.Name, c.LAN)
		}
	}
	if len(s.Clients) == 0 {
		return errors.New("a run needs at least one client")
	}
	for i, f := range s.Faults {
		if f.When.Event != "" && !clients[f.When.Client] {
			return fmt.Errorf("faults[%d]: event %q of unknown client %q", i, f.When.Event, f.When.Client)
		}
		switch f.When.Event {
		case "", "ice-connected", "connected":
		default:
			return fmt.Errorf("faults[%d]: unknown event %q (want ice-connected or connected)", i, f.When.Event)
		}
	}
	return nil
}

// runner holds everything one run built.
type runner struct {
	spec  Spec
	clock Clock
	o     options
	rs    *runState
	topo  *topology

	nodes   []*node
	relays  []relay.Relay
	clients []*client
	lb      *loadBalancer
	untap   func()
	bridge  *vnet.Bridge       // real-clock runs: ICE-TCP through loopback
	cancel  context.CancelFunc // ends the clients' loops
	timers  []*time.Timer
	mu      sync.Mutex
	drops   map[string]map[string]int // client → reason → count
	packets []vnet.Event              // captured, when the spec asks
	addrs   map[netip.Addr]string     // address → client
	closers []func()
}

func newRunner(ctx context.Context, spec Spec, clock Clock, o options) (_ *runner, err error) {
	r := &runner{spec: spec, clock: clock, o: o, rs: newRunState(), drops: map[string]map[string]int{}, addrs: map[netip.Addr]string{}}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	if r.topo, err = buildNetwork(&spec); err != nil {
		return nil, err
	}
	ca := o.ca
	if ca == nil {
		if ca, err = pki.NewCA("icelab run CA"); err != nil {
			return nil, err
		}
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)

	cfg := spec.Node.Config
	if cfg.TURN.Domain == "" {
		cfg = mergeDefaults(cfg)
	}
	secret := ensureCredentials(&cfg)

	nodeNames := []string{nodeName(spec.Node)}
	if spec.Node.SecondNode {
		nodeNames = append(nodeNames, secondNodeName)
	}
	var lbAddr netip.Addr
	if spec.Node.LoadBalancer != nil {
		lbHost, err := r.topo.addHost(lbName, "", netip.Addr{}, vnet.Impairment{})
		if err != nil {
			return nil, err
		}
		lbAddr = lbHost.Addr()
	}
	var order []string
	for _, c := range spec.Clients {
		order = append(order, c.Name)
	}
	var backends []netip.AddrPort
	for i, name := range nodeNames {
		addr := spec.Node.Addr
		if i > 0 {
			addr = netip.Addr{}
		}
		host, err := r.topo.addHost(name, spec.Node.LAN, addr, spec.Node.Link)
		if err != nil {
			return nil, err
		}
		external := host.ExternalAddr()
		if cfg.RTC.UseExternalIP && cfg.RTC.NodeIP.IsValid() {
			external = cfg.RTC.NodeIP
		}
		nodeCfg := cfg
		nodeCfg.TURN.AllowedPeers = append(slices.Clone(cfg.TURN.AllowedPeers),
			netip.PrefixFrom(host.Addr(), 32), netip.PrefixFrom(host.ExternalAddr(), 32))
		shared := nodeCfg.TURN.Certificate != nil && !nodeCfg.TURN.ExternalTLS && nodeCfg.TURN.TLSPort == signalPort && spec.Node.LoadBalancer == nil
		relayCfg := nodeCfg
		if shared {
			// One listener on 443 serves HTTPS and TURN/TLS: the relay
			// keeps only UDP and TCP, and the node's TLS front end
			// hands TURN streams to the relay's TCP port.
			relayCfg.TURN.Certificate, relayCfg.TURN.CertFile, relayCfg.TURN.KeyFile = nil, "", ""
		}
		if cfg.TURN.Enabled {
			rl := spec.Node.Relay
			if rl == nil || i > 0 {
				srv, err := relay.New(relayCfg, relay.WithName(name+"-turn"), relay.WithBindIP(host.Addr()),
					relay.WithExternalIP(external), relay.WithLoggerFactory(o.loggers))
				if err != nil {
					return nil, err
				}
				rl = srv
			}
			if err := rl.Start(ctx, host); err != nil {
				return nil, fmt.Errorf("node %s: relay: %w", name, err)
			}
			r.relays = append(r.relays, rl)
		}
		if nodeCfg.TURN.TLSEnabled() {
			backends = append(backends, netip.AddrPortFrom(host.Addr(), uint16(nodeCfg.TURN.TLSPort)))
		}
		nopts := nodeOptions{
			portMin: uint16(cfg.RTC.PortRangeStart), portMax: uint16(cfg.RTC.PortRangeEnd),
			singlePort: spec.Node.SinglePort, useExternalIP: cfg.RTC.UseExternalIP, loggers: o.loggers,
		}
		for _, c := range spec.Clients {
			nopts.renomination = nopts.renomination || c.Fallback.Policy == Renominate
		}
		if clock == RealClock && cfg.RTC.TCPPort > 0 {
			if nopts.tcpMux, err = r.iceTCP(host, cfg.RTC.TCPPort); err != nil {
				return nil, fmt.Errorf("node %s: ice-tcp: %w", name, err)
			}
		}
		nd, err := newNode(name, host, nodeCfg, external, nopts, r.rs, spec.Clients)
		if err != nil {
			return nil, err
		}
		r.nodes = append(r.nodes, nd)
		domain := signalDomain
		if i > 0 {
			domain = signalDomain2
		}
		sigLeaf, err := ca.Valid(domain)
		if err != nil {
			return nil, err
		}
		l, err := host.ListenTCP("tcp4", &net.TCPAddr{IP: host.Addr().AsSlice(), Port: signalPort})
		if err != nil {
			return nil, fmt.Errorf("node %s: signalling on %d: %w", name, signalPort, err)
		}
		var front net.Listener = l
		certs := []tls.Certificate{sigLeaf.Certificate}
		if shared {
			d := newDemux(l, host, netip.AddrPortFrom(host.Addr(), uint16(cfg.TURN.UDPPort)), *nodeCfg.TURN.Certificate, sigLeaf.Certificate, domain)
			r.closers = append(r.closers, d.close)
			front = d.http
			certs = nil
		}
		turnURLHost := cfg.TURN.Domain
		tlsPort := cfg.TURN.TLSPort
		if spec.Node.LoadBalancer != nil {
			tlsPort = spec.Node.LoadBalancer.Port
		}
		ext := external
		iceServers := func(client string) []webrtc.ICEServer {
			return clientICEServers(nodeCfg, ext, turnURLHost, tlsPort, client, secret)
		}
		nd.serve(front, certs, iceServers, order)
		if err := r.topo.addName(domain, external.String()); err != nil {
			return nil, err
		}
	}
	if spec.Node.LoadBalancer != nil && cfg.TURN.Certificate != nil {
		r.lb, err = newLoadBalancer(r.topo.hosts[lbName], spec.Node.LoadBalancer.Port, *cfg.TURN.Certificate, backends)
		if err != nil {
			return nil, err
		}
	}
	turnTarget := r.nodes[0].external
	if lbAddr.IsValid() {
		turnTarget = lbAddr
	}
	if _, ok := spec.Names[cfg.TURN.Domain]; !ok && cfg.TURN.Domain != "" {
		if err := r.topo.addName(cfg.TURN.Domain, turnTarget.String()); err != nil {
			return nil, err
		}
	}
	for name, addr := range spec.Names {
		if addr == "" {
			continue // does not resolve
		}
		if err := r.topo.addName(name, addr); err != nil {
			return nil, err
		}
	}
	for _, cs := range spec.Clients {
		link := cs.Link
		if link == (vnet.Impairment{}) {
			link = vnet.Impairment{Latency: defaultClientLatency}
		}
		host, err := r.topo.addHost(cs.Name, cs.LAN, netip.Addr{}, link)
		if err != nil {
			return nil, err
		}
		r.addrs[host.Addr()] = cs.Name
		r.addrs[host.ExternalAddr()] = cs.Name
		if r.bridge != nil && hasTCP(cs.NetworkTypes) {
			if _, err := r.bridge.AddClient(host); err != nil {
				return nil, fmt.Errorf("client %s: %w", cs.Name, err)
			}
		}
		other := ""
		if len(r.nodes) > 1 {
			other = "https://" + signalDomain2
		}
		c := newClient(cs, host, r.rs, o.loggers, roots, "https://"+signalDomain, other, r.clock == RealClock)
		r.clients = append(r.clients, c)
	}
	r.untap = r.topo.net.Tap(r.observePacket)
	return r, nil
}

func nodeName(n NodeSpec) string {
	if n.Name != "" {
		return n.Name
	}
	return defaultNodeName
}

// mergeDefaults fills a zero config with LiveKit's documented defaults.
func mergeDefaults(cfg relay.Config) relay.Config {
	d := relay.DefaultConfig()
	d.Keys, d.TURN.Users, d.TURN.Certificate = cfg.Keys, cfg.TURN.Users, cfg.TURN.Certificate
	return d
}

// ensureCredentials makes sure the relay has credentials the node can hand
// out, returning the TURN REST secret to use ("" for static users).
func ensureCredentials(cfg *relay.Config) string {
	if len(cfg.Keys) > 0 {
		keys := make([]string, 0, len(cfg.Keys))
		for k := range cfg.Keys {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return cfg.Keys[keys[0]]
	}
	if len(cfg.TURN.Users) > 0 {
		return ""
	}
	cfg.Keys = map[string]string{"icelab": "icelab-secret"}
	return "icelab-secret"
}

// clientICEServers is what the node hands a client: STUN and TURN over UDP
// and TCP on the node's address, TURN/TLS on the TURN domain. Clients keep
// what their Relays setting asks for (LiveKit's SDKs: UDP and TLS).
func clientICEServers(cfg relay.Config, external netip.Addr, domain string, tlsPort int, client, secret string) []webrtc.ICEServer {
	if !cfg.TURN.Enabled {
		return nil
	}
	user, pass := "", ""
	if secret != "" {
		user, pass = relay.RESTCredentials(secret, client, time.Now().Add(credentialTTL))
	} else {
		names := make([]string, 0, len(cfg.TURN.Users))
		for u := range cfg.TURN.Users {
			names = append(names, u)
		}
		sort.Strings(names)
		user, pass = names[0], cfg.TURN.Users[names[0]]
	}
	hp := net.JoinHostPort(external.String(), fmt.Sprint(cfg.TURN.UDPPort))
	urls := []string{"turn:" + hp + "?transport=udp", "turn:" + hp + "?transport=tcp"}
	if cfg.TURN.TLSEnabled() {
		urls = append(urls, "turns:"+net.JoinHostPort(domain, fmt.Sprint(tlsPort))+"?transport=tcp")
	}
	return []webrtc.ICEServer{
		{URLs: []string{"stun:" + hp}},
		{URLs: urls, Username: user, Credential: pass},
	}
}

// iceTCP gives host a passive ICE-TCP port behind the run's loopback
// bridge: pion's active side dials through the operating system, so the
// port listens for real on a loopback address and each connection is
// carried into the virtual network, where NATs and firewalls decide it.
func (r *runner) iceTCP(host *vnet.Host, port int) (ice.TCPMux, error) {
	if r.bridge == nil {
		r.bridge = vnet.NewBridge()
	}
	l, err := r.bridge.Listen(host, port)
	if err != nil {
		return nil, err
	}
	mux := ice.NewTCPMuxDefault(ice.TCPMuxParams{
		Listener:       l,
		Logger:         r.o.loggers.NewLogger("ice-tcp"),
		ReadBufferSize: 64,
		// Short, so Close does not wait 30 s on a late STUN request.
		FirstStunBindTimeout:         5 * time.Second,
		AliveDurationForConnFromStun: 5 * time.Second,
	})
	r.closers = append(r.closers, func() { _ = mux.Close() })
	return mux, nil
}

// start connects the clients and arms the faults.
func (r *runner) start(ctx context.Context) {
	for _, c := range r.clients {
		second := ""
		if len(r.nodes) > 1 {
			second = r.nodes[1].name
		}
		c.spawn(func() { c.connect(ctx, r.nodes[0].name, second) })
	}
	for _, f := range r.spec.Faults {
		apply := func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			what, err := r.apply(f)
			if err != nil {
				what = "failed: " + err.Error()
			}
			r.rs.fault(f.Name, what)
		}
		arm := func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.timers = append(r.timers, time.AfterFunc(f.When.After, apply))
		}
		if f.When.Event == "" {
			arm()
		} else {
			r.rs.on(f.When.Client+" "+f.When.Event, arm)
		}
	}
}

// apply changes the network as the fault says.
func (r *runner) apply(f Fault) (string, error) {
	switch f.Kind {
	case AddRules, ClearRules:
		lan, ok := r.topo.lans[f.Target]
		if !ok {
			return "", fmt.Errorf("no lan named %q has a firewall", f.Target)
		}
		if f.Kind == ClearRules {
			lan.Firewall().Reset()
			return "cleared the firewall of " + f.Target, nil
		}
		if _, err := lan.Firewall().Add(f.Rules...); err != nil {
			return "", err
		}
		var names []string
		for _, rule := range f.Rules {
			names = append(names, rule.Name)
		}
		return fmt.Sprintf("added %s to the firewall of %s", strings.Join(names, ", "), f.Target), nil
	case CutLink, Restore, Impair:
		link, err := r.topo.link(f.Target)
		if err != nil {
			return "", err
		}
		switch f.Kind {
		case CutLink:
			link.Cut()
			return "cut " + link.Name(), nil
		case Restore:
			link.Restore()
			return "restored " + link.Name(), nil
		}
		if err := link.Impair(f.Impairment); err != nil {
			return "", err
		}
		return fmt.Sprintf("impaired %s: %+v", link.Name(), f.Impairment), nil
	}
	return "", fmt.Errorf("unknown fault kind %q", f.Kind)
}

// observePacket captures packets where their journeys end and attributes
// dropped ones to the clients they belong to.
func (r *runner) observePacket(e vnet.Event) {
	if e.Verdict != vnet.Dropped && e.Verdict != vnet.Rejected {
		if e.Verdict == vnet.Delivered {
			r.capture(e)
		}
		return
	}
	r.capture(e)
	var reason string
	if e.Proto == vnet.UDP {
		reason = strings.ToUpper(e.Class.String()) + " datagrams " + e.Verdict.String() + " by " + e.Reason
	} else {
		if e.Flags&vnet.FlagSYN == 0 && (e.Reason == "port closed" || e.Reason == "no connection for reset") {
			return // a segment after a connection ended: teardown, not connectivity
		}
		reason = fmt.Sprintf("TCP to port %d %s by %s", e.Dst.Port(), e.Verdict, e.Reason)
	}
	r.rs.drop(reason)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range []netip.Addr{e.Src.Addr(), e.Dst.Addr()} {
		if c, ok := r.addrs[a]; ok {
			if r.drops[c] == nil {
				r.drops[c] = map[string]int{}
			}
			r.drops[c][reason]++
			return
		}
	}
}

// capture keeps a copy of e, up to the spec's limit.
func (r *runner) capture(e vnet.Event) {
	if r.spec.Capture == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.packets) >= r.spec.Capture {
		return
	}
	e.Payload = append([]byte(nil), e.Payload...)
	r.packets = append(r.packets, e)
}

// collect fills res with what the run observed.
func (r *runner) collect(res *Result) {
	res.Duration = r.rs.since()
	for _, c := range r.clients {
		c.snapshotChecks()
	}
	for _, c := range r.clients {
		cr := c.obs.result()
		cr.Media = r.rs.meter.media(c.spec.Name)
		if cr.FinalState() == webrtc.PeerConnectionStateConnected.String() {
			cr.Transport = transportOf(cr.Selected)
		} else {
			cr.Transport = NoTransport
		}
		cr.MediaBothWays = mediaBothWays(c.spec, c.subscribe, cr)
		if cr.Transport == NoTransport || !cr.MediaBothWays {
			cr.Failure = r.explain(c, cr)
		}
		res.Clients = append(res.Clients, cr)
	}
	r.rs.mu.Lock()
	res.Faults = append([]AppliedFault(nil), r.rs.faults...)
	res.Drops = map[string]int{}
	for k, v := range r.rs.drops {
		res.Drops[k] = v
	}
	r.rs.mu.Unlock()
	r.mu.Lock()
	res.Packets = r.packets
	r.mu.Unlock()
	for _, rl := range r.relays {
		st := rl.Stats()
		res.Relay.Allocations += int(st.AllocationsTotal)
		res.Relay.AuthFailures += st.AuthFailures
		res.Relay.ClientToPeerBytes += st.Relayed.ClientToPeer.Bytes
		res.Relay.ClientToPeerPackets += st.Relayed.ClientToPeer.Packets
		res.Relay.PeerToClientBytes += st.Relayed.PeerToClient.Bytes
		res.Relay.PeerToClientPackets += st.Relayed.PeerToClient.Packets
		res.Relay.PacketsRelayed += st.Relayed.ClientToPeer.Packets + st.Relayed.PeerToClient.Packets
	}
}

// mediaBothWays: every publication reached the node and every
// subscription arrived, after the recovery if there was one.
func mediaBothWays(spec ClientSpec, subscribe []string, cr ClientResult) bool {
	count := func(track, direction string) uint64 {
		for _, m := range cr.Media {
			if m.Track == track && m.Direction == direction {
				if cr.Recovered {
					return m.AfterRecoveryPackets
				}
				return m.Packets
			}
		}
		return 0
	}
	any := false
	for _, kind := range published(spec.Publish) {
		any = true
		if count(spec.Name+"/"+kind, "at-node") == 0 {
			return false
		}
	}
	for _, sub := range subscribe {
		any = true
		if count(sub, "received") == 0 {
			return false
		}
	}
	if spec.Publish.Data {
		any = true
		if count(spec.Name+"/data", "at-node") == 0 || count("node/data", "received") == 0 {
			return false
		}
	}
	return any
}

// explain says, for a person, why a client did not end connected with
// media both ways.
func (r *runner) explain(c *client, cr ClientResult) string {
	var why string
	switch {
	case cr.SignallingError != "" && !cr.Signalling:
		why = "signalling never reached the node: " + cr.SignallingError
	case cr.Failure != "":
		why = cr.Failure
	case !cr.Connected && !reached(cr.ICEStates, "connected"):
		why = "ICE never connected: no candidate pair succeeded"
	case !cr.Connected:
		why = "DTLS never completed: ICE connected but the peer connection stayed " + cr.FinalState()
	case cr.Transport == NoTransport:
		why = fmt.Sprintf("connected at %.1fs, then lost: peer connection %s", cr.ConnectedAt.Seconds(), cr.FinalState())
	default:
		why = "media did not flow both ways"
	}
	if len(cr.GatherErrors) > 0 && !cr.Connected {
		why += "; pion: " + strings.Join(cr.GatherErrors, "; ")
	}
	r.mu.Lock()
	own := topDrops(r.drops[c.spec.Name], 3)
	r.mu.Unlock()
	if len(own) > 0 {
		why += "; " + strings.Join(own, "; ")
	}
	if !strings.Contains(why, "firewall") && !strings.Contains(why, "link") {
		// The cause may lie on a path the client's own addresses are not
		// on: between the relay and the node, say.
		r.rs.mu.Lock()
		elsewhere := topDrops(r.rs.drops, 2)
		r.rs.mu.Unlock()
		var named []string
		for _, d := range elsewhere {
			if strings.Contains(d, "firewall") || strings.Contains(d, "link") {
				named = append(named, d)
			}
		}
		if len(named) > 0 {
			why += "; elsewhere in the network: " + strings.Join(named, "; ")
		}
	}
	return why
}

// topDrops lists the n most frequent drop reasons with their counts.
func topDrops(drops map[string]int, n int) []string {
	type kv struct {
		k string
		v int
	}
	list := make([]kv, 0, len(drops))
	for k, v := range drops {
		list = append(list, kv{k, v})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].v > list[j].v || (list[i].v == list[j].v && list[i].k < list[j].k) })
	var out []string
	for i, e := range list {
		if i == n {
			break
		}
		out = append(out, fmt.Sprintf("%s (%d)", e.k, e.v))
	}
	return out
}

func reached(states []StateChange, s string) bool {
	for _, st := range states {
		if st.State == s {
			return true
		}
	}
	return false
}

// close stops everything the run started, clients first.
func (r *runner) close() {
	if r.cancel != nil {
		r.cancel()
	}
	r.mu.Lock()
	for _, t := range r.timers {
		t.Stop()
	}
	r.mu.Unlock()
	// Close the network first: every socket fails at once, so pion's
	// goroutines blocked in a TCP connect whose SYNs a firewall drops end
	// now rather than after their retries, and the peers close quickly.
	if r.topo != nil {
		_ = r.topo.net.Close()
	}
	for _, c := range r.clients {
		c.close()
	}
	for _, n := range r.nodes {
		n.close()
	}
	for _, rl := range r.relays {
		_ = rl.Close()
	}
	if r.lb != nil {
		r.lb.close()
	}
	for _, f := range r.closers {
		f()
	}
	if r.bridge != nil {
		_ = r.bridge.Close()
	}
	if r.untap != nil {
		r.untap()
	}
	if r.topo != nil {
		_ = r.topo.net.Close()
	}
}

// pipe copies both ways between a and b until either side ends, then
// closes both.
func pipe(a, b net.Conn) {
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	_ = a.Close()
	_ = b.Close()
	<-done
}
