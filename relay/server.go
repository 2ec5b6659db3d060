package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v5"
	"github.com/pion/turn/v5"
)

// Option adjusts a Server.
type Option func(*options)

type options struct {
	name       string
	bindIP     netip.Addr
	externalIP netip.Addr
	now        func() time.Time
	logger     logging.LoggerFactory
	log        *slog.Logger
	closeWait  time.Duration
	listeners  int
	ephemeral  bool
	release    func()
}

// WithName names the relay in errors ("relay NAME: ..."); default "turn".
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithBindIP sets the IPv4 address every listener and relay socket binds. Without
// it the relay binds rtc.node_ip when use_external_ip is false, else the first
// non-loopback IPv4 address of the net's interfaces. It never binds 0.0.0.0.
func WithBindIP(ip netip.Addr) Option { return func(o *options) { o.bindIP = ip } }

// WithExternalIP sets the relay address advertised to clients when
// rtc.use_external_ip is true, overriding rtc.node_ip.
func WithExternalIP(ip netip.Addr) Option { return func(o *options) { o.externalIP = ip } }

// WithClock sets the clock that decides whether TURN REST credentials have
// expired; default time.Now (which is the fake clock inside a synctest bubble).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLoggerFactory sets pion's logger factory; default pion's, which logs errors to stderr.
func WithLoggerFactory(f logging.LoggerFactory) Option { return func(o *options) { o.logger = f } }

// WithLogger sets the logger for the relay's own events: allocations created,
// refreshed and deleted (info); authentication failures, refused peers, quota
// and capacity refusals (warn). Default: no logging.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithUDPListeners sets how many sockets serve TURN/UDP on udp_port when the
// relay runs on the machine's network (SO_REUSEPORT on Linux), each with its
// own read loop, as coturn runs one listener per thread; default GOMAXPROCS.
// On a virtual network there is always one.
func WithUDPListeners(n int) Option { return func(o *options) { o.listeners = n } }

// WithEphemeralPorts binds each listener the configuration turns on to a
// port the kernel picks instead of turn.udp_port and turn.tls_port, so that
// tests can run relays side by side; Addrs names the ports. A listener the
// configuration turns off (port 0) stays off.
func WithEphemeralPorts() Option { return func(o *options) { o.ephemeral = true } }

// WithReleaseMemory sets what the relay calls once a burst of TCP and TLS
// connections has drained (open connections fell to a quarter of a peak of
// at least 1000): relay serve passes runtime/debug.FreeOSMemory, so that the
// memory a flood of half-open connections took goes back to the system at
// once instead of over the runtime's gradual scavenging. Default: nothing.
func WithReleaseMemory(f func()) Option { return func(o *options) { o.release = f } }

// Server is the built-in Relay: a pion/turn server with icelab's defaults.
type Server struct {
	cfg  Config
	o    options
	auth *authenticator
	st   *collector

	mu        sync.Mutex
	state     int // 0 new, 1 started, 2 closed
	screen    *screen
	pairs     *pairs
	guard     *streamGuard
	turn      *turn.Server
	addrs     []ListenAddr
	udp       net.PacketConn // the first UDP listener socket, for ListenerBuffers
	closers   []func() error // listeners opened before pion took them over
	stopCtx   func() bool
	track     *tracker
	closeErr  error
	closeDone chan struct{}
}

// New checks cfg and prepares a relay; Start binds it.
func New(cfg Config, opts ...Option) (*Server, error) {
	o := options{name: "turn", now: time.Now, closeWait: 10 * time.Second, listeners: runtime.GOMAXPROCS(0)}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = logging.NewDefaultLoggerFactory()
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if err := checkConfig(cfg); err != nil {
		return nil, fmt.Errorf("relay %s: %w", o.name, err)
	}
	t := cfg.TURN
	st := newCollector(o.now, t.RelayRangeEnd-t.RelayRangeStart+1, t.UserQuota,
		PeerPolicy{AllowPrivate: t.AllowPrivatePeers, Allowed: t.AllowedPeers}, o.log)
	return &Server{
		cfg:       cfg,
		o:         o,
		st:        st,
		auth:      newAuthenticator(t.Domain, t.Users, cfg.Keys, o.now, st),
		closeDone: make(chan struct{}),
	}, nil
}

