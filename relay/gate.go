package relay

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
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

// WriteTo sends what pion writes, with error responses fixed (see respond).
func (g *gatedPacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if q := g.auth.respond(p); q != nil {
		if _, err := g.PacketConn.WriteTo(q, addr); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return g.PacketConn.WriteTo(p, addr)
}

// gatedListener is a TCP or TLS listener as pion sees it.
type gatedListener struct {
	net.Listener
	auth *authenticator
	t    *tracker
	exit sync.Once
}

// Accept hands pion the next connection. pion/turn's server stops serving a
// listener at its first Accept error (turn v5.1.3, Server.readListener), so
// a passing one — the process out of file descriptors (EMFILE, ENFILE), a
// connection reset before it was accepted (ECONNABORTED) — would end TCP and
// TLS service until a restart while UDP carried on. As net/http's
// Server.Serve does, Accept retries those after a pause that doubles from
// 5 ms to 1 s, logging each, and returns only errors that end the listener.
func (l *gatedListener) Accept() (net.Conn, error) {
	var pause time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			return l.admit(c)
		}
		if !passingAcceptError(err) || l.t.isClosed() {
			l.exit.Do(l.t.done)
			return nil, err
		}
		pause = min(max(2*pause, 5*time.Millisecond), time.Second)
		if l.auth != nil {
			l.auth.stats.log.Warn("accept failed; retrying", "listener", addrString(l.Addr()), "error", err.Error(), "retry_in", pause)
		}
		time.Sleep(pause)
	}
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

// admit tracks an accepted connection and wraps it for framing.
func (l *gatedListener) admit(c net.Conn) (net.Conn, error) {
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
	return &gatedConn{Conn: c, buf: make([]byte, maxStreamFrame), l: l}, nil
}

// gatedConn reframes a TURN byte stream (RFC 8656 §11.5) so that each frame
// passes the authenticator before pion reads it, and so that pion only ever
// sees whole frames it can hold (see maxStreamFrame). The first frame must be
// a STUN message: anything else (an HTTP request, a TLS record on the plain
// port) ends the connection at once instead of leaving pion waiting for a
// frame that never completes. Every read fills a non-empty buffer and every
// frame is consumed whole, so no length field can make the loop spin.
type gatedConn struct {
	net.Conn
	l          *gatedListener
	buf        []byte
	start, end int
	pending    []byte
	started    bool
	exit       sync.Once
	// raw is set once the relay accepted a ConnectionBind on this connection
	// (RFC 6062 §5.4): from then on it carries a peer's bytes, not TURN frames.
	raw atomic.Bool
}

var (
	errNotTURN       = errors.New("stream is not STUN or ChannelData")
	errFrameTooLarge = fmt.Errorf("frame longer than %d bytes", maxStreamFrame)
)

// maxStreamFrame is the longest STUN message or padded ChannelData frame the
// relay accepts on a TCP or TLS stream. RFC 8656 allows up to 20+65532 and
// 4+65536 bytes; pion reads every frame into one buffer of its inbound MTU, so
// a longer frame could never be handled. Such a frame ends its connection as
// soon as its header arrives, without buffering its body.
const maxStreamFrame = 4096

// pionInboundMTU is pion's read buffer; pion drops reads that fill it.
const pionInboundMTU = maxStreamFrame + 1

// stunMagicCookie is bytes 4-7 of every STUN message (RFC 8489 §5).
const stunMagicCookie = 0x2112A442

// maxEmptyReads bounds reads that return neither bytes nor an error, which
// io.Reader discourages but allows.
const maxEmptyReads = 100

