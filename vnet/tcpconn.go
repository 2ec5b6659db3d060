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
// retransmit, retransmission with exponential back-off (RFC 6298, Linux's
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
	ooo         []oooSegment
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
		iss: iss, sndUna: iss, sndNxt: iss, sndMax: iss,
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

// segment builds a segment with the connection's addresses.
func (c *TCPConn) segment(flags TCPFlags, seq uint32, n int, off int) *packet {
	pkt := packetPool.Get().(*packet)
	pkt.proto, pkt.src, pkt.dst = TCP, c.laddr, c.raddr
	if n > 0 {
		if n <= maxPooled {
			pkt.buf = bufPool.Get().(*[]byte)
			pkt.payload = (*pkt.buf)[:n]
		} else {
			pkt.payload = make([]byte, n)
		}
		c.snd.peek(off, pkt.payload)
	}
	wnd := c.rcvWindow()
	if flags&FlagACK != 0 {
		c.advRight = c.rcvNxt + wnd
		c.ackOwed = false
	}
	pkt.seg = Segment{Flags: flags, Seq: seq, Ack: c.rcvNxt, Window: wnd}
	if flags&FlagACK == 0 {
		pkt.seg.Ack = 0
	}
	if flags&FlagSYN != 0 {
		pkt.seg.MSS = uint16(min(c.advMSS, 65535))
	}
	return pkt
}

// output sends whatever the connection may send now. It is never called
// with c.mu held; a goroutine already sending for the connection takes
// over the work, so delivery on a zero-latency path does not recurse.
func (c *TCPConn) output() {
	c.mu.Lock()
	if c.pumping {
		c.mu.Unlock()
		return
	}
	c.pumping = true
	var batch []*packet
	for {
		batch = c.collect(batch[:0])
		if len(batch) == 0 {
			break
		}
		c.mu.Unlock()
		for i, p := range batch {
			c.host.send(p)
			batch[i] = nil
		}
		c.mu.Lock()
	}
	c.pumping = false
	c.mu.Unlock()
}

// collect appends the segments to send now. Called with c.mu held.
func (c *TCPConn) collect(out []*packet) []*packet {
	now := time.Now()
	switch c.state {
	case stateClosed, stateTimeWait:
		if c.ackOwed && c.err == nil { // the ACK of the peer's FIN
			out = append(out, c.segment(FlagACK, c.sndNxt, 0, 0))
		}
		return out
	case stateSynSent:
		if c.sndNxt == c.iss {
			out = append(out, c.segment(FlagSYN, c.iss, 0, 0))
			c.sndNxt, c.sndMax = c.iss+1, c.iss+1
			c.sentFirst(now)
		}
		return out
	case stateSynRcvd:
		if c.sndNxt == c.iss {
			out = append(out, c.segment(FlagSYN|FlagACK, c.iss, 0, 0))
			c.sndNxt, c.sndMax = c.iss+1, c.iss+1
			c.sentFirst(now)
		}
		return out
	}
	if c.rtxHead {
		c.rtxHead = false
		flight := int(c.sndMax - c.sndUna)
		n := min(c.cfg.MSS, c.snd.n, flight)
		switch {
		case n > 0:
			out = append(out, c.segment(FlagACK|FlagPSH, c.sndUna, n, 0))
		case c.finSent:
			out = append(out, c.segment(FlagFIN|FlagACK, c.finSeq, 0, 0))
		}
		c.rttActive = false
	}
	wnd := min(int(c.sndWnd), c.cwnd)
	for len(out) < tcpMaxBurst {
		flight := int(c.sndNxt - c.sndUna)
		off := flight
		avail := c.snd.n - off
		if avail <= 0 {
			break
		}
		n := min(avail, wnd-flight, c.cfg.MSS)
		if n <= 0 {
			break
		}
		flags := FlagACK
		if n == avail {
			flags |= FlagPSH
		}
		out = append(out, c.segment(flags, c.sndNxt, n, off))
		if !c.rttActive {
			c.rttActive, c.rttSeq, c.rttStart = true, c.sndNxt+uint32(n), now
		}
		if c.sndMax == c.sndUna {
			c.headSince = now
		}
		c.advance(uint32(n))
	}
	if c.finQueued && int(c.sndNxt-c.sndUna) == c.snd.n && (!c.finSent || c.sndNxt == c.finSeq) && len(out) < tcpMaxBurst {
		if c.sndMax == c.sndUna {
			c.headSince = now
		}
		out = append(out, c.segment(FlagFIN|FlagACK, c.sndNxt, 0, 0))
		if !c.finSent {
			c.finSent, c.finSeq = true, c.sndNxt
			switch c.state {
			case stateEstablished:
				c.state = stateFinWait1
			case stateCloseWait:
				c.state = stateLastAck
			}
		}
		c.advance(1)
	}
	if c.ackOwed {
		out = append(out, c.segment(FlagACK, c.sndNxt, 0, 0))
	}
	c.armTimer(now)
	return out
}

