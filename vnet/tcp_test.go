package vnet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// tcpListen listens on h's port and closes the listener at the end of the
// test.
func tcpListen(t testing.TB, h *Host, port int) *TCPListener {
	t.Helper()
	l, err := h.ListenTCP("tcp4", &net.TCPAddr{Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l.(*TCPListener)
}

// tcpPair dials from client to server's port and returns both ends of the
// connection; both are closed at the end of the test.
func tcpPair(t testing.TB, client, server *Host, port int) (cli, srv *TCPConn) {
	t.Helper()
	l := tcpListen(t, server, port)
	accepted := make(chan *TCPConn, 1)
	go func() {
		c, err := l.AcceptTCP()
		if err != nil {
			t.Error(err)
			close(accepted)
			return
		}
		accepted <- c.(*TCPConn)
	}()
	c, err := client.DialTCP("tcp4", nil, &net.TCPAddr{IP: server.Addr().AsSlice(), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.FailNow()
	}
	t.Cleanup(func() { _ = c.Close(); _ = s.Close() })
	return c.(*TCPConn), s
}

// tcpSegments records TCP segments with the given flags seen at where.
func tcpSegments(t testing.TB, n *Network, where string, flags TCPFlags, v Verdict) *recorder {
	return record(t, n, func(e Event) bool {
		return e.Proto == TCP && e.Where == where && e.Flags&flags == flags && e.Verdict == v
	})
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestTCPDataArrivesCompleteAndInOrder(t *testing.T) {
	for _, tt := range []struct {
		name string
		link Impairment
		mss  int
	}{
		{name: "perfect link"},
		{name: "ethernet mss", mss: 1460},
		{name: "latency", link: Impairment{Latency: 30 * time.Millisecond}},
		{name: "jitter reorders", link: Impairment{Latency: 10 * time.Millisecond, Jitter: 10 * time.Millisecond}},
		{name: "loss", link: Impairment{Latency: 5 * time.Millisecond, Loss: 0.05}},
		{name: "bandwidth cap", link: Impairment{Latency: 20 * time.Millisecond, Bandwidth: 10_000_000, QueueBytes: 32 << 10}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newTestNetwork(t)
				srv := mustHost(t, n.Internet(), "srv")
				cli := mustHost(t, mustRouter(t, n.Internet(), "home", PortRestricted()), "cli")
				if tt.mss != 0 {
					cli.SetTCPConfig(TCPConfig{MSS: tt.mss})
					srv.SetTCPConfig(TCPConfig{MSS: tt.mss})
				}
				if err := cli.Link().Impair(tt.link); err != nil {
					t.Fatal(err)
				}
				c, s := tcpPair(t, cli, srv, 80)
				if got, want := s.RemoteAddr().(*net.TCPAddr).IP.String(), cli.ExternalAddr().String(); got != want {
					t.Errorf("server sees the client at %s, want the NAT's %s", got, want)
				}
				data := randomBytes(1 << 20)
				// Both ways at once: an echo.
				go func() {
					_, _ = io.Copy(s, s)
					_ = s.CloseWrite()
				}()
				go func() {
					if _, err := c.Write(data); err != nil {
						t.Error(err)
					}
					_ = c.CloseWrite()
				}()
				got, err := io.ReadAll(c)
				if err != nil {
					t.Fatal(err)
				}
				if sha256.Sum256(got) != sha256.Sum256(data) {
					t.Fatalf("echo returned %d bytes that differ from the %d sent", len(got), len(data))
				}
			})
		})
	}
}

func TestTCPRefusedAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		srv := mustHost(t, n.Internet(), "srv")
		cli := mustHost(t, mustRouter(t, n.Internet(), "home", Symmetric()), "cli")
		syns := tcpSegments(t, n, "cli-eth0", FlagSYN, Forwarded)
		resets := tcpSegments(t, n, "cli", FlagRST, Delivered)
		_, err := cli.Dial("tcp", netip.AddrPortFrom(srv.Addr(), 81).String())
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dial to a closed port: %v, want connection refused", err)
		}
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "dial" {
			t.Errorf("error %#v is not a dial *net.OpError", err)
		}
		if len(syns.list()) != 1 || len(resets.list()) != 1 {
			t.Errorf("saw %d SYNs and %d resets, want one of each: the refusal needs no retry", len(syns.list()), len(resets.list()))
		}
	})
}

func TestTCPDroppedSYNBlocksUntilTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		srv := mustHost(t, n.Internet(), "srv")
		lan := mustRouter(t, n.Internet(), "corp", PortRestricted())
		cli := mustHost(t, lan, "cli")
		tcpListen(t, srv, 7881)
		if _, err := lan.Firewall().Add(OnlyTCPOut(80, 443)...); err != nil {
			t.Fatal(err)
		}
		addr := netip.AddrPortFrom(srv.Addr(), 7881).String()

		// With a dialer timeout, the dial times out like the standard library's.
		d := cli.CreateDialer(&net.Dialer{Timeout: 5 * time.Second})
		_, err := d.Dial("tcp", addr)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("dial through a dropping firewall: %v, want an i/o timeout", err)
		}

		// A cancelled context ends the dial at once.
		ctx, cancel := context.WithCancel(context.Background())
		go func() { time.Sleep(time.Second); cancel() }()
		if _, err := cli.DialContext(ctx, "tcp", addr); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled dial: %v, want context.Canceled", err)
		}

		// Without one, the SYN is retried six times, then ETIMEDOUT.
		syns := tcpSegments(t, n, "cli-eth0", FlagSYN, Forwarded)
		_, err = cli.DialTCP("tcp4", nil, &net.TCPAddr{IP: srv.Addr().AsSlice(), Port: 7881})
		if !errors.Is(err, syscall.ETIMEDOUT) {
			t.Fatalf("dial with no timeout: %v, want ETIMEDOUT", err)
		}
		if got := len(syns.list()); got != 1+tcpSynRetries {
			t.Errorf("sent %d SYNs, want %d", got, 1+tcpSynRetries)
		}
		if got := cli.tcpConnCount(); got != 0 {
			t.Errorf("%d connections left on the client", got)
		}
	})
}

func TestTCPRejectResets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		srv := mustHost(t, n.Internet(), "srv")
		lan := mustRouter(t, n.Internet(), "corp", PortRestricted())
		cli := mustHost(t, lan, "cli")
		tcpListen(t, srv, 22)
		rst := tcpSegments(t, n, "cli-eth0", FlagRST, Forwarded)
		ids, err := lan.Firewall().Add(Rule{Name: "no-ssh", Direction: Outbound, Proto: TCP, RemotePorts: Port(22), Action: Reject})
		if err != nil {
			t.Fatal(err)
		}
		_, err = cli.Dial("tcp", netip.AddrPortFrom(srv.Addr(), 22).String())
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dial through a rejecting firewall: %v, want connection refused", err)
		}
		if len(rst.list()) != 1 {
			t.Fatalf("the firewall's reset crossed the client's link %d times, want once", len(rst.list()))
		}

		// A reject rule added under an established connection resets it.
		lan.Firewall().Remove(ids...)
		c, _ := tcpPair(t, cli, srv, 2222)
		if _, err := lan.Firewall().Add(Rule{Name: "cut", Direction: Outbound, Proto: TCP, Action: Reject}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(make([]byte, 10)); !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("read after the firewall rejected our segment: %v, want connection reset", err)
		}
		if _, err := c.Write([]byte("again")); !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("write after reset: %v, want connection reset", err)
		}
	})
}

