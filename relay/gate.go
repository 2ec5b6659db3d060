package relay

import (
	"errors"
	"net"
	"sync"

	"github.com/pion/turn/v4"
)

// tracker lets Close wait for the read loops pion runs on the relay's listeners.
type tracker struct {
	wg sync.WaitGroup
	mu sync.Mutex
	// conns are accepted stream connections still open.
	conns map[net.Conn]struct{}
	done  bool
}

func newTracker() *tracker { return &tracker{conns: map[net.Conn]struct{}{}} }

// closeConns closes every accepted connection; later ones are closed on accept.
func (t *tracker) closeConns() {
	t.mu.Lock()
	t.done = true
	conns := make([]net.Conn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// gatedPacketConn is the UDP listener as pion sees it: requests with bad
// credentials are answered with 401 here and never reach pion.
type gatedPacketConn struct {
	net.PacketConn
	auth *authenticator
	exit sync.Once
	t    *tracker
}

func (g *gatedPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := g.PacketConn.ReadFrom(p)
		if err != nil {
			g.exit.Do(g.t.wg.Done)
			return n, addr, err
		}
		reply, pass := g.auth.check(p[:n], addr)
		if pass {
			return n, addr, nil
		}
		if reply != nil {
			_, _ = g.PacketConn.WriteTo(reply, addr)
		}
	}
}

// gatedListener is a TCP or TLS listener as pion sees it.
type gatedListener struct {
	net.Listener
	auth *authenticator
	t    *tracker
	exit sync.Once
}

func (l *gatedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		l.exit.Do(l.t.wg.Done)
		return nil, err
	}
	l.t.mu.Lock()
	if l.t.done {
		l.t.mu.Unlock()
		_ = c.Close()
		return nil, net.ErrClosed
	}
	l.t.conns[c] = struct{}{}
	l.t.wg.Add(1)
	l.t.mu.Unlock()
	return &gatedConn{Conn: c, frames: turn.NewSTUNConn(c), buf: make([]byte, 1<<16+64), l: l}, nil
}

// gatedConn reframes a TURN stream (RFC 6062 framing, as turn.STUNConn does) so
// that each frame passes the authenticator before pion reads it.
type gatedConn struct {
	net.Conn
	frames  *turn.STUNConn
	buf     []byte
	pending []byte
	l       *gatedListener
	exit    sync.Once
}

func (g *gatedConn) Read(p []byte) (int, error) {
	for len(g.pending) == 0 {
		n, addr, err := g.frames.ReadFrom(g.buf)
		if err != nil {
			g.finish()
			return 0, err
		}
		reply, pass := g.l.auth.check(g.buf[:n], addr)
		if pass {
			g.pending = g.buf[:n]
			break
		}
		if reply != nil {
			if _, err := g.Conn.Write(reply); err != nil {
				g.finish()
				return 0, err
			}
		}
	}
	n := copy(p, g.pending)
	g.pending = g.pending[n:]
	return n, nil
}

func (g *gatedConn) finish() {
	g.exit.Do(func() {
		_ = g.Conn.Close()
		g.l.t.mu.Lock()
		delete(g.l.t.conns, g.Conn)
		g.l.t.mu.Unlock()
		g.l.t.wg.Done()
	})
}

func (g *gatedConn) Close() error {
	err := g.Conn.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
