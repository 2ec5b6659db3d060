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
	"strconv"
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

// Server is the built-in Relay: a pion/turn server with icelab's defaults.
type Server struct {
	cfg  Config
	o    options
	auth *authenticator
	st   *collector

	mu        sync.Mutex
	state     int // 0 new, 1 started, 2 closed
	turn      *turn.Server
	addrs     []ListenAddr
	udp       net.PacketConn
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
	case t.UserQuota < 0:
		return fmt.Errorf("turn.user_quota %d is negative", t.UserQuota)
	case t.TLSEnabled() && t.TLSPort != 0 && t.TLSPort == t.UDPPort:
		return fmt.Errorf("turn.tls_port %d is also udp_port", t.TLSPort)
	}
	return nil
}

// addresses decides the bind address and the advertised relay address.
func (s *Server) addresses(n transport.Net) (bind, relay netip.Addr, err error) {
	rtc := s.cfg.RTC
	bind = s.o.bindIP
	if !bind.IsValid() && !rtc.UseExternalIP && rtc.NodeIP.IsValid() {
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
	if rtc.UseExternalIP {
		relay = s.o.externalIP
		if !relay.IsValid() {
			relay = rtc.NodeIP
		}
		if !relay.IsValid() {
			return bind, relay, errors.New("rtc.use_external_ip is true but neither rtc.node_ip nor WithExternalIP gives the external address")
		}
	}
	return bind, relay.Unmap(), nil
}

func firstIPv4(n transport.Net) (netip.Addr, error) {
	ifs, err := n.Interfaces()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("list interfaces: %w", err)
	}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
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
			if a, ok := netip.AddrFromSlice(ip); ok && a.Unmap().Is4() && !a.IsLoopback() && !a.IsUnspecified() {
				return a.Unmap(), nil
			}
		}
	}
	return netip.Addr{}, errors.New("no IPv4 interface address to bind; use WithBindIP")
}