// advance moves sndNxt past n sent sequence numbers.
func (c *TCPConn) advance(n uint32) {
	c.sndNxt += n
	if seqLT(c.sndMax, c.sndNxt) {
		c.sndMax = c.sndNxt
	}
}

func (c *TCPConn) sentFirst(now time.Time) {
	c.headSince = now
	c.armTimer(now)
}

// armTimer keeps the timer running while something awaits an
// acknowledgement, or the peer's window is closed with data waiting, and
// stops it otherwise. Called with c.mu held.
func (c *TCPConn) armTimer(now time.Time) {
	if c.state == stateTimeWait {
		if c.timerAt.IsZero() {
			c.setTimer(now.Add(c.cfg.TimeWait))
		}
		return
	}
	waiting := c.sndMax != c.sndUna
	persist := !waiting && c.sndWnd == 0 && c.snd.n > 0
	orphan := c.state == stateFinWait2 && c.userClosed
	switch {
	case waiting || persist:
		if c.timerAt.IsZero() {
			d := c.rto
			if c.state != stateSynSent && c.state != stateSynRcvd {
				// Fail on time, as Linux clamps the timer to the user timeout.
				if left := c.cfg.UserTimeout - now.Sub(c.headSince); left < d && !persist {
					d = max(left, time.Millisecond)
				}
			}
			c.setTimer(now.Add(d))
		}
	case orphan:
		if c.timerAt.IsZero() {
			c.setTimer(now.Add(tcpFinTimeout))
		}
	default:
		c.timerAt = time.Time{}
		if c.timer != nil {
			c.timer.Stop()
		}
	}
}

func (c *TCPConn) setTimer(at time.Time) {
	c.timerAt = at
	d := time.Until(at)
	if c.timer == nil {
		c.timer = time.AfterFunc(d, c.onTimer)
	} else {
		c.timer.Reset(d)
	}
}

// restartTimer rearms the retransmission timer after progress.
func (c *TCPConn) restartTimer(now time.Time) {
	c.timerAt = time.Time{}
	if c.timer != nil {
		c.timer.Stop()
	}
	c.armTimer(now)
}

// onTimer handles a retransmission, persist, FIN-WAIT-2 or TIME-WAIT
// timeout.
func (c *TCPConn) onTimer() {
	c.mu.Lock()
	now := time.Now()
	if c.timerAt.IsZero() || c.state == stateClosed {
		c.mu.Unlock()
		return
	}
	if now.Before(c.timerAt) { // a stale firing after a reset
		c.timer.Reset(c.timerAt.Sub(now))
		c.mu.Unlock()
		return
	}
	c.timerAt = time.Time{}
	if c.state == stateTimeWait {
		c.state = stateClosed
		c.mu.Unlock()
		c.host.unregisterTCP(c)
		return
	}
	if c.state == stateFinWait2 && c.userClosed {
		c.mu.Unlock()
		c.abort(syscall.ETIMEDOUT, false)
		return
	}
	waiting := c.sndMax != c.sndUna
	if !waiting { // persist: probe the closed window
		pkt := c.segment(FlagACK, c.sndNxt-1, 0, 0)
		c.rto = min(2*c.rto, tcpMaxRTO)
		c.armTimer(now)
		c.mu.Unlock()
		c.host.send(pkt)
		return
	}
	c.retries++
	var fail bool
	switch c.state {
	case stateSynSent:
		fail = c.retries > tcpSynRetries
	case stateSynRcvd:
		fail = c.retries > tcpSynAckRetry
	default:
		fail = c.retries > tcpMaxRetries || now.Sub(c.headSince) >= c.cfg.UserTimeout
	}
	if fail {
		c.mu.Unlock()
		c.abort(syscall.ETIMEDOUT, false)
		return
	}
	c.rto = min(2*c.rto, tcpMaxRTO)
	flight := int(c.sndMax - c.sndUna)
	c.ssthresh = max(flight/2, 2*c.cfg.MSS)
	c.cwnd = c.cfg.MSS
	c.rttActive = false
	c.dupAcks = 0
	// Go back N: send everything again from the oldest unacknowledged
	// byte; acknowledgements of what arrived after all skip ahead.
	c.sndNxt = c.sndUna
	c.mu.Unlock()
	c.output()
}

