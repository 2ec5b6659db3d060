package relay

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// zeroStream is a net.Conn whose reader yields a header, then zeros up to
// total bytes, then io.EOF, at most chunk bytes per Read. It counts reads.
type zeroStream struct {
	net.Conn
	header []byte
	total  int
	chunk  int
	off    int
	reads  int
}

func (z *zeroStream) Read(p []byte) (int, error) {
	z.reads++
	if z.off >= z.total {
		return 0, io.EOF
	}
	n := min(len(p), z.chunk, z.total-z.off)
	for i := range n {
		p[i] = 0
		if z.off+i < len(z.header) {
			p[i] = z.header[z.off+i]
		}
	}
	z.off += n
	return n, nil
}

func (z *zeroStream) Close() error { return nil }

func (z *zeroStream) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

// stunHeader is a Binding request header declaring a body of length bytes.
func stunHeader(length int) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:2], 0x0001)
	binary.BigEndian.PutUint16(h[2:4], uint16(length)) //nolint:gosec // test lengths are 0..65535
	binary.BigEndian.PutUint32(h[4:8], stunMagicCookie)
	copy(h[8:], "icelab-txid!")
	return h
}

// channelHeader is a ChannelData header on channel 0x4000 declaring length bytes.
func channelHeader(length int) []byte {
	h := make([]byte, 4)
	binary.BigEndian.PutUint16(h[0:2], 0x4000)
	binary.BigEndian.PutUint16(h[2:4], uint16(length)) //nolint:gosec // test lengths are 0..65535
	return h
}

// TestStreamFramingEveryLength feeds the relay's stream framer a STUN header
// and a ChannelData header with every length 0-65535, each completed with
// zeros and delivered in chunks from 1 byte to a whole TLS record. Each either
// yields exactly one frame of the RFC 8656 length and then the end of the
// stream, or is refused as soon as its header is in; the number of reads is
// bounded by the bytes the frame needs, so no length can make the framer spin.
func TestStreamFramingEveryLength(t *testing.T) {
	t.Parallel()
	auth := newAuthenticator(testDomain, map[string]string{testUser: testPass}, nil, time.Now, newCollector(time.Now, 1, 0, PeerPolicy{}, slog.New(slog.DiscardHandler)))
	st := newCollector(time.Now, 1, 0, PeerPolicy{}, slog.New(slog.DiscardHandler))
	l := &gatedListener{screen: &screen{auth: auth, st: st}, guard: newStreamGuard(TURNConfig{}, st), t: newTracker()}
	chunks := []int{1, 3, 7, 1400, 16384, 65536}
	for length := range 65536 {
		for _, kind := range []string{"stun", "channel"} {
			header, size, started := stunHeader(length), 20+length, false
			var wantErr error
			switch {
			case kind == "channel":
				header, size, started = channelHeader(length), 4+(length+3)/4*4, true
			case length%4 != 0:
				wantErr = errNotTURN
			}
			if wantErr == nil && size > maxStreamFrame {
				wantErr = errFrameTooLarge
			}
			chunk := chunks[length%len(chunks)]
			z := &zeroStream{header: header, total: size, chunk: chunk}
			l.t.add(1)
			g := &gatedConn{Conn: z, l: l, started: started}
			// Reads needed: the frame in chunks, one more for a header split
			// across chunks, one for the end of the stream.
			maxReads := (size+chunk-1)/chunk + 2
			if wantErr != nil {
				maxReads = (len(header)+chunk-1)/chunk + 1
			}
			f, err := g.frame()
			switch {
			case wantErr != nil && !errors.Is(err, wantErr):
				t.Fatalf("%s length %d: %v, want %v", kind, length, err, wantErr)
			case wantErr == nil && err != nil:
				t.Fatalf("%s length %d: %v", kind, length, err)
			case wantErr == nil && len(f) != size:
				t.Fatalf("%s length %d: frame of %d bytes, want %d", kind, length, len(f), size)
			}
			if wantErr == nil {
				if _, err := g.frame(); !errors.Is(err, io.EOF) {
					t.Fatalf("%s length %d: after the frame %v, want EOF", kind, length, err)
				}
			}
			if z.reads > maxReads {
				t.Fatalf("%s length %d in chunks of %d: %d reads, want at most %d", kind, length, chunk, z.reads, maxReads)
			}
			g.finish()
		}
	}
	if n := l.t.loops.Load(); n != 0 {
		t.Errorf("%d read loops counted after every connection finished", n)
	}
}

