package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/randutil"
	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

// Stats is a snapshot of a relay's state and counters.
type Stats struct {
	// Allocations are the live allocations, ordered by relay address.
	Allocations []AllocationStats
	// AllocationsTotal counts allocations created since Start.
	AllocationsTotal uint64
	// Relayed sums the traffic of all allocations since Start, closed ones included.
	Relayed Traffic
	// RelayPortsInUse counts relay sockets open now (out of RelayPortsTotal, the
	// size of relay_range_start..relay_range_end).
	RelayPortsInUse, RelayPortsTotal int
	// AuthFailures counts requests refused with 401 for unknown, expired or wrong
	// credentials (retransmissions count again).
	AuthFailures uint64
	// PeersDenied counts CreatePermission/ChannelBind peers refused by the peer policy.
	PeersDenied uint64
	// QuotaRejections counts Allocate requests refused with 486 (user_quota);
	// a client's retransmission of a refused request counts again.
	QuotaRejections uint64
	// CapacityFailures counts Allocate requests refused with 508 Insufficient
	// Capacity: relay range exhausted, no free pair for EVEN-PORT, a
	// RESERVATION-TOKEN unknown or expired, or its port taken.
	CapacityFailures uint64
	// FamilyRefusals counts Allocate requests refused with 440 Address Family
	// not Supported (an IPv6 relayed address asked of an IPv4-only relay).
	FamilyRefusals uint64
	// ReservedPorts counts relay sockets held for a port pair: the port above
	// an EVEN-PORT allocation waiting for its RESERVATION-TOKEN.
	ReservedPorts int
	// Streams describes the TCP and TLS client connections.
	Streams StreamStats
}

// StreamStats counts TCP and TLS client connections and why the relay
// closed the ones it closed.
type StreamStats struct {
	// Open counts connections open now.
	Open int
	// Refused counts connections closed as they were accepted, over
	// turn.max_connections_per_source.
	Refused uint64
	// HandshakeTimeouts, FirstFrameTimeouts and UnallocatedTimeouts count
	// connections closed at turn.tls_handshake_timeout, first_frame_timeout
	// and unallocated_timeout.
	HandshakeTimeouts, FirstFrameTimeouts, UnallocatedTimeouts uint64
}

// Traffic is what went through an allocation in both directions.
type Traffic struct {
	// ClientToPeer counts datagrams the relay sent to peers for the client.
	ClientToPeer Counter
	// PeerToClient counts datagrams from permitted peers that the relay passed to the client.
	PeerToClient Counter
	// PeerDropped counts datagrams that arrived from peers without a permission.
	PeerDropped Counter
}

func (t *Traffic) add(o Traffic) {
	t.ClientToPeer.add(o.ClientToPeer)
	t.PeerToClient.add(o.PeerToClient)
	t.PeerDropped.add(o.PeerDropped)
}

// Counter counts datagrams and their payload bytes.
type Counter struct {
	Packets, Bytes uint64
}

func (c *Counter) add(o Counter) { c.Packets += o.Packets; c.Bytes += o.Bytes }

// AllocationStats describes one live allocation.
type AllocationStats struct {
	Username string
	// Transport is the listener the client used.
	Transport Transport
	// Client is the client's address as the relay sees it (after any NAT).
	Client string
	// Relay is the relayed transport address given to the client.
	Relay string
	// Permissions lists the peer IPs the client has permissions for.
	Permissions []netip.Addr
	Created     time.Time
	Traffic     Traffic
}

type atomicCounter struct{ packets, bytes atomic.Uint64 }

func (c *atomicCounter) add(n int) { c.packets.Add(1); c.bytes.Add(uint64(n)) }
func (c *atomicCounter) sub(n int) {
	c.packets.Add(^uint64(0))
	c.bytes.Add(^uint64(n - 1))
}
func (c *atomicCounter) load() Counter {
	return Counter{Packets: c.packets.Load(), Bytes: c.bytes.Load()}
}

// relayEntry is one open relay socket and, once pion reports it, its allocation.
type relayEntry struct {
	relay string
	sock  net.PacketConn // the relay socket
	c2p   atomicCounter
	p2c   atomicCounter
	drop  atomicCounter

	permMu sync.RWMutex
	perms  map[netip.Addr]struct{}

	// guarded by collector.mu
	allocated bool
	released  bool
	user      string
	transport Transport
	client    string
	network   string
	tuple     string
	created   time.Time
}

func (e *relayEntry) permitted(addr net.Addr) bool {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return false
	}
	ip, ok := netip.AddrFromSlice(ua.IP)
	if !ok {
		return false
	}
	e.permMu.RLock()
	_, ok = e.perms[ip.Unmap()]
	e.permMu.RUnlock()
	return ok
}