func TestTCPBlackholedConnectionFails(t *testing.T) {
	for _, how := range []string{"drop rule", "link cut"} {
		t.Run(how, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newTestNetwork(t)
				srv := mustHost(t, n.Internet(), "srv")
				lan := mustRouter(t, n.Internet(), "corp", PortRestricted())
				cli := mustHost(t, lan, "cli")
				cli.SetTCPConfig(TCPConfig{UserTimeout: 30 * time.Second})
				c, s := tcpPair(t, cli, srv, 443)
				if _, err := c.Write([]byte("ping")); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(s, make([]byte, 4)); err != nil {
					t.Fatal(err)
				}
				if how == "link cut" {
					cli.Link().Cut()
				} else if _, err := lan.Firewall().Add(Rule{Proto: TCP, Action: Drop}); err != nil {
					t.Fatal(err)
				}
				rtx := tcpSegments(t, n, "cli", FlagACK, Delivered) // nothing comes back
				if _, err := c.Write([]byte("lost")); err != nil {
					t.Fatal(err)
				}
				// The read stalls, then fails as the retransmissions give up.
				_, err := c.Read(make([]byte, 10))
				if !errors.Is(err, syscall.ETIMEDOUT) {
					t.Fatalf("read on a blackholed connection: %v, want ETIMEDOUT", err)
				}
				if len(rtx.list()) != 0 {
					t.Errorf("%d segments reached the client through the blackhole", len(rtx.list()))
				}
				if _, err := c.Write([]byte("x")); !errors.Is(err, syscall.ETIMEDOUT) {
					t.Errorf("write after the timeout: %v, want ETIMEDOUT", err)
				}
			})
		})
	}
}

func TestTCPDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		a, b := mustHost(t, n.Internet(), "a"), mustHost(t, n.Internet(), "b")
		c, s := tcpPair(t, a, b, 80)

		// Read deadline in the future, then extended, then past.
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		start := time.Now()
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read past deadline: %v", err)
		}
		if time.Since(start) != time.Second {
			t.Errorf("read returned after %v on the fake clock, want 1s", time.Since(start))
		}
		_ = c.SetReadDeadline(time.Time{})
		go func() { time.Sleep(2 * time.Second); _, _ = s.Write([]byte("late")) }()
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "late" {
			t.Fatalf("read after clearing the deadline: %q, %v", buf, err)
		}
		_, _ = s.Write([]byte("x"))
		_ = c.SetReadDeadline(time.Now().Add(-time.Second))
		if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read with a past deadline and data waiting: %v, want a timeout", err)
		}

		// Write deadline: with nobody reading, the buffers fill and Write
		// blocks, then returns what it wrote.
		_ = s.SetWriteDeadline(time.Now().Add(time.Second))
		big := make([]byte, 4<<20)
		w, err := s.Write(big)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("write past deadline: %v", err)
		}
		if want := 2*DefaultTCPBuffer - 1; w != want { // "x" is still unread
			t.Errorf("wrote %d bytes before blocking, want the send and receive buffers, %d", w, want)
		}
		// A blocked Write is woken by a deadline set from elsewhere.
		_ = s.SetWriteDeadline(time.Time{})
		go func() { time.Sleep(time.Second); _ = s.SetWriteDeadline(time.Now()) }()
		if _, err := s.Write(big); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("write woken by a new deadline: %v", err)
		}
	})
}

func TestTCPBackPressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		a := mustHost(t, n.Internet(), "a")
		b := mustHost(t, n.Internet(), "b")
		a.Link().Impair(Impairment{Latency: 10 * time.Millisecond})
		c, s := tcpPair(t, a, b, 80)
		total := 8 << 20
		done := make(chan int)
		go func() {
			w, _ := c.Write(make([]byte, total))
			done <- w
		}()
		time.Sleep(time.Minute)
		select {
		case <-done:
			t.Fatal("an 8 MiB write to a peer that does not read completed")
		default:
		}
		// The window closed: the sender holds what the receiver cannot take.
		s.mu.Lock()
		buffered := s.rcv.n
		s.mu.Unlock()
		if buffered != DefaultTCPBuffer {
			t.Errorf("receiver buffers %d bytes, want its full buffer %d", buffered, DefaultTCPBuffer)
		}
		got, err := io.ReadFull(s, make([]byte, total))
		if err != nil || got != total {
			t.Fatalf("read %d, %v", got, err)
		}
		if w := <-done; w != total {
			t.Fatalf("write returned %d", w)
		}
	})
}

func TestTCPHalfClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		a := mustHost(t, mustRouter(t, n.Internet(), "home", FullCone()), "a")
		b := mustHost(t, n.Internet(), "b")
		c, s := tcpPair(t, a, b, 80)
		if _, err := c.Write([]byte("request")); err != nil {
			t.Fatal(err)
		}
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("more")); !errors.Is(err, syscall.EPIPE) {
			t.Errorf("write after CloseWrite: %v, want EPIPE", err)
		}
		req, err := io.ReadAll(s)
		if err != nil || string(req) != "request" {
			t.Fatalf("server read %q, %v; want the request then EOF", req, err)
		}
		// The other direction still works.
		if _, err := s.Write([]byte("response")); err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
		resp, err := io.ReadAll(c)
		if err != nil || string(resp) != "response" {
			t.Fatalf("client read %q, %v", resp, err)
		}
		// Both FINs acknowledged: the side that closed first waits in
		// TIME-WAIT, then nothing lingers.
		_ = c.Close()
		synctest.Wait()
		if a.tcpConnCount() != 1 || b.tcpConnCount() != 0 {
			t.Errorf("connections left: %d on a, %d on b; want a's in TIME-WAIT only", a.tcpConnCount(), b.tcpConnCount())
		}
		time.Sleep(DefaultTCPTimeWait)
		synctest.Wait()
		if a.tcpConnCount()+b.tcpConnCount() != 0 {
			t.Errorf("connections left after TIME-WAIT: %d on a, %d on b", a.tcpConnCount(), b.tcpConnCount())
		}

		// CloseRead makes reads return EOF.
		c2, s2 := tcpPair(t, a, b, 81)
		_, _ = s2.Write([]byte("x"))
		_ = c2.CloseRead()
		if _, err := c2.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("read after CloseRead: %v, want EOF", err)
		}
	})
}

func TestTCPClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		a := mustHost(t, n.Internet(), "a")
		b := mustHost(t, n.Internet(), "b")
		a.Link().Impair(Impairment{Latency: 20 * time.Millisecond, Loss: 0.02})

		// Close with data still unsent: it is delivered, then EOF.
		c, s := tcpPair(t, a, b, 80)
		data := randomBytes(3 << 20)
		go func() {
			_, _ = c.Write(data)
			_ = c.Close()
		}()
		got, err := io.ReadAll(s)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read %d of %d bytes written before Close, %v", len(got), len(data), err)
		}

		// Operations on a closed conn fail with net.ErrClosed, and a
		// blocked Read is woken.
		c2, s2 := tcpPair(t, a, b, 81)
		go func() { time.Sleep(time.Second); _ = s2.Close() }()
		if _, err := s2.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("read woken by Close: %v, want net.ErrClosed", err)
		}
		if _, err := s2.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Errorf("write after Close: %v, want net.ErrClosed", err)
		}
		if err := s2.Close(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("second Close: %v, want net.ErrClosed", err)
		}
		if _, err := c2.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("peer read after Close: %v, want EOF", err)
		}

		// Close with unread data resets the peer, as Linux does. A reset
		// is sent once, never retransmitted: with loss the peer might
		// never learn of it, so the link stops losing packets here.
		if err := a.Link().Impair(Impairment{Latency: 20 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		c3, s3 := tcpPair(t, a, b, 82)
		if _, err := c3.Write([]byte("unread")); err != nil {
			t.Fatal(err)
		}
		for synctest.Wait(); ; synctest.Wait() {
			s3.mu.Lock()
			arrived := s3.rcv.n > 0
			s3.mu.Unlock()
			if arrived {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		_ = s3.Close()
		if _, err := c3.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("read after the peer closed with unread data: %v, want connection reset", err)
		}

		// SetLinger(0) resets too.
		c4, s4 := tcpPair(t, a, b, 83)
		_ = s4.SetLinger(0)
		_ = s4.Close()
		if _, err := c4.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("read after the peer closed with linger 0: %v, want connection reset", err)
		}
	})
}

