package relay

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/pion/turn/v5"
)

// Port pairs: EVEN-PORT and RESERVATION-TOKEN (RFC 8656 §7.2, §14.6, §14.9).
//
// An RTP/RTCP client asks for an even relay port with EVEN-PORT, gets a
// RESERVATION-TOKEN for the port above it, and allocates that port with the
// token, usually from a second socket. pion/turn v5.1.3 keeps reservations
// per listener (internal/allocation.Manager.reservations), and the relay serves
// udp_port with one listener per SO_REUSEPORT socket, whose kernel hash sends
// the second socket's requests to any of them: half the second allocations
// got 508 with two sockets (issue 21). pion also only notes the token's port;
// another allocation could take it before the token is used.
//
// So the relay keeps the pairs itself, for every listener:
//   - pion looks for an even port by asking the generator for ports with no
//     user and no requested port (Manager.GetRandomEvenPort) and closing them;
//     pairs answers with an even port whose neighbour is also free, holds
//     the neighbour, and parks the even socket when pion closes it, for the
//     allocation that follows (which asks for that port by number);
//   - the token pion puts in its success response is noted as it goes out,
//     and the held neighbour is kept under it for 30 s, as pion's own
//     reservation lasts (allocation_manager.go CreateReservation);
//   - an Allocate with a known token on a UDP socket has the token taken out
//     before pion sees it (re-signed with the request's key), and the socket's
//     generator hands pion the held port; on TCP and TLS, where one pion
//     listener serves every connection and knows its own tokens, pion asks for
//     the port by number and gets the held socket.
//
// pion issues a token whatever EVEN-PORT's R bit says, so the neighbour is
// held either way.
type pairs struct {
	inner *turn.RelayAddressGeneratorPortRange
	// held is how long a neighbour waits for its token.
	held time.Duration

	mu     sync.Mutex
	closed bool
	// ports are held sockets by port: parked even ports waiting for
	// their allocation, and neighbours waiting for their token.
	ports map[int]*heldPort
	// tokens map a RESERVATION-TOKEN to the port it reserves.
	tokens map[string]int
	// next walks the even ports of the range (see cyclicRand).
	next *cyclicRand
	// changed runs, without mu held, after the held ports changed.
	changed func()
}

// heldPort is a relay socket bound ahead of the allocation that will use it.
type heldPort struct {
	conn  net.PacketConn
	addr  net.Addr
	token string
	timer *time.Timer
}

// reservationLifetime is how long a reserved port is held (RFC 8656 §7.2
// suggests about 30 seconds; pion's reservation lasts 30 s).
const reservationLifetime = 30 * time.Second

var errNoEvenPair = errors.New("no free pair of an even port and the one above it")

func newPairs(inner *turn.RelayAddressGeneratorPortRange, changed func()) *pairs {
	return &pairs{inner: inner, held: reservationLifetime, ports: map[int]*heldPort{}, tokens: map[string]int{}, next: newCyclicRand(), changed: changed}
}

// allocate is the relay address generator's AllocatePacketConn before
// counting: it answers pion's even-port probes with a pair, hands out held
// ports asked for by number, and binds anything else from the range.
func (p *pairs) allocate(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	if conf.RequestedPort != 0 {
		if h := p.take(conf.RequestedPort); h != nil {
			return h.conn, h.addr, nil
		}
		return p.inner.AllocatePacketConn(conf)
	}
	if conf.UserID == "" && conf.Network == "udp4" {
		return p.evenPair(conf)
	}
	return p.inner.AllocatePacketConn(conf)
}

// evenPair binds an even port and the one above it, holds the odd one
// and returns the even one, which parks when pion closes it.
func (p *pairs) evenPair(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	lo := int(p.inner.MinPort) + int(p.inner.MinPort)%2
	n := (int(p.inner.MaxPort) - lo + 1) / 2 // pairs lo..lo+1, lo+2..lo+3, ...
	for range n {
		even := lo + 2*p.next.Intn(n)
		c1, a1, err := p.inner.AllocatePacketConn(turn.AllocateListenerConfig{Network: conf.Network, RequestedPort: even})
		if err != nil {
			continue
		}
		c2, a2, err := p.inner.AllocatePacketConn(turn.AllocateListenerConfig{Network: conf.Network, RequestedPort: even + 1})
		if err != nil {
			_ = c1.Close()
			continue
		}
		if !p.hold(even+1, &heldPort{conn: c2, addr: a2}) {
			_ = c1.Close()
			return nil, nil, net.ErrClosed
		}
		return &parkingConn{PacketConn: c1, addr: a1, port: even, p: p}, a1, nil
	}
	return nil, nil, errNoEvenPair
}

// hold keeps h for port until its lifetime ends, unless taken first. It is
// false when the relay is closing (and h is closed).
func (p *pairs) hold(port int, h *heldPort) bool {
	defer p.changed()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = h.conn.Close()
		return false
	}
	if old := p.ports[port]; old != nil { // cannot happen: the port was bound
		p.dropLocked(port, old)
	}
	h.timer = time.AfterFunc(p.held, func() { p.expire(port, h) })
	p.ports[port] = h
	return true
}

// issued notes the token pion sent with an allocation on relay port even:
// the held port above it now waits for that token.
func (p *pairs) issued(token string, even int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.ports[even+1]
	if h == nil || h.token != "" || p.closed {
		return
	}
	h.token = token
	h.timer.Reset(p.held)
	p.tokens[token] = even + 1
}

// port returns the port a token reserves.
func (p *pairs) port(token string) (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	port, ok := p.tokens[token]
	return port, ok
}

// take removes and returns the held socket of port, nil when none.
func (p *pairs) take(port int) *heldPort {
	defer p.changed()
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.ports[port]
	if h == nil {
		return nil
	}
	h.timer.Stop()
	delete(p.ports, port)
	if h.token != "" {
		delete(p.tokens, h.token)
	}
	return h
}

// expire closes a held socket whose lifetime ended.
func (p *pairs) expire(port int, h *heldPort) {
	defer p.changed()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ports[port] == h {
		p.dropLocked(port, h)
	}
}

func (p *pairs) dropLocked(port int, h *heldPort) {
	h.timer.Stop()
	delete(p.ports, port)
	if h.token != "" {
		delete(p.tokens, h.token)
	}
	_ = h.conn.Close()
}

// close releases every held socket; later ones are closed as they come.
func (p *pairs) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for port, h := range p.ports {
		p.dropLocked(port, h)
	}
}

// inUse counts the held sockets.
func (p *pairs) inUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ports)
}

// parkingConn is the even socket of a pair as pion's probe sees it: pion
// closes it to ask for the port by number next, so Close parks it.
type parkingConn struct {
	net.PacketConn
	addr net.Addr
	port int
	p    *pairs
	once sync.Once
}

func (c *parkingConn) Close() error {
	c.once.Do(func() { c.p.hold(c.port, &heldPort{conn: c.PacketConn, addr: c.addr}) })
	return nil
}

// loopGenerator is the relay address generator of one UDP listener socket.
// Its gate sets claim when it took a RESERVATION-TOKEN out of an Allocate
// request; pion then asks for a port without a number, on the same
// goroutine, and gets the reserved one.
type loopGenerator struct {
	*countingGenerator
	claim int
}

func (g *loopGenerator) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	if g.claim != 0 && conf.RequestedPort == 0 && conf.UserID != "" {
		conf.RequestedPort, g.claim = g.claim, 0
	}
	return g.countingGenerator.AllocatePacketConn(conf)
}