// checkConfig validates a Config that may have been built in code.
func checkConfig(cfg Config) error {
	t := cfg.TURN
	switch {
	case !t.Enabled:
		return errors.New("turn.enabled is false")
	case t.Domain == "":
		return errors.New("turn.domain is empty")
	case len(t.Users) == 0 && len(cfg.Keys) == 0:
		return errors.New("no credentials: set keys: (TURN REST secrets) or turn.users:")
	case t.RelayRangeStart < 1 || t.RelayRangeEnd > 65535 || t.RelayRangeEnd < t.RelayRangeStart:
		return fmt.Errorf("turn.relay_range_start..relay_range_end %d..%d is not a port range", t.RelayRangeStart, t.RelayRangeEnd)
	case t.UDPPort < 0 || t.UDPPort > 65535 || t.TLSPort < 0 || t.TLSPort > 65535:
		return fmt.Errorf("turn.udp_port %d or turn.tls_port %d is out of range", t.UDPPort, t.TLSPort)
	case t.UDPPort == 0 && !t.TLSEnabled():
		return errors.New("no TURN listener: turn.udp_port is 0 and there is no TURN/TLS (a tls_port with a certificate or external_tls)")
	case t.UserQuota < 0:
		return fmt.Errorf("turn.user_quota %d is negative", t.UserQuota)
	case t.MaxConnectionsPerSource < 0:
		return fmt.Errorf("turn.max_connections_per_source %d is negative", t.MaxConnectionsPerSource)
	case t.TLSHandshakeTimeout < 0 || t.FirstFrameTimeout < 0 || t.UnallocatedTimeout < 0:
		return errors.New("turn.tls_handshake_timeout, first_frame_timeout and unallocated_timeout must not be negative")
	case t.TLSEnabled() && t.TLSPort == t.UDPPort:
		return fmt.Errorf("turn.tls_port %d is also udp_port", t.TLSPort)
	}
	return nil
}

// addresses decides the bind address and the advertised relay address.
//
// LiveKit advertises rtc.node_ip as the relay address (pkg/service/turn.go:
// 111-127): the node_ip from the file, the address STUN discovers when
// use_external_ip is true (rtcconfig/config.go:99-110), or the node's first
// address. The relay takes the discovered address from WithExternalIP and
// falls back to node_ip. It binds WithBindIP, else node_ip when that is an
// address of n, else n's first non-loopback IPv4 address; never 0.0.0.0.
func (s *Server) addresses(n transport.Net) (bind, relay netip.Addr, err error) {
	rtc := s.cfg.RTC
	bind = s.o.bindIP
	if !bind.IsValid() && rtc.NodeIP.IsValid() && !rtc.UseExternalIP && hasAddr(n, rtc.NodeIP) {
		bind = rtc.NodeIP
	}
	if !bind.IsValid() {
		if bind, err = firstIPv4(n); err != nil {
			return bind, relay, err
		}
	}
	bind = bind.Unmap()
	if !bind.Is4() || bind.IsUnspecified() {
		return bind, relay, fmt.Errorf("bind address %s: want a specific IPv4 address", bind)
	}
	relay = bind
	if rtc.NodeIP.IsValid() {
		relay = rtc.NodeIP
	}
	if rtc.UseExternalIP {
		if s.o.externalIP.IsValid() {
			relay = s.o.externalIP
		} else if !rtc.NodeIP.IsValid() {
			return bind, relay, errors.New("rtc.use_external_ip is true but neither rtc.node_ip nor WithExternalIP gives the external address")
		}
	}
	return bind, relay.Unmap(), nil
}

// hasAddr reports whether ip is an address of one of n's interfaces.
func hasAddr(n transport.Net, ip netip.Addr) bool {
	found := false
	eachAddr(n, func(a netip.Addr) bool {
		found = a == ip
		return found
	})
	return found
}

// eachAddr calls f with every address of n's up interfaces until f returns true.
func eachAddr(n transport.Net, f func(netip.Addr) bool) {
	ifs, err := n.Interfaces()
	if err != nil {
		return
	}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			var ip net.IP
			switch v := a.(type) {
			case *net.IPNet:
				ip = v.IP
			case *net.IPAddr:
				ip = v.IP
			}
			if a, ok := netip.AddrFromSlice(ip); ok && f(a.Unmap()) {
				return
			}
		}
	}
}

