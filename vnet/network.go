package vnet

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Network.
type Config struct {
	// Internet is the public address space; zero means 203.0.113.0/24.
	Internet netip.Prefix
	// Internet6 is the public IPv6 address space, /48 or wider; zero
	// means DefaultInternet6 (2001:db8::/32). Its first /64 holds the
	// internet's own hosts, the next ones the IPv6 LANs. Hosts on the internet get an IPv6
	// address when they ask for one (HostConfig.IPv6); LANs that carry
	// IPv6 get /64s of it.
	Internet6 netip.Prefix
	// Seed seeds the random choices (loss, jitter, reordering), so a run
	// repeats. Each link direction draws from its own source, seeded from
	// Seed and the link's name, so one link's traffic does not change
	// another's losses.
	Seed uint64
	// Serial handles the network's packets on one goroutine, each instant's
	// just after the instant (a nanosecond later), in an order drawn from
	// Seed and the packets' nodes and flows instead of the order in which
	// goroutines happen to run (serial.go). It is meant for a
	// testing/synctest bubble, where "just after" is once every goroutine
	// of the bubble is durably blocked, so that a run takes the same path
	// every time; on the real clock it costs each packet a goroutine hop
	// and buys nothing.
	Serial bool
	// HostAddrs are the addresses this machine has, which no virtual
	// address may collide with; nil means the machine's own interface
	// addresses, read once when the network is created.
	HostAddrs []netip.Prefix
}

// ErrClosed is returned by operations on a closed network, host or socket.
var ErrClosed = net.ErrClosed

// Network is one virtual network: the internet, the routers and LANs below
// it, their hosts, a DNS table and the taps that observe its packets.
type Network struct {
	internet *Router
	taps     taps
	sched    scheduler
	serial   *serial // nil unless Config.Serial
	dns      dns

	fragIDs atomic.Uint64 // IP identification of fragmented datagrams

	seed  uint64
	epoch time.Time // the network's clock starts here (now)
	// wallEpoch is epoch in Unix nanoseconds, set when the clock's times
	// carry no monotonic reading (a synctest bubble's fake clock): there
	// time.Since takes its slow path, an Add and an Equal to check for
	// overflow, which was 1.7% of a 32-client room's CPU; nanoseconds
	// subtract to the same duration. Zero: time.Since.
	wallEpoch int64

	mu       sync.Mutex
	names    map[string]bool
	reserved []netip.Prefix
	nextLAN  int
	nextLAN6 int
	hosts    []*Host
	runners  []*linkDir // link directions whose goroutine runs
	closed   bool
}

// New creates a network holding only the internet router.
func New(cfg Config) (*Network, error) {
	if !cfg.Internet.IsValid() {
		cfg.Internet = netip.MustParsePrefix("203.0.113.0/24")
	}
	n := &Network{
		seed:  cfg.Seed,
		epoch: time.Now(),
		names: make(map[string]bool),
	}
	if n.epoch == n.epoch.Round(0) { // no monotonic reading to strip
		n.wallEpoch = n.epoch.UnixNano()
	}
	if cfg.Serial {
		n.serial = &serial{net: n}
	}
	n.dns.names = make(map[string][]netip.Addr)
	n.reserved = cfg.HostAddrs
	if n.reserved == nil {
		n.reserved = machinePrefixes()
	}
	n.reserved = append(n.reserved, netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"))
	if !cfg.Internet.Addr().Is4() {
		return nil, fmt.Errorf("vnet: internet %s is not IPv4 (an IPv6 space goes in Internet6)", cfg.Internet)
	}
	if err := n.checkPrefix(cfg.Internet.Masked()); err != nil {
		return nil, fmt.Errorf("vnet: internet %s: %w", cfg.Internet, err)
	}
	if !cfg.Internet6.IsValid() {
		cfg.Internet6 = DefaultInternet6
	}
	if !cfg.Internet6.Addr().Is6() || cfg.Internet6.Bits() > 48 {
		return nil, fmt.Errorf("vnet: internet IPv6 space %s is not an IPv6 prefix of /48 or wider (its hosts take one /64, each IPv6 LAN another)", cfg.Internet6)
	}
	if err := n.checkPrefix(cfg.Internet6.Masked()); err != nil {
		return nil, fmt.Errorf("vnet: internet %s: %w", cfg.Internet6, err)
	}
	r, err := newRouter(n, "internet", cfg.Internet.Masked(), cfg.Internet6.Masked(), nil)
	if err != nil {
		return nil, err
	}
	n.internet = r
	n.names["internet"] = true
	return n, nil
}

// machinePrefixes returns the addresses of this machine's interfaces.
func machinePrefixes() []netip.Prefix {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(ipn.IP); ok {
				ones, _ := ipn.Mask.Size()
				out = append(out, netip.PrefixFrom(ip.Unmap(), ones).Masked())
			}
		}
	}
	return out
}