// Start binds the listeners on n and starts serving: TURN/UDP (and STUN) and
// TURN/TCP on udp_port, and TURN/TLS on tls_port when a certificate is
// configured (plain TCP there when external_tls). Relay sockets come from
// relay_range_start..relay_range_end on the bind address and are advertised on the
// relay address. The relay closes when ctx is done.
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
		}
	}()

	udp, tcp, err := s.listenUDPAndTCP(n, bind)
	if err != nil {
		return err
	}
	s.track = newTracker()
	s.track.add(2)
	gUDP := &gatedPacketConn{PacketConn: udp, auth: s.auth, t: s.track}
	more, err := s.moreUDP(n, udp.LocalAddr())
	if err != nil {
		return err
	}
	gTCP := &gatedListener{Listener: tcp, auth: s.auth, t: s.track}
	s.udp = udp
	s.addrs = []ListenAddr{{UDP, udp.LocalAddr()}, {TCP, tcp.Addr()}}
	s.st.addListener(udp.LocalAddr(), UDP)
	s.st.addListener(tcp.Addr(), TCP)

	t := s.cfg.TURN
	gen := &countingGenerator{c: s.st, buffer: t.RelaySocketBuffer, inner: &turn.RelayAddressGeneratorPortRange{
		RelayAddress: net.IP(relayIP.AsSlice()),
		Address:      bind.String(),
		MinPort:      uint16(t.RelayRangeStart), //nolint:gosec // checked by checkConfig
		MaxPort:      uint16(t.RelayRangeEnd),   //nolint:gosec // checked by checkConfig
		MaxRetries:   t.RelayRangeEnd - t.RelayRangeStart + 1,
		Rand:         newCyclicRand(),
		Net:          n,
	}}
	listeners := []turn.ListenerConfig{{Listener: gTCP, RelayAddressGenerator: gen, PermissionHandler: s.st.permission}}

	if t.TLSEnabled() {
		l, err := n.ListenTCP("tcp4", &net.TCPAddr{IP: bind.AsSlice(), Port: t.TLSPort})
		if err != nil {
			return fmt.Errorf("relay %s: turn.tls_port %d: listen tcp %s: %w", s.o.name, t.TLSPort, netip.AddrPortFrom(bind, uint16(t.TLSPort)), err) //nolint:gosec
		}
		s.closers = append(s.closers, l.Close)
		var ln net.Listener = l
		tr := TCP
		if !t.ExternalTLS {
			ln = tls.NewListener(l, &tls.Config{
				Certificates: []tls.Certificate{*t.Certificate},
				MinVersion:   tls.VersionTLS12,
				Time:         s.o.now,
			})
			tr = TLS
		}
		s.track.add(1)
		listeners = append(listeners, turn.ListenerConfig{
			Listener:              &gatedListener{Listener: ln, auth: s.auth, t: s.track},
			RelayAddressGenerator: gen, PermissionHandler: s.st.permission,
		})
		s.addrs = append(s.addrs, ListenAddr{tr, l.Addr()})
		s.st.addListener(l.Addr(), tr)
	}

	srv, err := turn.NewServer(turn.ServerConfig{
		PacketConnConfigs: udpConfigs(append([]net.PacketConn{gUDP}, more...), gen, s.st.permission),
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

// moreUDP binds the further UDP sockets that share udp_port (see
// WithUDPListeners), gated like the first.
func (s *Server) moreUDP(n transport.Net, addr net.Addr) ([]net.PacketConn, error) {
	var out []net.PacketConn
	for range udpListeners(n, s.o.listeners) - 1 {
		c, err := listenUDP(n, addr.String(), s.o.listeners)
		if err != nil {
			return nil, fmt.Errorf("relay %s: turn.udp_port: listen udp %s again (SO_REUSEPORT): %w", s.o.name, addr, err)
		}
		s.closers = append(s.closers, c.Close)
		if err := sizeBuffers(c, s.cfg.TURN.ListenerSocketBuffer); err != nil {
			return nil, fmt.Errorf("relay %s: turn.listener_socket_buffer: udp %s: %w", s.o.name, addr, err)
		}
		s.track.add(1)
		out = append(out, &gatedPacketConn{PacketConn: c, auth: s.auth, t: s.track})
	}
	return out, nil
}

func udpConfigs(conns []net.PacketConn, gen turn.RelayAddressGenerator, perm turn.PermissionHandler) []turn.PacketConnConfig {
	out := make([]turn.PacketConnConfig, len(conns))
	for i, c := range conns {
		out[i] = turn.PacketConnConfig{PacketConn: c, RelayAddressGenerator: gen, PermissionHandler: perm}
	}
	return out
}

// listenUDPAndTCP binds udp_port for UDP and the same port for TCP. With
// udp_port 0 it retries until it finds a port free for both.
func (s *Server) listenUDPAndTCP(n transport.Net, bind netip.Addr) (net.PacketConn, transport.TCPListener, error) {
	port := s.cfg.TURN.UDPPort
	var lastErr error
	for range 16 {
		udp, err := listenUDP(n, net.JoinHostPort(bind.String(), strconv.Itoa(port)), udpListeners(n, s.o.listeners))
		if err != nil {
			return nil, nil, fmt.Errorf("relay %s: turn.udp_port %d: listen udp %s: %w", s.o.name, port, netip.AddrPortFrom(bind, uint16(port)), err) //nolint:gosec
		}
		ua, ok := udp.LocalAddr().(*net.UDPAddr)
		if !ok {
			_ = udp.Close()
			return nil, nil, fmt.Errorf("relay %s: listen udp: local address %v is not UDP", s.o.name, udp.LocalAddr())
		}
		if err := sizeBuffers(udp, s.cfg.TURN.ListenerSocketBuffer); err != nil {
			_ = udp.Close()
			return nil, nil, fmt.Errorf("relay %s: turn.listener_socket_buffer: udp %s: %w", s.o.name, ua, err)
		}
		tcp, err := n.ListenTCP("tcp4", &net.TCPAddr{IP: bind.AsSlice(), Port: ua.Port})
		if err == nil {
			s.closers = append(s.closers, udp.Close, tcp.Close)
			return udp, tcp, nil
		}
		_ = udp.Close()
		lastErr = fmt.Errorf("relay %s: turn.udp_port %d: listen tcp %s (TURN/TCP shares udp_port): %w", s.o.name, port, netip.AddrPortFrom(bind, uint16(ua.Port)), err) //nolint:gosec
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