// transportClient is the client address as addrString writes it.
func (e *relayEntry) transportClient() string { return e.network + ":" + e.client }

func (e *relayEntry) traffic() Traffic {
	return Traffic{ClientToPeer: e.c2p.load(), PeerToClient: e.p2c.load(), PeerDropped: e.drop.load()}
}

// collector gathers the relay's state from pion's events and from the wrapped
// relay sockets.
type collector struct {
	now        func() time.Time
	portsTotal int
	quota      int
	policy     PeerPolicy
	log        *slog.Logger

	mu        sync.Mutex
	relays    map[string]*relayEntry // by relay address
	byTuple   map[string]*relayEntry // by client 5-tuple
	byUser    map[string]int
	listeners map[string]Transport // by network|local address
	total     uint64
	relayed   Traffic       // of released entries
	zero      chan struct{} // closed when relays becomes empty
	changed   chan struct{} // closed and replaced on every allocation or permission change

	authFailures, peersDenied, quotaRejections, capacityFailures, familyRefusals atomic.Uint64
	streamsRefused, handshakeTimeouts, firstFrameTimeouts, unallocatedTimeouts   atomic.Uint64
	streamsOpen                                                                  atomic.Int64
	// reserved reports the held pair sockets; nil until the relay starts.
	reserved func() int
}

func newCollector(now func() time.Time, portsTotal, quota int, policy PeerPolicy, log *slog.Logger) *collector {
	return &collector{
		now: now, portsTotal: portsTotal, quota: quota, policy: policy, log: log,
		relays: map[string]*relayEntry{}, byTuple: map[string]*relayEntry{},
		byUser: map[string]int{}, listeners: map[string]Transport{},
		changed: make(chan struct{}),
	}
}

func addrKey(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.Network() + "|" + a.String()
}

// authFailed counts and logs a request refused for its credentials.
func (c *collector) authFailed(user string, src net.Addr, reason string) {
	c.authFailures.Add(1)
	c.log.Warn("authentication failed", "user", user, "client", addrString(src), "reason", reason)
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.Network() + ":" + a.String()
}

// notify wakes waiters.
func (c *collector) notify() {
	c.mu.Lock()
	c.notifyLocked()
	c.mu.Unlock()
}

// notifyLocked wakes waiters; c.mu must be held.
func (c *collector) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// wait returns the first snapshot that satisfies cond, waiting for allocation,
// permission and socket changes until ctx is done.
func (c *collector) wait(ctx context.Context, cond func(Stats) bool) (Stats, error) {
	for {
		c.mu.Lock()
		ch := c.changed
		c.mu.Unlock()
		s := c.snapshot()
		if cond(s) {
			return s, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return s, ctx.Err()
		}
	}
}

func (c *collector) addListener(a net.Addr, t Transport) {
	c.mu.Lock()
	c.listeners[addrKey(a)] = t
	c.mu.Unlock()
}

// familyRefused counts and logs an Allocate refused with 440.
func (c *collector) familyRefused(src net.Addr) {
	c.familyRefusals.Add(1)
	c.log.Warn("allocation refused", "client", addrString(src), "code", 440,
		"reason", "IPv6 relayed address requested; the relay has IPv4 only (RFC 6156 §4.2)")
}

// permission is pion's PermissionHandler.
func (c *collector) permission(client net.Addr, peer net.IP) bool {
	if c.policy.allowsIP(peer) {
		return true
	}
	c.peersDenied.Add(1)
	c.log.Warn("peer denied", "client", addrString(client), "peer", peer.String(),
		"reason", "loopback, private or reserved address outside turn.allowed_peer_cidrs")
	return false
}

// quotaOK is pion's QuotaHandler. Quota is checked before pion creates the
// allocation, so concurrent Allocates from one user on separate TCP
// connections may pass it together.
func (c *collector) quotaOK(username, _ string, client net.Addr) bool {
	if c.quota == 0 {
		return true
	}
	c.mu.Lock()
	n := c.byUser[username]
	c.mu.Unlock()
	if n < c.quota {
		return true
	}
	c.quotaRejections.Add(1)
	c.log.Warn("allocation quota reached", "user", username, "client", addrString(client), "user_quota", c.quota)
	return false
}

func (c *collector) opened(relay string, sock net.PacketConn) *relayEntry {
	e := &relayEntry{relay: relay, sock: sock, perms: map[netip.Addr]struct{}{}}
	c.mu.Lock()
	c.relays[relay] = e
	c.notifyLocked()
	c.mu.Unlock()
	return e
}