// checkPrefix rejects address space that overlaps this machine's.
func (n *Network) checkPrefix(p netip.Prefix) error {
	for _, r := range n.reserved {
		if r.Overlaps(p) {
			return fmt.Errorf("overlaps this machine's address space %s", r)
		}
	}
	return nil
}

// Internet returns the root router, whose LAN is the public internet.
func (n *Network) Internet() *Router { return n.internet }

// Tap calls fn for every packet event until the returned function is
// called. fn runs on the goroutine that moves the packet: it must be quick
// and must not send on the network.
func (n *Network) Tap(fn func(Event)) (remove func()) { return n.taps.add(AllVerdicts, fn) }

// TapVerdicts is Tap for the events whose verdict is in want only, such
// as VerdictsOf(Dropped, Rejected). Events no tap wants are never built,
// so a network watched for drops only forwards at the cost of an
// unwatched one.
func (n *Network) TapVerdicts(want Verdicts, fn func(Event)) (remove func()) {
	return n.taps.add(want, fn)
}

// AddName makes name resolve to addrs on every host: IPv4 addresses are
// its A records, IPv6 ones its AAAA records. A host on a NAT64's LAN also
// gets AAAA records synthesized for a name that has none (DNS64).
func (n *Network) AddName(name string, addrs ...netip.Addr) error {
	if name == "" || len(addrs) == 0 {
		return errors.New("vnet: a DNS name needs a name and at least one address")
	}
	n.dns.set(name, addrs)
	return nil
}

// RemoveName makes name resolve nowhere.
func (n *Network) RemoveName(name string) { n.dns.set(name, nil) }

// Close stops the network: every socket and listener on every host is
// closed and every goroutine the network started ends.
func (n *Network) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	hosts, runners := n.hosts, n.runners
	n.mu.Unlock()
	if n.serial != nil {
		n.serial.close()
	}
	for _, h := range hosts {
		h.close()
	}
	for _, ld := range runners {
		ld.stop()
	}
	n.sched.close()
	return nil
}

// startRunner starts a link direction's goroutine, unless the network is
// closed.
func (n *Network) startRunner(ld *linkDir) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.runners = append(n.runners, ld)
	go ld.loop()
	return true
}

// claimName reserves a unique node name.
func (n *Network) claimName(name string) error {
	if name == "" {
		return errors.New("a name is required")
	}
	if strings.ContainsAny(name, " \t\n/") {
		return fmt.Errorf("name %q has a space or slash", name)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	if n.names[name] {
		return fmt.Errorf("name %q is already used", name)
	}
	n.names[name] = true
	return nil
}

// now returns the time on the network's clock: how long since it was
// created, read from the time package, so on a synctest bubble's fake clock
// inside one.
func (n *Network) now() time.Duration {
	if n.wallEpoch != 0 {
		return time.Duration(time.Now().UnixNano() - n.wallEpoch)
	}
	return time.Since(n.epoch)
}

// linkSeed returns the seed of one direction of the link named name: from
// the network's seed, the name and the direction, so that what a link does
// to a flow depends on that flow's own traffic only (draws.go).
func (n *Network) linkSeed(name string, d Direction) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return mix(n.seed ^ h.Sum64() ^ (0x9e3779b97f4a7c15 + uint64(d)))
}

// nodeSeed returns the seed of the host or router named name: its
// ephemeral ports (bind.go) and the order of its packets among those of
// the same instant (serial.go) draw from it.
func (n *Network) nodeSeed(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return mix(n.seed ^ mix(h.Sum64()))
}

// drop ends a packet's journey at where, for reason.
func (n *Network) drop(where string, pkt *packet, reason string) {
	n.taps.emit(where, pkt, Dropped, reason)
	pkt.release()
}

// dns is the network's static name table.
type dns struct {
	mu    sync.RWMutex
	names map[string][]netip.Addr
}

func canonicalName(name string) string {
	return strings.TrimSuffix(strings.ToLower(name), ".")
}

func (d *dns) set(name string, addrs []netip.Addr) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(addrs) == 0 {
		delete(d.names, canonicalName(name))
		return
	}
	d.names[canonicalName(name)] = append([]netip.Addr(nil), addrs...)
}

func (d *dns) lookup(name string) ([]netip.Addr, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	addrs, ok := d.names[canonicalName(name)]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	return addrs, nil
}
