package relay

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/stun/v4"
)

// gatedConn reframes a TURN byte stream (RFC 8656 §11.5) so that each frame
// passes the screen before pion reads it, and so that pion only ever sees
// whole frames it can hold (see maxStreamFrame). The first frame must be a
// STUN message: anything else (an HTTP request, a TLS record on the plain
// port) ends the connection at once instead of leaving pion waiting for a
// frame that never completes. Every read fills a non-empty buffer and every
// frame is consumed whole, so no length field can make the loop spin.
//
// The connection also keeps the guard's deadlines (see streamGuard): its
// read deadline is the TLS handshake's, then the first frame's, then the
// allocation's, and none once it holds an allocation or carries a peer's
// data (RFC 6062).
type gatedConn struct {
	net.Conn
	l          *gatedListener
	src        netip.Addr
	accepted   time.Time
	buf        []byte
	start, end int
	pending    []byte
	started    bool
	handshook  bool
	exit       sync.Once
	// allocated is set while the connection holds an allocation; raw once
	// the relay accepted a ConnectionBind on it (RFC 6062 §5.4): from then
	// on it carries a peer's bytes, not TURN frames.
	allocated, raw atomic.Bool
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

// firstStreamBuffer is a connection's read buffer until a frame needs more:
// room for any Allocate, so that connections that never send much (and a
// flood of half-open ones) hold little.
const firstStreamBuffer = 512

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
	if g.buf == nil {
		g.buf = make([]byte, firstStreamBuffer)
	}
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
		if n > len(g.buf) || g.end == len(g.buf) && len(g.buf) < maxStreamFrame {
			g.buf = append(g.buf, make([]byte, maxStreamFrame-len(g.buf))...)
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

// Read returns one whole frame that passed the screen; p must hold it
// (pion reads with a buffer of pionInboundMTU bytes).
func (g *gatedConn) Read(p []byte) (int, error) {
	if g.raw.Load() && len(g.pending) == 0 {
		return g.readRaw(p)
	}
	if !g.handshook {
		if err := g.handshake(); err != nil {
			g.fail(err)
			return 0, err
		}
	}
	for len(g.pending) == 0 {
		f, err := g.frame()
		if err != nil {
			g.fail(err)
			return 0, err
		}
		forward, reply := g.l.screen.frame(f, g.Conn.RemoteAddr(), nil)
		if forward != nil {
			if !g.started {
				g.started = true
				g.rearm()
			}
			g.pending = forward
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

// handshake completes a TLS handshake within its deadline before the first
// frame is read.
func (g *gatedConn) handshake() error {
	g.handshook = true
	tc, ok := g.Conn.(*tls.Conn)
	if !ok {
		return nil
	}
	if err := tc.Handshake(); err != nil {
		g.handshook = false
		return err
	}
	_ = g.Conn.SetWriteDeadline(time.Time{})
	g.rearm()
	return nil
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

// Response types that change a connection's deadline.
const (
	connectionBindSuccess = 0x010B
	refreshSuccess        = 0x0104
)

// Write sends what pion writes, with responses screened (see screen.respond).
// An Allocate success response lifts the allocation deadline, a Refresh
// success with LIFETIME 0 puts it back; a ConnectionBind success response
// turns the connection into a raw data connection, whose bytes then pass
// both ways untouched.
func (g *gatedConn) Write(p []byte) (int, error) {
	if g.raw.Load() {
		return g.Conn.Write(p)
	}
	if len(p) >= 20 && binary.BigEndian.Uint32(p[4:8]) == stunMagicCookie {
		switch binary.BigEndian.Uint16(p[0:2]) {
		case connectionBindSuccess:
			g.raw.Store(true)
			g.allocated.Store(true)
			_ = g.Conn.SetReadDeadline(time.Time{})
		case allocateSuccess:
			if !g.allocated.Swap(true) {
				_ = g.Conn.SetReadDeadline(time.Time{})
			}
		case refreshSuccess:
			if lifetimeZero(p) && g.allocated.Swap(false) {
				if d := g.l.guard.unallocated; d > 0 {
					_ = g.Conn.SetReadDeadline(time.Now().Add(d))
				}
			}
		}
	}
	if q := g.l.screen.respond(p); q != nil {
		if _, err := g.Conn.Write(q); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return g.Conn.Write(p)
}

// lifetimeZero reports whether a STUN message carries LIFETIME 0.
func lifetimeZero(b []byte) bool {
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if m.Decode() != nil {
		return false
	}
	v, err := m.Get(stun.AttrLifetime)
	return err == nil && len(v) == 4 && binary.BigEndian.Uint32(v) == 0
}

// arm sets the first deadline, counted from when the connection was accepted.
func (g *gatedConn) arm() {
	gd := g.l.guard
	_, isTLS := g.Conn.(*tls.Conn)
	d := earliest(gd.firstFrame, gd.unallocated)
	if isTLS {
		d = earliest(gd.handshake, d)
		if d > 0 {
			_ = g.Conn.SetDeadline(g.accepted.Add(d)) // the handshake writes too
		}
		return
	}
	if d > 0 {
		_ = g.Conn.SetReadDeadline(g.accepted.Add(d))
	}
}

// rearm moves the read deadline on after the handshake or the first frame.
func (g *gatedConn) rearm() {
	if g.allocated.Load() {
		return
	}
	gd := g.l.guard
	d := gd.unallocated
	if !g.started {
		d = earliest(gd.firstFrame, gd.unallocated)
	}
	if d > 0 {
		_ = g.Conn.SetReadDeadline(g.accepted.Add(d))
	} else {
		_ = g.Conn.SetReadDeadline(time.Time{})
	}
}

// earliest returns the shorter of two deadlines, where 0 means none.
func earliest(a, b time.Duration) time.Duration {
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	}
	return min(a, b)
}

// fail ends the connection after a read error, counting a deadline that
// passed by the stage it ended.
func (g *gatedConn) fail(err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		stage := deadlineUnallocated
		switch {
		case !g.handshook:
			stage = deadlineHandshake
		case !g.started:
			stage = deadlineFirstFrame
		}
		g.l.guard.timedOut(stage, g.Conn.RemoteAddr(), time.Since(g.accepted))
	}
	g.finish()
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
		g.l.guard.leave(g.src)
		g.l.t.done()
	})
}

// Close is called by pion when its read loop for this connection has ended.
func (g *gatedConn) Close() error {
	g.finish()
	return nil
}

// remoteIP is the client's IP address of a stream connection.
func remoteIP(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}