// closedSocket runs when a relay socket closes, whether or not pion reported
// the allocation's deletion (it does not when the server closes).
func (c *collector) closedSocket(e *relayEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.releaseLocked(e)
	if c.relays[e.relay] == e {
		delete(c.relays, e.relay)
	}
	c.notifyLocked()
	if len(c.relays) == 0 && c.zero != nil {
		close(c.zero)
		c.zero = nil
	}
}

// socketsClosed returns a channel closed once no relay socket is open.
func (c *collector) socketsClosed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.relays) == 0 {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	if c.zero == nil {
		c.zero = make(chan struct{})
	}
	return c.zero
}

func (c *collector) releaseLocked(e *relayEntry) {
	if e.released {
		return
	}
	e.released = true
	if e.allocated {
		if c.byUser[e.user]--; c.byUser[e.user] <= 0 {
			delete(c.byUser, e.user)
		}
		if c.byTuple[e.tuple] == e {
			delete(c.byTuple, e.tuple)
		}
		c.relayed.add(e.traffic())
		tr := e.traffic()
		c.log.Info("allocation deleted", "user", e.user, "client", e.transportClient(), "relay", e.relay,
			"client_to_peer_bytes", tr.ClientToPeer.Bytes, "peer_to_client_bytes", tr.PeerToClient.Bytes)
	}
	c.notifyLocked()
}

func (c *collector) events() turn.EventHandler {
	return turn.EventHandler{
		OnAllocationCreated: func(src, dst net.Addr, _, user, _ string, relayAddr net.Addr, _ int) {
			c.mu.Lock()
			defer c.mu.Unlock()
			e := c.relays[relayAddr.String()]
			if e == nil || e.released {
				return
			}
			t, ok := c.listeners[addrKey(dst)]
			if !ok {
				t = UDP
			}
			e.allocated, e.user, e.transport, e.client, e.network = true, user, t, src.String(), src.Network()
			e.tuple, e.created = addrKey(src)+"|"+addrKey(dst), c.now()
			c.byTuple[e.tuple] = e
			c.byUser[user]++
			c.total++
			c.notifyLocked()
			c.log.Info("allocation created", "user", user, "client", addrString(src), "transport", string(t), "relay", relayAddr.String())
		},
		OnAllocationDeleted: func(src, dst net.Addr, _, _, _ string) {
			c.mu.Lock()
			defer c.mu.Unlock()
			if e := c.byTuple[addrKey(src)+"|"+addrKey(dst)]; e != nil {
				c.releaseLocked(e)
			}
		},
		OnAuth: func(src, _ net.Addr, _, user, _, method string, verdict bool) {
			if method == stun.MethodRefresh.String() && verdict {
				c.log.Info("allocation refreshed", "user", user, "client", addrString(src))
			}
		},
		OnPermissionCreated: func(_, _ net.Addr, _, _, _ string, relayAddr net.Addr, peer net.IP) {
			c.setPermission(relayAddr, peer, true)
		},
		OnPermissionDeleted: func(_, _ net.Addr, _, _, _ string, relayAddr net.Addr, peer net.IP) {
			c.setPermission(relayAddr, peer, false)
		},
	}
}

func (c *collector) setPermission(relayAddr net.Addr, peer net.IP, on bool) {
	ip, ok := netip.AddrFromSlice(peer)
	if !ok || relayAddr == nil {
		return
	}
	c.mu.Lock()
	e := c.relays[relayAddr.String()]
	c.mu.Unlock()
	if e == nil {
		return
	}
	e.permMu.Lock()
	if on {
		e.perms[ip.Unmap()] = struct{}{}
	} else {
		delete(e.perms, ip.Unmap())
	}
	e.permMu.Unlock()
	c.mu.Lock()
	c.notifyLocked()
	c.mu.Unlock()
}