func firstIPv4(n transport.Net) (netip.Addr, error) {
	var found netip.Addr
	eachAddr(n, func(a netip.Addr) bool {
		if a.Is4() && !a.IsLoopback() && !a.IsUnspecified() {
			found = a
		}
		return found.IsValid()
	})
	if !found.IsValid() {
		return found, errors.New("no IPv4 interface address to bind; use WithBindIP")
	}
	return found, nil
}

// ListenError is a listener the relay could not bind: the key whose port it
// is, the address, and why (the port in use, held by another process, or
// the address not the host's).
type ListenError struct {
	// Key names the configuration key and its value ("turn.udp_port 3478").
	Key string
	// Addr is the address the relay tried ("udp 127.0.0.1:3478").
	Addr string
	Err  error
}

func (e *ListenError) Error() string { return fmt.Sprintf("%s: listen %s: %v", e.Key, e.Addr, e.Err) }

func (e *ListenError) Unwrap() error { return e.Err }

// Start binds the listeners on n and starts serving: TURN/UDP (and STUN) and
// TURN/TCP on udp_port when it is not 0, and TURN/TLS on tls_port when a
// certificate is configured (plain TCP there when external_tls). Relay
// sockets come from relay_range_start..relay_range_end on the bind address
// and are advertised on the relay address. The relay closes when ctx is done.
func (s *Server) Start(ctx context.Context, n transport.Net) (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != 0 {
		return fmt.Errorf("relay %s: start: already started or closed", s.o.name)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("relay %s: start: %w", s.o.name, err)
	}
	bind, relayIP, err := s.addresses(n)
	if err != nil {
		return fmt.Errorf("relay %s: %w", s.o.name, err)
	}
	defer func() {
		if err != nil {
			for _, c := range s.closers {
				_ = c()
			}
			s.closers = nil
			if s.pairs != nil {
				s.pairs.close()
			}
		}
	}()

	t := s.cfg.TURN
	s.pairs = newPairs(&turn.RelayAddressGeneratorPortRange{
		RelayAddress: net.IP(relayIP.AsSlice()),
		Address:      bind.String(),
		MinPort:      uint16(t.RelayRangeStart), //nolint:gosec // checked by checkConfig
		MaxPort:      uint16(t.RelayRangeEnd),   //nolint:gosec // checked by checkConfig
		MaxRetries:   t.RelayRangeEnd - t.RelayRangeStart + 1,
		Rand:         newCyclicRand(),
		Net:          n,
	}, s.st.notify)
	s.st.reserved = s.pairs.inUse
	s.screen = &screen{auth: s.auth, pairs: s.pairs, st: s.st}
	s.guard = newStreamGuard(t, s.st)
	s.guard.release = s.o.release
	gen := &countingGenerator{pairs: s.pairs, c: s.st, buffer: t.RelaySocketBuffer}
	s.track = newTracker()

	var packets []turn.PacketConnConfig
	var listeners []turn.ListenerConfig
	if t.UDPPort != 0 {
		udp, tcp, err := s.listenUDPAndTCP(n, bind)
		if err != nil {
			return err
		}
		s.udp = udp[0]
		for _, c := range udp {
			lg := &loopGenerator{countingGenerator: gen}
			s.track.add(1)
			packets = append(packets, turn.PacketConnConfig{
				PacketConn:            &gatedPacketConn{PacketConn: c, screen: s.screen, gen: lg, t: s.track},
				RelayAddressGenerator: lg, PermissionHandler: s.st.permission,
			})
		}
		gl, err := s.gateStream(tcp, nil)
		if err != nil {
			return err
		}
		listeners = append(listeners, turn.ListenerConfig{Listener: gl, RelayAddressGenerator: gen, PermissionHandler: s.st.permission})
		s.addrs = append(s.addrs, ListenAddr{UDP, udp[0].LocalAddr()}, ListenAddr{TCP, tcp.Addr()})
		s.st.addListener(udp[0].LocalAddr(), UDP)
		s.st.addListener(tcp.Addr(), TCP)
	}
	if t.TLSEnabled() {
		port := t.TLSPort
		if s.o.ephemeral {
			port = 0
		}
		l, err := n.ListenTCP("tcp4", &net.TCPAddr{IP: bind.AsSlice(), Port: port})
		if err != nil {
			return fmt.Errorf("relay %s: %w", s.o.name, &ListenError{
				Key: fmt.Sprintf("turn.tls_port %d", t.TLSPort), Addr: "tcp " + netip.AddrPortFrom(bind, uint16(port)).String(), Err: err}) //nolint:gosec // checked
		}
		s.closers = append(s.closers, l.Close)
		var tlsCfg *tls.Config
		tr := TCP
		if !t.ExternalTLS {
			tlsCfg = &tls.Config{
				Certificates: []tls.Certificate{*t.Certificate},
				MinVersion:   tls.VersionTLS12,
				Time:         s.o.now,
			}
			tr = TLS
		}
		gl, err := s.gateStream(l, tlsCfg)
		if err != nil {
			return err
		}
		listeners = append(listeners, turn.ListenerConfig{Listener: gl, RelayAddressGenerator: gen, PermissionHandler: s.st.permission})
		s.addrs = append(s.addrs, ListenAddr{tr, l.Addr()})
		s.st.addListener(l.Addr(), tr)
	}
	if len(packets) == 0 && len(listeners) == 0 {
		return fmt.Errorf("relay %s: no listener: turn.udp_port is 0 and there is no TURN/TLS", s.o.name)
	}

	srv, err := turn.NewServer(turn.ServerConfig{
		PacketConnConfigs: packets,
		ListenerConfigs:   listeners,
		LoggerFactory:     s.o.logger,
		Realm:             t.Domain,
		AuthHandler:       s.auth.handler,
		QuotaHandler:      s.st.quotaOK,
		InboundMTU:        pionInboundMTU,
		EventHandler:      s.st.events(),
	})
	if err != nil {
		return fmt.Errorf("relay %s: start turn server: %w", s.o.name, err)
	}
	s.turn = srv
	s.closers = nil
	s.state = 1
	s.stopCtx = context.AfterFunc(ctx, func() { _ = s.Close() })
	return nil
}

