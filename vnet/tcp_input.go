package vnet

import (
	"syscall"
	"time"
)

// The receive side of a TCPConn: segments in by state (RFC 9293 section
// 3.10.7), acknowledgements, in-order and out-of-order data, TIME-WAIT.

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
	c.sackOK = seg.SACKPermitted
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
		c.pruneSACK()
		c.noteSACK(seg)
		switch {
		case c.inRecovery && seqLT(ack, c.recover):
			// A partial acknowledgement: recovery goes on, the
			// scoreboard says what to resend.
		case c.inRecovery:
			c.inRecovery = false // all that was outstanding arrived
			c.cwnd = c.ssthresh
		case c.cwnd < c.ssthresh:
			c.cwnd += min(acked, c.cfg.MSS)
		default:
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
		c.noteSACK(seg)
		if c.sndMax != c.sndUna && !carries && seg.Window == c.sndWnd {
			c.dupAcks++
			switch {
			case c.sackOK && !c.inRecovery && seqLT(c.recover, ack) &&
				(c.dupAcks >= dupThresh || c.sackedBytes() > (dupThresh-1)*c.cfg.MSS):
				c.enterRecovery()
			case !c.sackOK && c.dupAcks == dupThresh:
				// Without SACK: fast retransmit of the head (RFC 5681).
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
			c.insertOOO(oooSegment{seq: seq, data: append([]byte(nil), data...), fin: fin})
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
