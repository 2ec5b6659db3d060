package vnet

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/pion/transport/v5"
)

// tcpState is a connection's RFC 9293 state.
type tcpState uint8

const (
	stateClosed tcpState = iota
	stateSynSent
	stateSynRcvd
	stateEstablished
	stateFinWait1
	stateFinWait2
	stateCloseWait
	stateClosing
	stateLastAck
	// stateTimeWait: the connection closed first and both FINs are
	// acknowledged. It stays registered for TCPConfig.TimeWait to
	// acknowledge a retransmitted FIN, as Linux's TIME-WAIT sockets do.
	stateTimeWait
)

// Sequence number comparisons modulo 2^32.
func seqLT(a, b uint32) bool { return int32(a-b) < 0 }

func seqLE(a, b uint32) bool { return int32(a-b) <= 0 }

// TCPConn is a TCP connection on a virtual host. It implements
// transport.TCPConn and net.Conn and is safe for concurrent use.
//
// Segments cross the network like datagrams, so links, routers, NATs and
// firewalls treat them as they treat UDP. The model is a small RFC 9293
// stack: a three-way handshake, cumulative acknowledgements, a receive
// window for back-pressure, an out-of-order queue, slow start and fast
// retransmit, selective acknowledgements and SACK loss recovery (RFC 2018,
// RFC 6675), retransmission with exponential back-off (RFC 6298, Linux's
// 200 ms minimum and 1 s initial timeout), FIN and half-close, TIME-WAIT,
// and resets where Linux sends them.
// It needs no goroutine of its own: its timer runs only when it fires.
type TCPConn struct {
	host  *Host
	laddr netip.AddrPort
	raddr netip.AddrPort
	cfg   TCPConfig // cfg.MSS is the segment size in use
	// advMSS is the MSS this end announces in its SYN (mtu.go).
	advMSS int

	// writeLock serialises Write calls so each one's bytes are
	// contiguous. It is a channel, not a mutex, so that a writer waiting
	// for it is durably blocked inside a testing/synctest bubble.
	writeLock chan struct{}

	mu        sync.Mutex
	state     tcpState
	ln        *TCPListener  // the listener of a connection not yet accepted
	estab     chan struct{} // closed when a dial completes or fails
	estabDone bool

	// Send side: snd holds the bytes from sndUna on, sent or not.
	iss, sndUna, sndNxt uint32
	sndMax              uint32 // highest sequence number sent, past sndNxt after a timeout
	sndWnd              uint32
	snd                 ring
	finQueued, finSent  bool
	finSeq              uint32
	cwnd, ssthresh      int
	dupAcks             int
	rtxHead             bool // fast retransmit: resend the head segment
	// SACK (tcp_sack.go): whether both ends use it, the scoreboard of
	// blocks the peer holds above sndUna, and loss recovery, which lasts
	// until recover is acknowledged, having resent up to highRxt.
	sackOK           bool
	sacked           []SACKBlock
	inRecovery       bool
	recover, highRxt uint32
	timeouts         int // retransmission timeouts, for tests

	// Retransmission.
	srtt, rttvar, rto time.Duration
	rttActive         bool
	rttSeq            uint32
	rttStart          time.Time
	retries           int
	headSince         time.Time // when the head of the unacknowledged data was sent
	timer             *time.Timer
	timerAt           time.Time // zero: disarmed

	// Receive side.
	irs, rcvNxt uint32
	rcv         ring
	ooo         []oooSegment // sorted by seq
	lastOOO     uint32       // seq of the latest to arrive
	finRcvd     bool
	advRight    uint32 // right edge of the window last advertised
	ackOwed     bool

	err        error // terminal: the reason the connection died
	userClosed bool
	rdShut     bool
	wrShut     bool
	pumping    bool
	linger     int
	rdWake     chan struct{}
	wrWake     chan struct{}

	// portFreed, guarded by host.tcp.mu, says the local port was released
	// when the connection entered TIME-WAIT.
	portFreed bool

	deadlines
}

var _ transport.TCPConn = (*TCPConn)(nil)

type oooSegment struct {
	seq  uint32
	data []byte
	fin  bool
}

