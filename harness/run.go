package harness

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/icelab/icelab/harness/sfu"
	"github.com/icelab/icelab/middlebox"
	"github.com/icelab/icelab/relay"
	"github.com/icelab/icelab/relay/pki"
	"github.com/icelab/icelab/vnet"
	"github.com/pion/ice/v4"
	"github.com/pion/logging"
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
	stop    func() bool
	clock   Clock
	// publishers, if set, replaces what sends the tracks clients and peers
	// publish (see runState.publisher); only tests set it.
	publishers publishers
}

// WithCA issues the run's signalling certificate from ca, so that a node
// sharing port 443 between signalling and TURN/TLS presents certificates
// of one authority. Without it each run makes its own.
func WithCA(ca *pki.CA) Option { return func(o *options) { o.ca = ca } }

// WithLoggerFactory sets the pion logger factory for every peer and the
// relay; by default pion logs nothing below errors.
func WithLoggerFactory(f logging.LoggerFactory) Option { return func(o *options) { o.loggers = f } }

// WithClock tells Run which clock its caller is on. With FakeClock the
// caller is inside a testing/synctest bubble: the run opens no real socket
// (the node gets no ICE-TCP port behind the loopback bridge) and its
// Result says fake; a spec that NeedsRealClock is then refused. Without
// it Run assumes the real clock. RunT chooses by itself.
func WithClock(c Clock) Option { return func(o *options) { o.clock = c } }

// NeedsRealClock reports whether a spec must run on the real clock: a
// client that gathers TCP candidates does ICE-TCP, whose active side pion
// dials through the operating system.
func (s Spec) NeedsRealClock() bool {
	if len(s.Peers) > 0 {
		return false // peers gather UDP only
	}
	for _, c := range s.Clients {
		if hasTCP(c.NetworkTypes) {
			return true
		}
	}
	return false
}

// Run runs spec on the caller's clock: the real one, or the fake one of a
// testing/synctest bubble the caller is in (say so with WithClock). It
// returns when the call has
// run for spec.Duration or ctx ends.
func Run(ctx context.Context, spec Spec, opts ...Option) Result {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.clock == FakeClock {
		if spec.NeedsRealClock() {
			return Result{Name: spec.Name, Clock: FakeClock, Err: "a client does ICE-TCP, which needs the real clock"}
		}
		return run(ctx, spec, FakeClock, opts)
	}
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
		// Building a call that was interrupted fails on the cancelled
		// context: that is an interruption, not a broken spec.
		res.Err, res.Interrupted = err.Error(), ctx.Err() != nil
		return res
	}
	r.cancel = cancel
	defer r.close()
	r.start(ctx)
	d := spec.Duration
	if d == 0 {
		d = defaultDuration
	}
	res.Interrupted = !waitCall(ctx, d, o.stop)
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
	if err := s.validateServers(names); err != nil {
		return err
	}
	if err := s.validateProxies(names); err != nil {
		return err
	}
	clients := map[string]bool{}
	if len(s.Peers) > 0 {
		if err := s.validatePeers(names, clients); err != nil {
			return err
		}
	} else if err := s.validateClients(names, clients); err != nil {
		return err
	}
	if err := s.validateFaults(names, clients); err != nil {
		return err
	}
	return s.validateTraffic(names, clients)
}

// validateClients checks the media node and its clients, adding the
// clients' names to clients.
func (s Spec) validateClients(names, clients map[string]bool) error {
	if s.Node.LAN != "" && !names[s.Node.LAN] {
		return fmt.Errorf("node: lan %q is not defined", s.Node.LAN)
	}
	if s.Node.CredentialTTL < 0 {
		return fmt.Errorf("node: credential TTL %v is negative", s.Node.CredentialTTL)
	}
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
		if c.Publish.Simulcast && !c.Publish.Video {
			return fmt.Errorf("client %s: simulcast publishes video in layers; publish video too", c.Name)
		}
	}
	if len(s.Clients) == 0 {
		return errors.New("a run needs at least one client")
	}
	return nil
}