func TestTCPConcurrentUse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		a := mustHost(t, n.Internet(), "a")
		b := mustHost(t, n.Internet(), "b")
		a.Link().Impair(Impairment{Latency: time.Millisecond, Jitter: time.Millisecond})
		c, s := tcpPair(t, a, b, 80)
		const writers, chunk, per = 8, 1000, 50
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				msg := bytes.Repeat([]byte{byte('a' + w)}, chunk)
				for range per {
					if _, err := c.Write(msg); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		go func() { wg.Wait(); _ = c.CloseWrite() }()
		got, err := io.ReadAll(s)
		if err != nil || len(got) != writers*chunk*per {
			t.Fatalf("read %d bytes, %v", len(got), err)
		}
		// Each Write's bytes arrive together.
		for i := 0; i < len(got); i += chunk {
			if !bytes.Equal(got[i:i+chunk], bytes.Repeat(got[i:i+1], chunk)) {
				t.Fatalf("writes interleaved at offset %d", i)
			}
		}
	})
}

func TestTCPNAT(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		pub := mustHost(t, n.Internet(), "pub")
		home := mustRouter(t, n.Internet(), "home", FullCone())
		inside := mustHost(t, home, "inside")
		tcpListen(t, inside, 8080)

		// Inbound connections are not let in without a forward: the SYN is
		// dropped (RFC 5382 REQ-4), so the dial times out.
		d := pub.CreateDialer(&net.Dialer{Timeout: 3 * time.Second})
		_, err := d.Dial("tcp", netip.AddrPortFrom(home.WAN(), 8080).String())
		if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			t.Fatalf("inbound dial through NAT: %v, want a timeout", err)
		}

		// A forward lets them in.
		fwd := mustRouterCfg(t, n.Internet(), RouterConfig{Name: "office", NAT: func() NAT {
			nat := PortRestricted()
			nat.Forwards = []Forward{{Proto: TCP, ExternalPort: 443, Internal: netip.AddrPortFrom(netip.MustParseAddr("10.2.0.2"), 8443)}}
			return nat
		}()})
		web := mustHost(t, fwd, "web")
		tcpListen(t, web, 8443)
		c, err := pub.Dial("tcp", netip.AddrPortFrom(fwd.WAN(), 443).String())
		if err != nil {
			t.Fatalf("dial a forwarded port: %v", err)
		}
		_ = c.Close()

		// Outbound connections get a mapping, seen as the NAT's address.
		if home.Mappings() != 0 {
			t.Fatalf("%d mappings before any outbound connection", home.Mappings())
		}
		l := tcpListen(t, pub, 80)
		go func() {
			s, err := l.Accept()
			if err == nil {
				_, _ = s.Write([]byte(s.RemoteAddr().String()))
				_ = s.Close()
			}
		}()
		c, err = inside.Dial("tcp", netip.AddrPortFrom(pub.Addr(), 80).String())
		if err != nil {
			t.Fatal(err)
		}
		seen, _ := io.ReadAll(c)
		_ = c.Close()
		if ap := netip.MustParseAddrPort(string(seen)); ap.Addr() != home.WAN() {
			t.Errorf("server saw %s, want the NAT's address %s", ap, home.WAN())
		}
		if home.Mappings() != 1 {
			t.Errorf("%d mappings after one connection, want 1", home.Mappings())
		}
	})
}

func mustRouterCfg(t testing.TB, r *Router, cfg RouterConfig) *Router {
	t.Helper()
	c, err := r.AddRouter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTCPNATMappingLifetimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		pub := mustHost(t, n.Internet(), "pub")
		home := mustRouter(t, n.Internet(), "home", PortRestricted())
		inside := mustHost(t, home, "inside")
		c, s := tcpPair(t, inside, pub, 80)
		// Idle for an hour, far past UDP's two minutes: the established
		// mapping (2 h 4 min) still carries the connection.
		time.Sleep(time.Hour)
		if _, err := s.Write([]byte("still here")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 10)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("read after an hour idle: %v", err)
		}
		// After the established lifetime the mapping is gone and the
		// server's segments are dropped: the server's write times out.
		time.Sleep(3 * time.Hour)
		if _, err := s.Write([]byte("gone")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Read(buf); !errors.Is(err, syscall.ETIMEDOUT) {
			t.Fatalf("read after the mapping expired: %v, want ETIMEDOUT", err)
		}
	})
}