// gateStream puts a TCP listener behind the gate: with a lobby on the
// machine's network, TLS (tlsCfg, nil for plain TCP) started by the gate
// there and by tls.NewListener on a virtual network.
func (s *Server) gateStream(l net.Listener, tlsCfg *tls.Config) (*gatedListener, error) {
	lb, err := newLobby(l, tlsCfg != nil, s.guard)
	if err != nil {
		return nil, fmt.Errorf("relay %s: listener %s: %w", s.o.name, l.Addr(), err)
	}
	gl := &gatedListener{Listener: l, screen: s.screen, guard: s.guard, t: s.track, lobby: lb, tlsConfig: tlsCfg}
	if lb != nil {
		s.closers = append(s.closers, func() error { lb.close(); return nil })
	} else if tlsCfg != nil {
		gl.Listener, gl.tlsConfig = tls.NewListener(l, tlsCfg), nil
	}
	s.track.add(1)
	return gl, nil
}

// listenUDPAndTCP binds udp_port for UDP, with as many sockets as
// WithUDPListeners asks on the machine's network (SO_REUSEPORT), and the same
// port for TCP. With WithEphemeralPorts it retries until it finds a port
// free for both. The UDP sockets must be the only ones on the port: another
// process's SO_REUSEPORT socket would silently share the clients.
func (s *Server) listenUDPAndTCP(n transport.Net, bind netip.Addr) ([]net.PacketConn, transport.TCPListener, error) {
	port := s.cfg.TURN.UDPPort
	if s.o.ephemeral {
		port = 0
	}
	key := fmt.Sprintf("turn.udp_port %d", s.cfg.TURN.UDPPort)
	count := udpListeners(n, s.o.listeners)
	var lastErr error
	for range 16 {
		udp, err := listenUDPGroup(n, netip.AddrPortFrom(bind, uint16(port)), count) //nolint:gosec // checked
		if err != nil {
			return nil, nil, fmt.Errorf("relay %s: %w", s.o.name, &ListenError{Key: key, Addr: "udp " + netip.AddrPortFrom(bind, uint16(port)).String(), Err: err}) //nolint:gosec
		}
		closeAll := func() {
			for _, c := range udp {
				_ = c.Close()
			}
		}
		ua := udp[0].LocalAddr().(*net.UDPAddr) //nolint:forcetypeassert // listenUDPGroup checked it
		for _, c := range udp {
			if err := sizeBuffers(c, s.cfg.TURN.ListenerSocketBuffer); err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("relay %s: turn.listener_socket_buffer: udp %s: %w", s.o.name, ua, err)
			}
		}
		if want := s.cfg.TURN.ListenerSocketBuffer; want > 0 {
			if rcv, snd, ok := SocketBuffers(udp[0]); ok && (rcv < want || snd < want) {
				s.o.log.Warn("listener socket buffer capped by the kernel", "turn.listener_socket_buffer", want,
					"read_buffer_bytes", rcv, "write_buffer_bytes", snd, "raise", "sysctl net.core.rmem_max and net.core.wmem_max")
			}
		}
		tcp, err := n.ListenTCP("tcp4", &net.TCPAddr{IP: bind.AsSlice(), Port: ua.Port})
		if err == nil {
			for _, c := range udp {
				s.closers = append(s.closers, c.Close)
			}
			s.closers = append(s.closers, tcp.Close)
			return udp, tcp, nil
		}
		closeAll()
		lastErr = fmt.Errorf("relay %s: %w", s.o.name, &ListenError{Key: key + " (TURN/TCP shares udp_port)",
			Addr: "tcp " + netip.AddrPortFrom(bind, uint16(ua.Port)).String(), Err: err}) //nolint:gosec
		if port != 0 {
			break
		}
	}
	return nil, nil, lastErr
}

