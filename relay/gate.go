package relay

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"
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
}

func newTracker() *tracker { return &tracker{conns: map[net.Conn]struct{}{}} }

func (t *tracker) add(n int) {
	t.loops.Add(int64(n))
	t.wg.Add(n)
}

func (t *tracker) done() {
	t.loops.Add(-1)
	t.wg.Done()
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
			g.exit.Do(g.t.done)
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
		l.exit.Do(l.t.done)
		return nil, err
	}
	l.t.mu.Lock()
	if l.t.closed {
		l.t.mu.Unlock()
		_ = c.Close()
		l.exit.Do(l.t.done) // pion stops accepting on this error
		return nil, net.ErrClosed
	}
	l.t.conns[c] = struct{}{}
	l.t.add(1)
	l.t.mu.Unlock()
	return &gatedConn{Conn: c, buf: make([]byte, maxFrame), l: l}, nil
}

// gatedConn reframes a TURN byte stream (RFC 8656 §11.5, RFC 6062) so that each
// frame passes the authenticator before pion reads it. The first frame must be a
// STUN message: anything else (an HTTP request, a TLS record on the plain port)
// ends the connection at once instead of leaving pion waiting for a frame that
// never completes.
type gatedConn struct {
	net.Conn
	l          *gatedListener
	buf        []byte
	start, end int
	pending    []byte
	started    bool
	exit       sync.Once
}

var errNotTURN = errors.New("stream is not STUN or ChannelData")

// maxFrame is the largest STUN message (20+65535) or padded ChannelData (4+65536).
const maxFrame = 4 + 65536

// frameLen returns the length of the frame at the start of b, 0 when more bytes
// are needed.
func frameLen(b []byte, started bool) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	switch top := b[0] >> 6; {
	case top == 0: // STUN: two zero bits, length, magic cookie
		if len(b) < 8 {
			return 0, nil
		}
		if binary.BigEndian.Uint32(b[4:8]) != 0x2112A442 { // STUN magic cookie
			return 0, errNotTURN
		}
		n := int(binary.BigEndian.Uint16(b[2:4]))
		if n%4 != 0 {
			return 0, errNotTURN
		}
		return enough(b, 20+n), nil
	case top == 1 && started: // ChannelData, padded to 4 bytes on streams
		if len(b) < 4 {
			return 0, nil
		}
		n := int(binary.BigEndian.Uint16(b[2:4]))
		return enough(b, 4+(n+3)&^3), nil
	default:
		return 0, errNotTURN
	}
}

func enough(b []byte, n int) int {
	if len(b) < n {
		return 0
	}
	return n
}

func (g *gatedConn) frame() ([]byte, error) {
	for {
		n, err := frameLen(g.buf[g.start:g.end], g.started)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			f := g.buf[g.start : g.start+n]
			g.start += n
			return f, nil
		}
		if g.start > 0 {
			g.end = copy(g.buf, g.buf[g.start:g.end])
			g.start = 0
		}
		m, err := g.Conn.Read(g.buf[g.end:])
		g.end += m
		if err != nil && m == 0 {
			return nil, err
		}
	}
}

func (g *gatedConn) Read(p []byte) (int, error) {
	for len(g.pending) == 0 {
		f, err := g.frame()
		if err != nil {
			g.finish()
			return 0, err
		}
		reply, pass := g.l.auth.check(f, g.Conn.RemoteAddr())
		if pass {
			g.started = true
			g.pending = f
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
		g.l.t.done()
	})
}

func (g *gatedConn) Close() error {
	err := g.Conn.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