func TestTCPListener(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		a := mustHost(t, n.Internet(), "a")
		b := mustHost(t, n.Internet(), "b")
		l := tcpListen(t, b, 0)
		if l.Addr().(*net.TCPAddr).Port < ephemeralMin {
			t.Errorf("listener on port 0 got %v", l.Addr())
		}
		if _, err := b.ListenTCP("tcp4", &net.TCPAddr{Port: l.Addr().(*net.TCPAddr).Port}); !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("second listener on the same port: %v, want EADDRINUSE", err)
		}
		if _, err := b.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 80}); !errors.Is(err, syscall.EADDRNOTAVAIL) {
			t.Errorf("listener on a foreign address: %v, want EADDRNOTAVAIL", err)
		}
		_ = l.SetDeadline(time.Now().Add(time.Second))
		if _, err := l.Accept(); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("accept past deadline: %v", err)
		}
		_ = l.SetDeadline(time.Time{})
		addr := netip.AddrPortFrom(b.Addr(), uint16(l.Addr().(*net.TCPAddr).Port)).String()
		// A connection queued but never accepted is reset when the
		// listener closes.
		c, err := a.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go func() { time.Sleep(time.Second); _ = l.Close() }()
		if _, err := l.Accept(); err != nil {
			t.Fatal(err) // the queued one
		}
		if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("accept on a closed listener: %v, want net.ErrClosed", err)
		}
		if _, err := a.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial after the listener closed: %v, want refused", err)
		}
		// Listen through CreateListenConfig, dial through CreateDialer.
		ln, err := b.CreateListenConfig(&net.ListenConfig{}).Listen(context.Background(), "tcp4", b.Addr().String()+":9000")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			if s, err := ln.Accept(); err == nil {
				_ = s.Close()
			}
		}()
		c2, err := a.CreateDialer(&net.Dialer{LocalAddr: &net.TCPAddr{IP: a.Addr().AsSlice(), Port: 5555}}).Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if got := c2.LocalAddr().String(); got != a.Addr().String()+":5555" {
			t.Errorf("dialer's local address %s, want port 5555", got)
		}
		_ = c2.Close()
	})
}

func TestTCPNetworkCloseEndsEverything(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, err := New(Config{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		a := mustHost(t, n.Internet(), "a")
		b := mustHost(t, n.Internet(), "b")
		a.Link().Impair(Impairment{Latency: 50 * time.Millisecond})
		c, _ := tcpPair(t, a, b, 80)
		blocked := make(chan error)
		go func() { _, err := c.Read(make([]byte, 1)); blocked <- err }()
		go func() { _, _ = c.Write(make([]byte, 10<<20)) }()
		synctest.Wait()
		_ = n.Close()
		if err := <-blocked; !errors.Is(err, net.ErrClosed) {
			t.Errorf("read when the network closed: %v, want net.ErrClosed", err)
		}
	})
}

// teardownTrouble records TCP resets and the segments refused or dropped
// for want of a connection.
func teardownTrouble(t testing.TB, n *Network) *recorder {
	return record(t, n, func(e Event) bool {
		return e.Proto == TCP && (e.Flags&FlagRST != 0 ||
			e.Verdict == Rejected && e.Reason == "port closed" ||
			e.Verdict == Dropped && e.Reason == "no connection for reset")
	})
}