// hostileLengths are the STUN lengths of issue 15 that once spun pion's or the
// gate's read loop, the framing boundaries around maxStreamFrame, and lengths
// that cannot be STUN.
func hostileLengths() []int {
	ls := []int{0, 1, 2, 3, 4, 8, 1576, 1580, 1600, maxStreamFrame - 24, maxStreamFrame - 20, maxStreamFrame - 16, 65512, 65516, 65520}
	for l := 65521; l <= 65535; l++ {
		ls = append(ls, l)
	}
	return ls
}

// TestHostileLengthsOverTCPAndTLS opens one real TCP or TLS connection to a
// running relay per hostile length, sends the header completed with zeros and
// half-closes. The relay must end every such connection and its read loop
// (waited on, with a bound), and afterwards still allocate and relay, and
// Close must succeed.
func TestHostileLengthsOverTCPAndTLS(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	cfg := testConfig()
	cfg.TURN.Certificate = leafCert(t)(ca.Valid(testDomain))
	s := startServer(t, cfg)
	tlsCfg := &tls.Config{RootCAs: ca.Pool(), ServerName: testDomain, MinVersion: tls.VersionTLS12}
	idle := s.track.loops.Load() // the UDP loop and two accept loops
	for _, tr := range []Transport{TCP, TLS} {
		for _, kind := range []string{"stun", "channel"} {
			for _, length := range hostileLengths() {
				name := fmt.Sprintf("%s/%s/%d", tr, kind, length)
				conn := dialStream(t, tr, addrOf(t, s, tr), tlsCfg)
				var msg []byte
				if kind == "channel" { // ChannelData is framed only after a STUN message
					msg = stun.MustBuild(stun.TransactionID, stun.BindingRequest).Raw
					h := channelHeader(length)
					msg = append(append(msg, h...), make([]byte, (length+3)/4*4)...)
				} else {
					msg = append(stunHeader(length), make([]byte, length)...)
				}
				write := make(chan error, 1)
				go func() { // the relay may close before all is written
					if _, err := conn.Write(msg); err != nil {
						write <- err
						return
					}
					write <- closeWrite(conn)
				}()
				_ = conn.SetReadDeadline(time.Now().Add(bound))
				if _, err := io.Copy(io.Discard, conn); isTimeout(err) {
					t.Fatalf("%s: relay did not end the connection within %v", name, bound)
				}
				<-write
				_ = conn.Close()
				ctx, cancel := context.WithTimeout(context.Background(), bound)
				err := s.track.waitLoops(ctx, idle)
				cancel()
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
			}
		}
	}
	for _, tr := range []Transport{UDP, TCP, TLS} {
		alloc := allocate(t, dialTURN(t, tr, addrOf(t, s, tr), testUser, testPass, tlsCfg))
		roundTrip(t, alloc, newPeer(t), "after "+string(tr), "still relays")
	}
}

// dialStream opens a real TCP or TLS connection to addr.
func dialStream(t testing.TB, tr Transport, addr net.Addr, tlsCfg *tls.Config) net.Conn {
	t.Helper()
	var c net.Conn
	var err error
	if tr == TLS {
		c, err = (&tls.Dialer{NetDialer: &net.Dialer{Timeout: bound}, Config: tlsCfg}).Dial("tcp4", addr.String())
	} else {
		c, err = net.DialTimeout("tcp4", addr.String(), bound)
	}
	if err != nil {
		t.Fatalf("dial %s %s: %v", tr, addr, err)
	}
	return c
}

// closeWrite half-closes a TCP or TLS connection.
func closeWrite(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return fmt.Errorf("%T cannot half-close", c)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
