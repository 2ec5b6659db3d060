package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// tracker lets Close wait for the read loops pion runs on the relay's listeners.
type tracker struct {
	wg sync.WaitGroup
	// loops counts the read loops wg waits for, for Close's error message.
	loops atomic.Int64
	mu    sync.Mutex
	// conns are accepted stream connections still open.
	conns  map[net.Conn]struct{}
	closed bool
	// ended is closed and replaced each time a read loop ends.
	ended chan struct{}
}

func newTracker() *tracker {
	return &tracker{conns: map[net.Conn]struct{}{}, ended: make(chan struct{})}
}

func (t *tracker) add(n int) {
	t.loops.Add(int64(n))
	t.wg.Add(n)
}

func (t *tracker) done() {
	t.loops.Add(-1)
	t.mu.Lock()
	close(t.ended)
	t.ended = make(chan struct{})
	t.mu.Unlock()
	t.wg.Done()
}

// waitLoops waits until at most n read loops are running.
func (t *tracker) waitLoops(ctx context.Context, n int64) error {
	for {
		t.mu.Lock()
		ended := t.ended
		t.mu.Unlock()
		if got := t.loops.Load(); got <= n {
			return nil
		}
		select {
		case <-ended:
		case <-ctx.Done():
			return fmt.Errorf("%d read loops still running, want %d: %w", t.loops.Load(), n, ctx.Err())
		}
	}
}

// closeConns closes every accepted connection; later ones are closed on accept.
func (t *tracker) closeConns() {
	t.mu.Lock()
	t.closed = true
	conns := make([]net.Conn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// gatedPacketConn is a UDP listener socket as pion sees it: every datagram
// passes the screen first (requests with bad credentials are answered with
// 401 here and never reach pion; see screen), and every response pion
// writes passes it on the way out.
type gatedPacketConn struct {
	net.PacketConn
	screen *screen
	gen    *loopGenerator
	exit   sync.Once
	t      *tracker
}

func (g *gatedPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := g.PacketConn.ReadFrom(p)
		if err != nil {
			g.exit.Do(g.t.done)
			return n, addr, err
		}
		g.gen.claim = 0 // a claim the previous request did not use lapses
		forward, reply := g.screen.frame(p[:n], addr, &g.gen.claim)
		if forward != nil {
			if len(forward) != n || n > 0 && &forward[0] != &p[0] {
				n = copy(p, forward) // a rewritten request
			}
			return n, addr, nil
		}
		if reply != nil {
			_, _ = g.PacketConn.WriteTo(reply, addr)
		}
	}
}

// WriteTo sends what pion writes, with responses screened (see screen.respond).
func (g *gatedPacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if q := g.screen.respond(p); q != nil {
		if _, err := g.PacketConn.WriteTo(q, addr); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return g.PacketConn.WriteTo(p, addr)
}

// gatedListener is a TCP or TLS listener as pion sees it. On the machine's
// network its connections wait in a lobby until their first message
// arrived (see lobby), and TLS is started here (tlsConfig); on a virtual
// network the listener accepts them at once (TLS by tls.NewListener).
type gatedListener struct {
	net.Listener
	screen    *screen
	guard     *streamGuard
	lobby     *lobby
	tlsConfig *tls.Config
	t         *tracker
	exit      sync.Once
}

// Accept hands pion the next connection. pion/turn's server stops serving a
// listener at its first Accept error (turn v5.1.3, Server.readListener), so
// a passing one — the process out of file descriptors (EMFILE, ENFILE), a
// connection reset before it was accepted (ECONNABORTED) — would end TCP and
// TLS service until a restart while UDP carried on. As net/http's
// Server.Serve does, Accept retries those after a pause that doubles from
// 5 ms to 1 s, logging each, and returns only errors that end the listener.
// A connection over turn.max_connections_per_source is closed here.
func (l *gatedListener) Accept() (net.Conn, error) {
	if l.lobby != nil {
		lc, err := l.lobby.accept()
		if err != nil {
			l.exit.Do(l.t.done)
			return nil, err
		}
		c := lc.conn
		if l.tlsConfig != nil {
			c = tls.Server(c, l.tlsConfig)
		}
		return l.admit(c, lc.src, lc.accepted)
	}
	var pause time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			src := remoteIP(c)
			if !l.guard.enter(src, c.RemoteAddr()) {
				_ = c.Close()
				continue
			}
			return l.admit(c, src, time.Now())
		}
		if !passingAcceptError(err) || l.t.isClosed() {
			l.exit.Do(l.t.done)
			return nil, err
		}
		pause = min(max(2*pause, 5*time.Millisecond), time.Second)
		l.screen.st.log.Warn("accept failed; retrying", "listener", addrString(l.Addr()), "error", err.Error(), "retry_in", pause)
		time.Sleep(pause)
	}
}

// Close closes the listener and the connections in its lobby.
func (l *gatedListener) Close() error {
	if l.lobby != nil {
		l.lobby.close()
		return nil
	}
	return l.Listener.Close()
}

// passingAcceptError reports whether an Accept error is one a listener
// recovers from: resources that run out for a while, or a connection that
// went away in the queue.
func passingAcceptError(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isClosed reports whether the relay is closing.
func (t *tracker) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// admit tracks an accepted connection from src, counted in by the guard,
// and wraps it for framing with the guard's deadlines armed from accepted.
func (l *gatedListener) admit(c net.Conn, src netip.Addr, accepted time.Time) (net.Conn, error) {
	l.t.mu.Lock()
	if l.t.closed {
		l.t.mu.Unlock()
		_ = c.Close()
		l.guard.leave(src)
		l.exit.Do(l.t.done) // pion stops accepting on this error
		return nil, net.ErrClosed
	}
	l.t.conns[c] = struct{}{}
	l.t.add(1)
	l.t.mu.Unlock()
	g := &gatedConn{Conn: c, l: l, src: src, accepted: accepted}
	g.arm()
	return g, nil
}