// An orderly close, the server shutting its side first as net/http does for
// a plain connection, ends with no reset anywhere, even when the server's
// last ACK is lost: the server waits in TIME-WAIT and acknowledges the
// client's retransmitted FIN, as Linux does. (Before TIME-WAIT was
// modelled, the retransmitted FIN found no connection and was reset.)
func TestTCPOrderlyCloseAndTimeWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		home := mustRouter(t, n.Internet(), "home", PortRestricted())
		a := mustHost(t, home, "a")
		b := mustHost(t, n.Internet(), "b")
		if err := a.Link().Impair(Impairment{Latency: 10 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		trouble := teardownTrouble(t, n)
		l := tcpListen(t, b, 80)
		const rounds = 5
		loseLastACK := func(i int) bool { return i == rounds-1 }
		type served struct {
			err error
		}
		done := make(chan served, 1)
		serverReadEOF := make(chan struct{}, 1)
		go func() {
			// The server answers, shuts its side, drains the client's EOF,
			// then closes.
			for range rounds {
				s, err := l.Accept()
				if err != nil {
					done <- served{err}
					return
				}
				if _, err := s.Write([]byte("response")); err != nil {
					done <- served{err}
					return
				}
				_ = s.(*TCPConn).CloseWrite()
				if _, err := io.ReadAll(s); err != nil {
					done <- served{err}
					return
				}
				serverReadEOF <- struct{}{}
				_ = s.Close()
			}
			done <- served{}
		}()
		for i := range rounds {
			c, err := a.Dial("tcp", netip.AddrPortFrom(b.Addr(), 80).String())
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(c)
			if err != nil || string(got) != "response" {
				t.Fatalf("round %d: read %q, %v", i, got, err)
			}
			var ids []RuleID
			if loseLastACK(i) {
				// Lose the server's ACK of the client's FIN.
				synctest.Wait()
				if ids, err = home.Firewall().Add(Rule{Name: "lose-ack", Direction: Inbound, Proto: TCP, Action: Drop}); err != nil {
					t.Fatal(err)
				}
			}
			_ = c.Close()
			<-serverReadEOF
			if loseLastACK(i) {
				time.Sleep(50 * time.Millisecond) // less than the RTO
				home.Firewall().Remove(ids...)
				time.Sleep(2 * time.Second)
				if got := a.tcpConnCount(); got != 0 {
					t.Errorf("client still has %d connections after its FIN was retransmitted", got)
				}
			}
		}
		if s := <-done; s.err != nil {
			t.Fatal(s.err)
		}
		synctest.Wait()
		for _, e := range trouble.list() {
			t.Errorf("%v [%v]", e, e.Flags)
		}
		if got := b.tcpConnCount(); got != rounds {
			t.Errorf("server has %d connections, want its %d in TIME-WAIT", got, rounds)
		}
		time.Sleep(DefaultTCPTimeWait)
		synctest.Wait()
		if a.tcpConnCount()+b.tcpConnCount() != 0 {
			t.Errorf("connections left after TIME-WAIT: %d on a, %d on b", a.tcpConnCount(), b.tcpConnCount())
		}
	})
}

