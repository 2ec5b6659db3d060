package vnet

import (
	"syscall"
	"time"
)

// The send side of a TCPConn: segments from the send queue within the
// peer's window and the congestion window, and the RFC 6298
// retransmission timer with its RTT estimate.

// segment builds a segment with the connection's addresses.
func (c *TCPConn) segment(flags TCPFlags, seq uint32, n int, off int) *packet {
	pkt := packetPool.Get().(*packet)
	pkt.proto, pkt.src, pkt.dst = TCP, c.laddr, c.raddr
	if n > 0 {
		c.snd.peek(off, pkt.alloc(n))
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
		pkt.seg.SACKPermitted = true
	} else if flags&FlagACK != 0 {
		c.sackBlocks(&pkt.seg)
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
		if c.inRecovery {
			c.highRxt = c.sndUna + uint32(n)
		}
	}
	if c.inRecovery {
		out = c.collectRecovery(out)
	}
	wnd := min(int(c.sndWnd), c.cwnd)
	for len(out) < tcpMaxBurst && !c.inRecovery {
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
	c.timeouts++
	// The scoreboard is forgotten, as the receiver may have dropped what
	// it held (RFC 2018 section 8), and duplicates of what was sent before
	// the timeout start no recovery (RFC 6582 section 3.2 step 4).
	c.sacked = c.sacked[:0]
	c.recover, c.inRecovery = c.sndMax, false
	// Go back N: send everything again from the oldest unacknowledged
	// byte; acknowledgements of what arrived after all skip ahead.
	c.sndNxt = c.sndUna
	c.mu.Unlock()
	c.output()
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