// Addrs lists the bound listeners.
func (s *Server) Addrs() []ListenAddr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ListenAddr(nil), s.addrs...)
}

// ListenerBuffers reports the kernel receive and send buffer sizes of the UDP
// listener (see SocketBuffers); ok is false before Start and on virtual
// sockets.
func (s *Server) ListenerBuffers() (rcv, snd int, ok bool) {
	s.mu.Lock()
	udp := s.udp
	s.mu.Unlock()
	if udp == nil {
		return 0, 0, false
	}
	return SocketBuffers(udp)
}

// Stats returns a snapshot of the relay's counters.
func (s *Server) Stats() Stats { return s.st.snapshot() }

// WaitStats waits until cond holds for a snapshot and returns it. It re-checks
// cond whenever an allocation, permission or relay socket changes; traffic
// counters alone do not wake it. It returns the last snapshot and ctx's error
// when ctx is done first.
func (s *Server) WaitStats(ctx context.Context, cond func(Stats) bool) (Stats, error) {
	return s.st.wait(ctx, cond)
}

// Close stops the listeners, closes every client connection and allocation, and
// waits for the read loops to end. It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	switch s.state {
	case 2:
		s.mu.Unlock()
		<-s.closeDone
		return s.closeErr
	case 0:
		s.state = 2
		close(s.closeDone)
		s.mu.Unlock()
		return nil
	}
	s.state = 2
	srv, track, stop := s.turn, s.track, s.stopCtx
	s.mu.Unlock()

	stop()
	var errs []error
	if err := srv.Close(); err != nil {
		errs = append(errs, err)
	}
	s.pairs.close()
	track.closeConns()
	done := make(chan struct{})
	go func() {
		track.wg.Wait()
		// The read loops have ended; pion now closes their allocations.
		<-s.st.socketsClosed()
		close(done)
	}()
	timer := time.NewTimer(s.o.closeWait)
	select {
	case <-done:
		timer.Stop()
	case <-timer.C:
		errs = append(errs, fmt.Errorf("after %v: %d read loops still running, %d relay sockets open",
			s.o.closeWait, track.loops.Load(), s.st.snapshot().RelayPortsInUse))
	}
	if err := errors.Join(errs...); err != nil {
		s.closeErr = fmt.Errorf("relay %s: close: %w", s.o.name, err)
	}
	close(s.closeDone)
	return s.closeErr
}