// A connection in TIME-WAIT answers only its own endpoints: its port is
// free for other peers, a new SYN from the same peer port reaches the
// listener, Close and Network.Close end it without a reset, and
// TCPConfig.TimeWait sets its length.
func TestTCPTimeWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		a := mustHost(t, n.Internet(), "a")
		b := mustHost(t, n.Internet(), "b")
		b.SetTCPConfig(TCPConfig{TimeWait: 5 * time.Second})
		trouble := teardownTrouble(t, n)
		l := tcpListen(t, b, 80)
		accepted := make(chan *TCPConn, 1)
		go func() {
			for {
				s, err := l.AcceptTCP()
				if err != nil {
					close(accepted)
					return
				}
				accepted <- s.(*TCPConn)
			}
		}()
		laddr := &net.TCPAddr{IP: a.Addr().AsSlice(), Port: 5555}
		raddr := &net.TCPAddr{IP: b.Addr().AsSlice(), Port: 80}
		dial := func() (*TCPConn, *TCPConn) {
			t.Helper()
			c, err := a.CreateDialer(&net.Dialer{LocalAddr: laddr}).Dial("tcp4", raddr.String())
			if err != nil {
				t.Fatal(err)
			}
			return c.(*TCPConn), <-accepted
		}
		// The server closes first, with a byte left unread by the time
		// the client's FIN arrives: the server's Close in TIME-WAIT
		// resets nothing.
		c, s := dial()
		_ = s.CloseWrite()
		if _, err := io.ReadAll(c); err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write([]byte("x"))
		_ = c.Close()
		synctest.Wait()
		s.mu.Lock()
		state := s.state
		s.mu.Unlock()
		if state != stateTimeWait {
			t.Fatalf("server in state %d after both FINs, want TIME-WAIT", state)
		}
		_ = s.Close()
		if _, err := s.Write([]byte("y")); !errors.Is(err, net.ErrClosed) {
			t.Errorf("write after Close in TIME-WAIT: %v", err)
		}
		// The same client port connects again: the SYN either opens a new
		// incarnation at once or, if its sequence number is behind, draws
		// an ACK whose reset from the client ends TIME-WAIT, and the SYN's
		// retry gets through.
		c2, s2 := dial()
		if _, err := c2.Write([]byte("again")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 5)
		if _, err := io.ReadFull(s2, buf); err != nil || string(buf) != "again" {
			t.Fatalf("second incarnation read %q, %v", buf, err)
		}
		_ = c2.CloseWrite()
		if _, err := io.ReadAll(s2); err != nil {
			t.Fatal(err)
		}
		_ = s2.Close()
		_, _ = io.ReadAll(c2)
		_ = c2.Close() // the client closed first this time: a's TIME-WAIT
		synctest.Wait()
		if a.tcpConnCount() != 1 || b.tcpConnCount() != 0 {
			t.Errorf("connections: %d on a, %d on b; want the client's TIME-WAIT only", a.tcpConnCount(), b.tcpConnCount())
		}
		// Its port serves another peer meanwhile.
		l2 := tcpListen(t, a, 81)
		go func() {
			if s, err := l2.Accept(); err == nil {
				_ = s.Close()
			}
		}()
		if c3, err := b.CreateDialer(&net.Dialer{}).Dial("tcp4", net.JoinHostPort(a.Addr().String(), "81")); err != nil {
			t.Fatal(err)
		} else {
			_ = c3.Close()
		}
		for _, e := range trouble.list() {
			if e.Flags == FlagRST && e.Src.Port() == 5555 && e.Reason == "" {
				continue // the client's reset that may end the first TIME-WAIT
			}
			t.Errorf("%v [%v]", e, e.Flags)
		}
		// Network.Close ends TIME-WAIT with everything else.
		_ = n.Close()
		if a.tcpConnCount()+b.tcpConnCount() != 0 {
			t.Errorf("connections left after the network closed: %d on a, %d on b", a.tcpConnCount(), b.tcpConnCount())
		}
	})
}

// Data that arrives after close() in FIN-WAIT resets the connection only
// when it is new: a retransmission of what was read already is
// acknowledged, as Linux does.
func TestTCPDataAfterCloseResetsOnlyWhenNew(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newTestNetwork(t)
		a := mustHost(t, n.Internet(), "a")
		b := mustHost(t, n.Internet(), "b")
		trouble := teardownTrouble(t, n)
		c, s := tcpPair(t, a, b, 80)
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(s, make([]byte, 5)); err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
		synctest.Wait() // s in FIN-WAIT-2, orphaned
		// A duplicate of "hello", as after a spurious retransmission.
		c.mu.Lock()
		dup := c.segment(FlagACK|FlagPSH, c.sndUna-5, 0, 0)
		c.mu.Unlock()
		dup.payload = []byte("hello")
		a.send(dup)
		synctest.Wait()
		if got := trouble.list(); len(got) != 0 {
			t.Fatalf("a duplicate after close drew %v", got)
		}
		// New data: the server resets, from the segment's ACK, as Linux.
		if _, err := c.Write([]byte("more")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("client read %v, want the server's EOF first", err)
		}
		synctest.Wait()
		if _, err := c.Write([]byte("x")); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("write after the server reset: %v, want ECONNRESET", err)
		}
		var rst []Event
		for _, e := range trouble.list() {
			if e.Where == "a" || e.Where == "b" {
				rst = append(rst, e)
			}
		}
		if len(rst) != 1 || rst[0].Flags != FlagRST || rst[0].Where != "a" || rst[0].Verdict != Delivered {
			t.Errorf("resets %v, want one bare RST delivered to the client", rst)
		}
		if b.tcpConnCount() != 0 {
			t.Errorf("%d connections left on the server", b.tcpConnCount())
		}
	})
}