// input processes an arriving segment.
func (c *TCPConn) input(pkt *packet) {
	seg := pkt.seg
	data := pkt.payload
	now := time.Now()
	c.mu.Lock()
	switch c.state {
	case stateClosed:
		c.mu.Unlock()
		return
	case stateSynSent:
		c.inputSynSent(seg, now)
		return // unlocked
	case stateTimeWait:
		c.inputTimeWait(seg, len(data), now)
		return // unlocked
	}
	if seg.Flags&FlagRST != 0 {
		inWindow := seqLE(c.rcvNxt, seg.Seq) && seqLE(seg.Seq, c.rcvNxt+max(c.rcvWindow(), 1))
		if !inWindow {
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		c.abort(syscall.ECONNRESET, false)
		return
	}
	if seg.Flags&FlagSYN != 0 {
		// A retransmitted SYN, or one for an older incarnation: answer
		// with what we have.
		if c.state == stateSynRcvd && seg.Seq == c.irs {
			c.sndNxt = c.iss
		} else {
			c.ackOwed = true
		}
		c.mu.Unlock()
		c.output()
		return
	}
	if seg.Flags&FlagACK == 0 {
		c.mu.Unlock()
		return
	}
	var accepted *TCPListener
	if c.state == stateSynRcvd {
		if seg.Ack != c.iss+1 {
			c.mu.Unlock()
			rst := resetFor(pkt)
			c.host.send(rst)
			return
		}
		c.state = stateEstablished
		c.sndUna = c.iss + 1
		c.sndWnd = seg.Window
		if c.retries == 0 { // Karn: no sample from a retransmitted SYN-ACK
			c.sampleRTT(now.Sub(c.headSince))
		} else {
			c.rto = tcpInitialRTO
		}
		c.retries = 0
		c.restartTimer(now)
		accepted = c.ln
	}
	c.processAck(seg, len(data) > 0 || seg.Flags&FlagFIN != 0, now)
	closedNow := c.state == stateClosed
	if !closedNow && (len(data) > 0 || seg.Flags&FlagFIN != 0) {
		if c.finQueued && (c.userClosed || c.rdShut) && !c.finRcvd && len(data) > 0 &&
			seqLT(c.rcvNxt, seg.Seq+uint32(len(data))) {
			// New data after close() or shutdown(SHUT_RDWR), in FIN-WAIT:
			// nobody will read it, so Linux resets the connection (RFC
			// 1122 4.2.2.13), answering from the segment as for a closed
			// port. Go's net/http server closes TLS connections this way
			// and resets the client's close_notify.
			c.mu.Unlock()
			c.abort(syscall.ECONNRESET, false)
			c.host.send(resetFor(pkt))
			return
		}
		c.receive(seg.Seq, data, seg.Flags&FlagFIN != 0)
	} else if !closedNow && seqLT(seg.Seq, c.rcvNxt) {
		c.ackOwed = true // a keep-alive or window probe
	}
	done := c.state == stateClosed
	timeWait := c.state == stateTimeWait
	c.mu.Unlock()
	if accepted != nil {
		accepted.enqueue(c)
	}
	c.output()
	if done {
		c.host.unregisterTCP(c)
	}
	if timeWait {
		c.host.timeWaitTCP(c)
	}
}

// inputTimeWait answers a segment for a connection in TIME-WAIT as Linux's
// tcp_timewait_state_process does. Called with c.mu held; returns with it
// released. A reset at the expected sequence number ends TIME-WAIT (Linux
// does not apply RFC 1337 by default); an in-window bare ACK restarts it;
// anything else, above all a FIN retransmitted because our ACK was lost, is
// acknowledged. A new SYN is dealt with before this, in reopenTimeWait.
func (c *TCPConn) inputTimeWait(seg Segment, n int, now time.Time) {
	if seg.Flags&FlagRST != 0 {
		if seg.Seq != c.rcvNxt {
			c.mu.Unlock()
			return
		}
		c.state = stateClosed
		c.timerAt = time.Time{}
		c.timer.Stop()
		c.mu.Unlock()
		c.host.unregisterTCP(c)
		return
	}
	if seg.Flags&FlagACK != 0 {
		c.restartTimer(now)
	}
	if seg.Seq == c.rcvNxt && n == 0 && seg.Flags&(FlagSYN|FlagFIN) == 0 {
		c.mu.Unlock()
		return
	}
	c.ackOwed = true
	c.mu.Unlock()
	c.output()
}

// reopenTimeWait ends TIME-WAIT for a SYN that opens a new incarnation of
// the connection, one whose sequence number is past the old one's, so that
// a listener can take it (Linux's TCP_TW_SYN). It reports whether it did.
func (c *TCPConn) reopenTimeWait(seq uint32) bool {
	c.mu.Lock()
	if c.state != stateTimeWait || !seqLT(c.rcvNxt, seq) {
		c.mu.Unlock()
		return false
	}
	c.state = stateClosed
	c.timerAt = time.Time{}
	c.timer.Stop()
	c.mu.Unlock()
	c.host.unregisterTCP(c)
	return true
}

// enterTimeWait moves a connection that closed first into TIME-WAIT once
// both FINs are acknowledged. Called with c.mu held.
func (c *TCPConn) enterTimeWait(now time.Time) {
	c.state = stateTimeWait
	c.snd.buf = nil // everything was acknowledged
	c.ooo = nil
	c.restartTimer(now)
}

// inputSynSent handles a segment for a connection whose SYN is out.
// Called with c.mu held; returns with it released.
func (c *TCPConn) inputSynSent(seg Segment, now time.Time) {
	if seg.Flags&FlagACK != 0 && seg.Ack != c.iss+1 {
		c.mu.Unlock()
		if seg.Flags&FlagRST == 0 {
			c.host.send(c.resetTo(seg.Ack))
		}
		return
	}
	if seg.Flags&FlagRST != 0 {
		if seg.Flags&FlagACK == 0 {
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		c.abort(syscall.ECONNREFUSED, false)
		return
	}
	if seg.Flags&(FlagSYN|FlagACK) != FlagSYN|FlagACK {
		c.mu.Unlock() // simultaneous open is not modelled
		return
	}
	c.irs, c.rcvNxt = seg.Seq, seg.Seq+1
	c.peerMSS(seg.MSS)
	c.advRight = c.rcvNxt
	c.sndUna = c.iss + 1
	c.sndWnd = seg.Window
	c.state = stateEstablished
	if c.retries == 0 {
		c.sampleRTT(now.Sub(c.headSince))
	} else {
		c.rto = tcpInitialRTO
	}
	c.retries = 0
	c.ackOwed = true
	c.restartTimer(now)
	c.signalEstablished()
	c.mu.Unlock()
	c.output()
}

// signalEstablished ends a dial's wait. Called with c.mu held.
func (c *TCPConn) signalEstablished() {
	if c.estab != nil && !c.estabDone {
		c.estabDone = true
		close(c.estab)
	}
}

func (c *TCPConn) resetTo(seq uint32) *packet {
	p := newPacket(TCP, c.laddr, c.raddr, nil)
	p.seg = Segment{Flags: FlagRST, Seq: seq}
	return p
}

// sampleRTT updates the RTT estimate and the timeout (RFC 6298).
func (c *TCPConn) sampleRTT(r time.Duration) {
	if c.srtt == 0 && c.rttvar == 0 {
		c.srtt, c.rttvar = r, r/2
	} else {
		d := c.srtt - r
		if d < 0 {
			d = -d
		}
		c.rttvar = (3*c.rttvar + d) / 4
		c.srtt = (7*c.srtt + r) / 8
	}
	c.rto = min(max(c.srtt+4*c.rttvar, tcpMinRTO), tcpMaxRTO)
}

// processAck handles the acknowledgement field of a segment. Called with
// c.mu held.
func (c *TCPConn) processAck(seg Segment, carries bool, now time.Time) {
	ack := seg.Ack
	switch {
	case seqLT(c.sndUna, ack) && seqLE(ack, c.sndMax):
		acked := int(ack - c.sndUna)
		finAcked := c.finSent && ack == c.finSeq+1
		dataAcked := acked
		if finAcked {
			dataAcked--
		}
		c.snd.discard(dataAcked)
		c.sndUna = ack
		if seqLT(c.sndNxt, ack) {
			c.sndNxt = ack
		}
		c.sndWnd = seg.Window
		c.retries = 0
		c.dupAcks = 0
		c.headSince = now
		if c.rttActive && seqLE(c.rttSeq, ack) {
			c.rttActive = false
			c.sampleRTT(now.Sub(c.rttStart))
		}
		if c.cwnd < c.ssthresh {
			c.cwnd += min(acked, c.cfg.MSS)
		} else {
			c.cwnd += max(c.cfg.MSS*c.cfg.MSS/c.cwnd, 1)
		}
		c.cwnd = min(c.cwnd, 1<<26)
		if finAcked {
			switch c.state {
			case stateFinWait1:
				c.state = stateFinWait2
			case stateClosing:
				c.enterTimeWait(now)
			case stateLastAck:
				c.state = stateClosed
			}
		}
		c.restartTimer(now)
		wake(&c.wrWake)
	case ack == c.sndUna:
		if c.sndMax != c.sndUna && !carries && seg.Window == c.sndWnd {
			if c.dupAcks++; c.dupAcks == 3 {
				flight := int(c.sndMax - c.sndUna)
				c.ssthresh = max(flight/2, 2*c.cfg.MSS)
				c.cwnd = c.ssthresh
				c.rtxHead = true
			}
		}
		if seg.Window != c.sndWnd {
			c.sndWnd = seg.Window
			c.armTimer(now)
			wake(&c.wrWake)
		}
	case seqLT(c.sndMax, ack):
		c.ackOwed = true // acknowledges what was never sent
	}
}

// receive accepts a segment's data and FIN into the receive buffer.
// Called with c.mu held.
func (c *TCPConn) receive(seq uint32, data []byte, fin bool) {
	c.ackOwed = true
	if c.finRcvd {
		return
	}
	if seqLT(seq, c.rcvNxt) { // trim what we already have
		skip := c.rcvNxt - seq
		if int(skip) >= len(data) {
			if !(fin && int(skip) == len(data)) {
				return
			}
			data = nil
		} else {
			data = data[skip:]
		}
		seq = c.rcvNxt
	}
	if seq != c.rcvNxt {
		// Out of order: keep what fits in the window for later.
		right := c.rcvNxt + c.rcvWindow()
		if seqLE(seq+uint32(len(data)), right) && len(c.ooo) < 256 {
			c.ooo = append(c.ooo, oooSegment{seq: seq, data: append([]byte(nil), data...), fin: fin})
		}
		return
	}
	c.accept(data, fin)
	for progress := true; progress && len(c.ooo) > 0; {
		progress = false
		for i := 0; i < len(c.ooo); i++ {
			s := c.ooo[i]
			end := s.seq + uint32(len(s.data))
			if seqLT(c.rcvNxt, s.seq) {
				continue
			}
			c.ooo = append(c.ooo[:i], c.ooo[i+1:]...)
			i--
			if seqLE(end, c.rcvNxt) && !(s.fin && end == c.rcvNxt) {
				continue
			}
			c.accept(s.data[c.rcvNxt-s.seq:], s.fin)
			progress = true
		}
	}
	if c.finRcvd {
		c.ooo = nil
	}
}

// accept appends in-order data, as much as the window takes.
func (c *TCPConn) accept(data []byte, fin bool) {
	n := c.rcv.write(data)
	c.rcvNxt += uint32(n)
	if n > 0 {
		wake(&c.rdWake)
	}
	if fin && n == len(data) {
		c.rcvNxt++
		c.finRcvd = true
		wake(&c.rdWake)
		switch c.state {
		case stateEstablished:
			c.state = stateCloseWait
		case stateFinWait1:
			c.state = stateClosing
		case stateFinWait2:
			c.enterTimeWait(time.Now())
		}
	}
}

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

// ring is a byte queue of bounded size, allocated on first use.
type ring struct {
	buf   []byte
	head  int
	n     int
	limit int
}

func (r *ring) write(p []byte) int {
	room := r.limit - r.n
	if room <= 0 || len(p) == 0 {
		return 0
	}
	if len(p) > room {
		p = p[:room]
	}
	if len(r.buf) < r.n+len(p) {
		r.grow(r.limit)
	}
	tail := (r.head + r.n) % len(r.buf)
	k := copy(r.buf[tail:], p)
	copy(r.buf, p[k:])
	r.n += len(p)
	return len(p)
}

func (r *ring) grow(size int) {
	nb := make([]byte, size)
	if r.n > 0 {
		r.peek(0, nb[:r.n])
	}
	r.buf, r.head = nb, 0
}

// peek copies len(p) bytes from offset off without consuming them.
func (r *ring) peek(off int, p []byte) {
	start := (r.head + off) % len(r.buf)
	k := copy(p, r.buf[start:])
	copy(p[k:], r.buf)
}

func (r *ring) read(p []byte) int {
	n := min(len(p), r.n)
	if n == 0 {
		return 0
	}
	r.peek(0, p[:n])
	r.discard(n)
	return n
}

func (r *ring) discard(n int) {
	if n <= 0 {
		return
	}
	r.head = (r.head + n) % len(r.buf)
	r.n -= n
	if r.n == 0 {
		r.head = 0
	}
}