func (c *collector) snapshot() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Stats{
		AllocationsTotal: c.total,
		Relayed:          c.relayed,
		RelayPortsInUse:  len(c.relays),
		RelayPortsTotal:  c.portsTotal,
		AuthFailures:     c.authFailures.Load(),
		PeersDenied:      c.peersDenied.Load(),
		QuotaRejections:  c.quotaRejections.Load(),
		CapacityFailures: c.capacityFailures.Load(),
		FamilyRefusals:   c.familyRefusals.Load(),
		Streams: StreamStats{
			Open:                int(c.streamsOpen.Load()),
			Refused:             c.streamsRefused.Load(),
			HandshakeTimeouts:   c.handshakeTimeouts.Load(),
			FirstFrameTimeouts:  c.firstFrameTimeouts.Load(),
			UnallocatedTimeouts: c.unallocatedTimeouts.Load(),
		},
	}
	if c.reserved != nil {
		s.ReservedPorts = c.reserved()
	}
	for _, e := range c.relays {
		if !e.allocated || e.released {
			continue
		}
		a := AllocationStats{
			Username: e.user, Transport: e.transport, Client: e.client, Relay: e.relay,
			Created: e.created, Traffic: e.traffic(),
		}
		e.permMu.RLock()
		for ip := range e.perms {
			a.Permissions = append(a.Permissions, ip)
		}
		e.permMu.RUnlock()
		slices.SortFunc(a.Permissions, func(x, y netip.Addr) int { return x.Compare(y) })
		s.Relayed.add(a.Traffic)
		s.Allocations = append(s.Allocations, a)
	}
	slices.SortFunc(s.Allocations, func(x, y AllocationStats) int {
		switch {
		case x.Relay < y.Relay:
			return -1
		case x.Relay > y.Relay:
			return 1
		}
		return 0
	})
	return s
}

// countingGenerator is the relay address generator pion calls: it keeps
// port pairs (see pairs) and counts every relay socket it hands out.
type countingGenerator struct {
	pairs *pairs
	c     *collector
	// buffer sizes each relay socket's kernel buffers (turn.relay_socket_buffer).
	buffer int
}

func (g *countingGenerator) Validate() error { return g.pairs.inner.Validate() }

func (g *countingGenerator) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	conn, addr, err := g.pairs.allocate(conf)
	if err != nil {
		reason := "relay range exhausted"
		switch {
		case errors.Is(err, errNoEvenPair):
			reason = "no free even port with a free port above it (EVEN-PORT)"
		case conf.RequestedPort != 0:
			reason = fmt.Sprintf("requested relay port %d is taken", conf.RequestedPort)
		}
		g.c.log.Warn("relay port refused", "reason", reason, "relay_ports", g.c.portsTotal, "error", err.Error())
		return nil, nil, fmt.Errorf("%s: %w", reason, err)
	}
	if _, probe := conn.(*parkingConn); probe {
		return conn, addr, nil // pion closes it at once; it is counted when allocated
	}
	if err := sizeBuffers(conn, g.buffer); err != nil {
		g.c.log.Warn("relay socket buffer not set", "relay", addr.String(), "error", err.Error())
	}
	return &relayConn{PacketConn: conn, e: g.c.opened(addr.String(), conn), c: g.c}, addr, nil
}

func (g *countingGenerator) AllocateListener(conf turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return g.pairs.inner.AllocateListener(conf)
}

func (g *countingGenerator) AllocateConn(conf turn.AllocateConnConfig) (net.Conn, error) {
	return g.pairs.inner.AllocateConn(conf)
}

// relayConn is a relay socket that counts what it carries. Writes go to peers
// (client to peer); reads come from peers (peer to client, or dropped by pion
// when the peer has no permission).
type relayConn struct {
	net.PacketConn
	e     *relayEntry
	c     *collector
	close sync.Once
}

func (r *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := r.PacketConn.ReadFrom(p)
	if err == nil {
		if r.e.permitted(addr) {
			r.e.p2c.add(n)
		} else {
			r.e.drop.add(n) // rare: wake waiters
			r.c.notify()
		}
	}
	return n, addr, err
}

func (r *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	// Count first, so that a peer that received the datagram sees it counted.
	r.e.c2p.add(len(p))
	n, err := r.PacketConn.WriteTo(p, addr)
	if err != nil {
		r.e.c2p.sub(len(p))
	}
	return n, err
}

func (r *relayConn) Close() error {
	err := r.PacketConn.Close()
	r.close.Do(func() { r.c.closedSocket(r.e) })
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// cyclicRand is the random source for pion's RelayAddressGeneratorPortRange.
// pion draws MaxRetries ports with Intn; drawing them independently can miss
// the last free port of a small range, so Intn walks the whole range from a
// random start with a random stride coprime to its size: n successive draws
// visit every port once. With MaxRetries equal to the range size an allocation
// fails with 508 only when every port is taken.
type cyclicRand struct {
	randutil.MathRandomGenerator
	mu      sync.Mutex
	n, x, s int
}

func newCyclicRand() *cyclicRand {
	return &cyclicRand{MathRandomGenerator: randutil.NewMathRandomGenerator()}
}

func (r *cyclicRand) Intn(n int) int {
	if n <= 1 {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n != n {
		r.n, r.x = n, rand.IntN(n)
		for r.s = 1 + rand.IntN(n-1); gcd(r.s, n) != 1; r.s = 1 + rand.IntN(n-1) {
		}
	}
	r.x = (r.x + r.s) % n
	return r.x
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