// validateFaults checks what the faults refer to: clients holds the
// names of the clients (or peers).
func (s Spec) validateFaults(names, clients map[string]bool) error {
	for i, f := range s.Faults {
		if f.When.Event != "" && !clients[f.When.Client] {
			return fmt.Errorf("faults[%d]: event %q of unknown client %q", i, f.When.Event, f.When.Client)
		}
		switch f.When.Event {
		case "", "ice-connected", "connected":
		default:
			return fmt.Errorf("faults[%d]: unknown event %q (want ice-connected or connected)", i, f.When.Event)
		}
		if f.Kind == Mute || f.Kind == Unmute || f.Kind == Leave {
			if !clients[f.Target] {
				return fmt.Errorf("faults[%d]: %s: %q is not a client", i, f.Kind, f.Target)
			}
		}
		if f.Kind == Move {
			if !clients[f.Target] {
				return fmt.Errorf("faults[%d]: move: %q is not a client", i, f.Target)
			}
			if !names[f.To] && f.To != "internet" {
				return fmt.Errorf("faults[%d]: move %s: lan %q is not defined", i, f.Target, f.To)
			}
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

	nodes    []*sfu.Node
	relays   []relay.Relay
	clients  []*client
	servers  []*standalone // standalone STUN/TURN relays
	peers    []*peer       // a peer-to-peer call's peers
	lb       *loadBalancer
	untap    func()
	bridge   *vnet.Bridge       // real-clock runs: ICE-TCP through loopback
	cancel   context.CancelFunc // ends the clients' loops
	timers   []*time.Timer
	mu       sync.Mutex
	drops    *dropLedger               // what the network dropped, by client
	captured *capturer                 // the packets to keep, when the spec asks
	hidden   map[netip.Addr]netip.Addr // bridge loopback address → host's virtual address
	closers  []func()

	trafficServer *vnet.Host   // where cross traffic runs to and from
	traffic       []*crossFlow // the spec's cross traffic
}

func newRunner(ctx context.Context, spec Spec, clock Clock, o options) (_ *runner, err error) {
	r := &runner{spec: spec, clock: clock, o: o, rs: newRunState(spec.Seed), drops: newDropLedger(), hidden: map[netip.Addr]netip.Addr{}}
	r.rs.publishers = o.publishers
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	if r.topo, err = buildNetwork(&spec, clock); err != nil {
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
	// The call's topology: the servers first (standalone relays, proxies,
	// and for a call through an SFU its media nodes with their relays and
	// load balancer), then the pion endpoints that use them (the media
	// node's clients, or the peers of a peer-to-peer mesh), each placed and
	// configured alike (endpoint.go).
	if err := r.buildServers(ctx); err != nil {
		return nil, err
	}
	proxies, err := r.startProxies(ca.Cert)
	if err != nil {
		return nil, err
	}
	if len(spec.Peers) == 0 {
		if err := r.buildMediaNodes(ctx, ca); err != nil {
			return nil, err
		}
	}
	if err := r.addNames(); err != nil {
		return nil, err
	}
	if err := r.buildClients(proxies, ca.Cert, roots); err != nil {
		return nil, err
	}
	if err := r.buildPeers(proxies, ca.Cert); err != nil {
		return nil, err
	}
	if err := r.buildTraffic(); err != nil {
		return nil, err
	}
	r.watch()
	return r, nil
}

// buildClients places the media node's clients, each an endpoint that
// signals to the node over HTTPS (through its proxy, if it has one) and
// follows its fallback policy.
func (r *runner) buildClients(proxies map[string]*middlebox.Proxy, runCA *x509.Certificate, roots *x509.CertPool) error {
	for _, cs := range r.spec.Clients {
		ep, err := r.placeEndpoint("client", cs)
		if err != nil {
			return err
		}
		if err := ep.configureProxy(proxies, runCA); err != nil {
			return err
		}
		host := ep.host
		if r.bridge != nil && hasTCP(cs.NetworkTypes) {
			loop, err := r.bridge.AddClient(host)
			if err != nil {
				return fmt.Errorf("client %s: %w", cs.Name, err)
			}
			r.hidden[loop] = host.Addr()
		}
		other := ""
		if len(r.nodes) > 1 {
			other = "https://" + signalDomain2
		}
		c := newClient(ep, r.rs, roots, "https://"+signalDomain, other, r.clock == RealClock)
		if err := c.useProxy(); err != nil {
			return err
		}
		r.clients = append(r.clients, c)
	}
	return nil
}

// addNames adds the spec's extra DNS entries.
func (r *runner) addNames() error {
	for name, addr := range r.spec.Names {
		if addr == "" {
			continue // does not resolve
		}
		if err := r.topo.addName(name, addr); err != nil {
			return err
		}
	}
	return nil
}

// watch taps the network: drops are attributed, and captured if the spec
// asks.
func (r *runner) watch() {
	if r.spec.Capture.enabled() {
		start := r.rs.start
		r.captured = newCapturer(r.spec.Capture, func(t time.Time) time.Duration { return t.Sub(start) })
		r.untap = r.topo.net.Tap(r.observePacket)
		return
	}
	// Without a capture only drops are attributed: vnet builds no event
	// for a packet no tap wants.
	r.untap = r.topo.net.TapVerdicts(vnet.VerdictsOf(vnet.Dropped, vnet.Rejected), r.observePacket)
}

func nodeName(n NodeSpec) string {
	if n.Name != "" {
		return n.Name
	}
	return defaultNodeName
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
	if a, ok := l.Addr().(*net.TCPAddr); ok {
		r.hidden[a.AddrPort().Addr().Unmap()] = host.Addr()
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
	for _, f := range r.traffic {
		r.stopFlow(f)
	}
	for _, c := range r.clients {
		c.close()
	}
	for _, p := range r.peers {
		p.close()
	}
	for _, n := range r.nodes {
		n.Close()
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