func newTCPConn(h *Host, laddr, raddr netip.AddrPort, cfg TCPConfig) *TCPConn {
	iss := rand.Uint32()
	c := &TCPConn{
		host: h, laddr: laddr, raddr: raddr, cfg: cfg,
		iss: iss, sndUna: iss, sndNxt: iss, sndMax: iss, recover: iss,
		cwnd: min(10*cfg.MSS, max(2*cfg.MSS, 14600)), ssthresh: 1 << 30, // RFC 6928
		rto: tcpInitialRTO, linger: -1,
		rdWake: make(chan struct{}), wrWake: make(chan struct{}), writeLock: make(chan struct{}, 1),
		deadlines: newDeadlines(),
	}
	c.snd.limit = cfg.SendBuffer
	c.rcv.limit = cfg.ReceiveBuffer
	return c
}

// wake wakes every goroutine waiting on ch and arms a new channel.
func wake(ch *chan struct{}) {
	close(*ch)
	*ch = make(chan struct{})
}

func (c *TCPConn) rcvWindow() uint32 { return uint32(c.rcv.limit - c.rcv.n) }

// abort ends the connection with err; reset sends a reset to the peer.
func (c *TCPConn) abort(err error, reset bool) {
	c.mu.Lock()
	if c.state == stateClosed && c.err != nil {
		c.mu.Unlock()
		return
	}
	var rst *packet
	if reset && c.state != stateSynSent && c.state != stateClosed && c.state != stateTimeWait {
		rst = newPacket(TCP, c.laddr, c.raddr, nil)
		rst.seg = Segment{Flags: FlagRST | FlagACK, Seq: c.sndNxt, Ack: c.rcvNxt}
	}
	c.state = stateClosed
	if errno, ok := err.(syscall.Errno); ok {
		err = &os.SyscallError{Syscall: "read", Err: errno}
	}
	c.err = err
	c.timerAt = time.Time{}
	if c.timer != nil {
		c.timer.Stop()
	}
	c.ooo = nil
	c.signalEstablished()
	wake(&c.rdWake)
	wake(&c.wrWake)
	c.mu.Unlock()
	if rst != nil {
		c.host.send(rst)
	}
	c.host.unregisterTCP(c)
}

func (c *TCPConn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// syscallErr renders a terminal error for an operation.
func syscallErr(op string, err error) error {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return &os.SyscallError{Syscall: op, Err: se.Err}
	}
	return err
}

// Read reads data; it returns io.EOF once the peer has closed its side and
// everything before the FIN has been read.
func (c *TCPConn) Read(b []byte) (int, error) {
	for {
		select {
		case <-c.readDeadline.Done():
			return 0, c.opError("read", os.ErrDeadlineExceeded)
		default:
		}
		c.mu.Lock()
		if c.userClosed {
			c.mu.Unlock()
			return 0, c.opError("read", net.ErrClosed)
		}
		if len(b) == 0 {
			c.mu.Unlock()
			return 0, nil
		}
		if c.rcv.n > 0 && !c.rdShut {
			n := c.rcv.read(b)
			// Advertise the opened window once it is worth a segment.
			update := false
			if c.state != stateClosed && !c.finRcvd {
				right := c.rcvNxt + c.rcvWindow()
				update = int(right-c.advRight) >= min(c.rcv.limit/2, 2*c.cfg.MSS)
				c.ackOwed = c.ackOwed || update
			}
			c.mu.Unlock()
			if update {
				c.output()
			}
			return n, nil
		}
		if c.rdShut || c.finRcvd {
			c.mu.Unlock()
			return 0, io.EOF
		}
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			return 0, c.opError("read", syscallErr("read", err))
		}
		ch := c.rdWake
		c.mu.Unlock()
		select {
		case <-ch:
		case <-c.readDeadline.Done():
		}
	}
}

// Write writes data, blocking while the send buffer is full.
func (c *TCPConn) Write(b []byte) (int, error) {
	c.writeLock <- struct{}{}
	defer func() { <-c.writeLock }()
	written := 0
	for {
		select {
		case <-c.writeDeadline.Done():
			return written, c.opError("write", os.ErrDeadlineExceeded)
		default:
		}
		c.mu.Lock()
		switch {
		case c.userClosed:
			c.mu.Unlock()
			return written, c.opError("write", net.ErrClosed)
		case c.err != nil:
			err := c.err
			c.mu.Unlock()
			return written, c.opError("write", syscallErr("write", err))
		case c.wrShut || c.finQueued:
			c.mu.Unlock()
			return written, c.opError("write", &os.SyscallError{Syscall: "write", Err: syscall.EPIPE})
		}
		n := c.snd.write(b[written:])
		written += n
		ch := c.wrWake
		c.mu.Unlock()
		if n > 0 {
			c.output()
		}
		if written == len(b) {
			return written, nil
		}
		if n > 0 {
			continue
		}
		select {
		case <-ch:
		case <-c.writeDeadline.Done():
		}
	}
}