// frameLen returns the length of the frame at the start of b, 0 when more bytes
// are needed to know it. It is an error when the frame cannot be valid TURN on
// a stream or is longer than maxStreamFrame.
func frameLen(b []byte, started bool) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	var n int
	switch top := b[0] >> 6; {
	case top == 0: // STUN: two zero bits, length, magic cookie
		if len(b) < 8 {
			return 0, nil
		}
		if binary.BigEndian.Uint32(b[4:8]) != stunMagicCookie {
			return 0, errNotTURN
		}
		body := int(binary.BigEndian.Uint16(b[2:4]))
		if body%4 != 0 {
			return 0, errNotTURN
		}
		n = 20 + body
	case top == 1 && started: // ChannelData 0x4000-0x7FFF, padded to 4 bytes on streams
		if len(b) < 4 {
			return 0, nil
		}
		n = 4 + (int(binary.BigEndian.Uint16(b[2:4]))+3)&^3
	default:
		return 0, errNotTURN
	}
	if n > maxStreamFrame {
		return 0, errFrameTooLarge
	}
	return n, nil
}

// frame returns the next whole frame; it stays valid until the next call.
func (g *gatedConn) frame() ([]byte, error) {
	empty := 0
	for {
		n, err := frameLen(g.buf[g.start:g.end], g.started)
		if err != nil {
			return nil, err
		}
		if n > 0 && g.end-g.start >= n {
			f := g.buf[g.start : g.start+n]
			g.start += n
			return f, nil
		}
		if g.start > 0 {
			g.end = copy(g.buf, g.buf[g.start:g.end])
			g.start = 0
		}
		// Here end < n <= len(buf), or the header is incomplete (end < 20):
		// the read below always has room.
		if g.end == len(g.buf) {
			return nil, errFrameTooLarge
		}
		m, err := g.Conn.Read(g.buf[g.end:])
		g.end += m
		switch {
		case err != nil && m == 0:
			return nil, err
		case m == 0:
			if empty++; empty > maxEmptyReads {
				return nil, io.ErrNoProgress
			}
		default:
			empty = 0
		}
	}
}

// Read returns one whole frame that passed the authenticator; p must hold it
// (pion reads with a buffer of pionInboundMTU bytes).
func (g *gatedConn) Read(p []byte) (int, error) {
	if g.raw.Load() && len(g.pending) == 0 {
		return g.readRaw(p)
	}
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

// readRaw reads a data connection after ConnectionBind: first the bytes that
// arrived behind the ConnectionBind request, then the stream itself.
func (g *gatedConn) readRaw(p []byte) (int, error) {
	if g.start < g.end {
		n := copy(p, g.buf[g.start:g.end])
		g.start += n
		return n, nil
	}
	n, err := g.Conn.Read(p)
	if err != nil {
		g.finish()
	}
	return n, err
}

// connectionBindSuccess is the message type of a ConnectionBind success response.
const connectionBindSuccess = 0x010B

// Write sends what pion writes, with error responses fixed (see respond).
// A ConnectionBind success response turns the connection into a raw data
// connection, whose bytes then pass both ways untouched.
func (g *gatedConn) Write(p []byte) (int, error) {
	if g.raw.Load() {
		return g.Conn.Write(p)
	}
	if len(p) >= 20 && binary.BigEndian.Uint16(p[0:2]) == connectionBindSuccess &&
		binary.BigEndian.Uint32(p[4:8]) == stunMagicCookie {
		g.raw.Store(true)
	}
	if q := g.l.auth.respond(p); q != nil {
		if _, err := g.Conn.Write(q); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return g.Conn.Write(p)
}

// finish closes the connection and tells the tracker its read loop ended. It
// runs once, on whichever comes first: a read error here, or pion closing the
// connection after its read loop returned.
func (g *gatedConn) finish() {
	g.exit.Do(func() {
		_ = g.Conn.Close()
		g.l.t.mu.Lock()
		delete(g.l.t.conns, g.Conn)
		g.l.t.mu.Unlock()
		g.l.t.done()
	})
}

// Close is called by pion when its read loop for this connection has ended.
func (g *gatedConn) Close() error {
	g.finish()
	return nil
}