// ReadFrom copies from r until EOF, as io.ReaderFrom.
func (c *TCPConn) ReadFrom(r io.Reader) (int64, error) {
	buf := make([]byte, 32<<10)
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			w, werr := c.Write(buf[:n])
			total += int64(w)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Close closes the connection. Data still unsent is delivered in the
// background, followed by a FIN, unless data was left unread or
// SetLinger(0) was called: then the peer is reset, as Linux does.
func (c *TCPConn) Close() error {
	c.mu.Lock()
	if c.userClosed {
		c.mu.Unlock()
		return c.opError("close", net.ErrClosed)
	}
	c.userClosed = true
	wake(&c.rdWake)
	wake(&c.wrWake)
	var abort, reset, over bool
	switch {
	case c.state == stateTimeWait:
		// Both FINs are acknowledged: TIME-WAIT runs its course, and
		// unread data is dropped without a reset, as Linux does for a
		// socket already in TCP_CLOSE.
		over = true
	case c.state == stateClosed || c.state == stateSynSent:
		abort = true
	case c.rcv.n > 0 || c.linger == 0:
		abort, reset = true, true
	default:
		c.finQueued = true
	}
	c.mu.Unlock()
	c.readDeadline.Set(time.Time{})
	c.writeDeadline.Set(time.Time{})
	if over {
		return nil
	}
	if abort {
		c.abort(net.ErrClosed, reset)
		return nil
	}
	c.output()
	c.mu.Lock()
	c.armTimer(time.Now())
	c.mu.Unlock()
	return nil
}

// CloseWrite sends a FIN after the data already written; the peer reads
// io.EOF. Writes fail afterwards; reads go on.
func (c *TCPConn) CloseWrite() error {
	c.mu.Lock()
	switch {
	case c.userClosed:
		c.mu.Unlock()
		return c.opError("close", net.ErrClosed)
	case c.err != nil:
		err := c.err
		c.mu.Unlock()
		return c.opError("shutdown", syscallErr("shutdown", err))
	}
	c.wrShut = true
	c.finQueued = true
	wake(&c.wrWake)
	c.mu.Unlock()
	c.output()
	return nil
}

// CloseRead shuts the reading side: reads return io.EOF.
func (c *TCPConn) CloseRead() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.userClosed {
		return c.opError("close", net.ErrClosed)
	}
	c.rdShut = true
	wake(&c.rdWake)
	return nil
}

// LocalAddr returns the local address, a *net.TCPAddr.
func (c *TCPConn) LocalAddr() net.Addr { return net.TCPAddrFromAddrPort(c.laddr) }

// RemoteAddr returns the peer's address, a *net.TCPAddr.
func (c *TCPConn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.raddr) }

// SetLinger sets what Close does with unsent data: sec 0 resets the
// connection; otherwise the data is sent in the background.
func (c *TCPConn) SetLinger(sec int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.linger = sec
	return nil
}

// SetKeepAlive is accepted; keep-alive probes are not modelled.
func (c *TCPConn) SetKeepAlive(bool) error { return nil }

// SetKeepAlivePeriod is accepted; keep-alive probes are not modelled.
func (c *TCPConn) SetKeepAlivePeriod(time.Duration) error { return nil }

// SetNoDelay is accepted; segments are always sent at once.
func (c *TCPConn) SetNoDelay(bool) error { return nil }

// SetReadBuffer sets the receive buffer size, which bounds the window.
func (c *TCPConn) SetReadBuffer(bytes int) error {
	if bytes <= 0 {
		return c.opError("set", syscall.EINVAL)
	}
	c.mu.Lock()
	c.rcv.limit = max(bytes, c.rcv.n)
	c.mu.Unlock()
	return nil
}

// SetWriteBuffer sets the send buffer size.
func (c *TCPConn) SetWriteBuffer(bytes int) error {
	if bytes <= 0 {
		return c.opError("set", syscall.EINVAL)
	}
	c.mu.Lock()
	c.snd.limit = max(bytes, c.snd.n)
	c.mu.Unlock()
	return nil
}
