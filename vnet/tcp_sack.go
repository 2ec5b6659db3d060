package vnet

// Selective acknowledgement: the receiver tells the sender which blocks of
// data above the cumulative acknowledgement it holds (RFC 2018), and the
// sender, in loss recovery, resends the holes those blocks leave and keeps
// as much in flight as its congestion window allows (RFC 6675's
// conservative loss recovery, simplified: NextSeg's first two rules, no
// rescue retransmission). Linux negotiates SACK by default
// (net.ipv4.tcp_sack = 1), so every vnet connection does; without it, one
// loss per window is repaired by fast retransmit and more by the timer.

// SACKBlock is a block of received data: sequence numbers from Left up to,
// not including, Right.
type SACKBlock struct {
	Left, Right uint32
}

// maxSACKBlocks is how many blocks an acknowledgement carries: three fit
// beside the timestamp option Linux sends (RFC 2018 section 3).
const maxSACKBlocks = 3

// dupThresh is RFC 6675's DupThresh: three segments' worth of data above a
// hole mark it lost.
const dupThresh = 3

// insertOOO keeps c.ooo sorted by sequence number and remembers the
// segment's place as the most recent arrival. Called with c.mu held.
func (c *TCPConn) insertOOO(s oooSegment) {
	i := len(c.ooo)
	for i > 0 && seqLT(s.seq, c.ooo[i-1].seq) {
		i--
	}
	c.ooo = append(c.ooo, oooSegment{})
	copy(c.ooo[i+1:], c.ooo[i:])
	c.ooo[i] = s
	c.lastOOO = s.seq
}

// sackBlocks fills the SACK blocks of an acknowledgement from the
// out-of-order queue: first the block holding the most recently arrived
// segment, then the others from the highest down (RFC 2018 section 4).
// Called with c.mu held.
func (c *TCPConn) sackBlocks(seg *Segment) {
	if !c.sackOK || len(c.ooo) == 0 {
		return
	}
	n := 0
	add := func(b SACKBlock) {
		for i := 0; i < n; i++ {
			if seg.SACK[i] == b {
				return
			}
		}
		if n < maxSACKBlocks {
			seg.SACK[n] = b
			n++
		}
	}
	// Blocks are the queue's runs of contiguous or overlapping segments,
	// merged from the lowest up; the highest few are kept.
	var recent SACKBlock
	var high [maxSACKBlocks]SACKBlock // a ring of the latest blocks
	found := 0
	closeBlock := func(b SACKBlock, hasRecent bool) {
		switch {
		case !seqLT(c.rcvNxt, b.Right) || b.Left == b.Right:
		case hasRecent:
			recent = b
		default:
			high[found%maxSACKBlocks] = b
			found++
		}
	}
	b := SACKBlock{c.ooo[0].seq, c.ooo[0].seq + uint32(len(c.ooo[0].data))}
	hasRecent := c.ooo[0].seq == c.lastOOO
	for _, s := range c.ooo[1:] {
		end := s.seq + uint32(len(s.data))
		if seqLE(s.seq, b.Right) {
			if seqLT(b.Right, end) {
				b.Right = end
			}
			hasRecent = hasRecent || s.seq == c.lastOOO
			continue
		}
		closeBlock(b, hasRecent)
		b, hasRecent = SACKBlock{s.seq, end}, s.seq == c.lastOOO
	}
	closeBlock(b, hasRecent)
	var others [maxSACKBlocks]SACKBlock
	k := 0
	for i := found - 1; i >= 0 && i >= found-maxSACKBlocks; i-- {
		others[k] = high[i%maxSACKBlocks]
		k++
	}
	if recent != (SACKBlock{}) {
		add(recent)
	}
	for _, b := range others[:k] {
		add(b)
	}
}

// noteSACK merges an acknowledgement's SACK blocks into the scoreboard.
// Called with c.mu held.
func (c *TCPConn) noteSACK(seg Segment) {
	if !c.sackOK {
		return
	}
	for _, b := range seg.SACK {
		if b == (SACKBlock{}) || !seqLT(b.Left, b.Right) || !seqLT(c.sndUna, b.Right) || seqLT(c.sndMax, b.Right) {
			continue // empty, or not about what is outstanding
		}
		if seqLT(b.Left, c.sndUna) {
			b.Left = c.sndUna
		}
		c.sacked = mergeBlock(c.sacked, b)
	}
}

// mergeBlock adds b to a sorted list of disjoint blocks.
func mergeBlock(list []SACKBlock, b SACKBlock) []SACKBlock {
	out := list[:0:0]
	placed := false
	for _, x := range list {
		switch {
		case seqLT(x.Right, b.Left):
			out = append(out, x)
		case seqLT(b.Right, x.Left):
			if !placed {
				out = append(out, b)
				placed = true
			}
			out = append(out, x)
		default: // overlapping or touching: widen b
			if seqLT(x.Left, b.Left) {
				b.Left = x.Left
			}
			if seqLT(b.Right, x.Right) {
				b.Right = x.Right
			}
		}
	}
	if !placed {
		out = append(out, b)
	}
	return out
}

// pruneSACK drops what the cumulative acknowledgement now covers. Called
// with c.mu held.
func (c *TCPConn) pruneSACK() {
	i := 0
	for _, b := range c.sacked {
		if !seqLT(c.sndUna, b.Right) {
			continue
		}
		if seqLT(b.Left, c.sndUna) {
			b.Left = c.sndUna
		}
		c.sacked[i] = b
		i++
	}
	c.sacked = c.sacked[:i]
}

// sackedBytes returns how much the scoreboard holds.
func (c *TCPConn) sackedBytes() int {
	n := 0
	for _, b := range c.sacked {
		n += int(b.Right - b.Left)
	}
	return n
}

// hole is a gap in the scoreboard: data not known to have arrived.
type hole struct {
	left, right uint32
	lost        bool // RFC 6675 IsLost: more than (DupThresh-1)·MSS SACKed above
}

// holes calls fn for the scoreboard's holes from sndUna to sndMax in
// order, until fn returns false.
func (c *TCPConn) holes(fn func(hole) bool) {
	above := c.sackedBytes()
	left := c.sndUna
	lostAbove := (dupThresh - 1) * c.cfg.MSS
	for _, b := range c.sacked {
		if seqLT(left, b.Left) && !fn(hole{left, b.Left, above > lostAbove}) {
			return
		}
		above -= int(b.Right - b.Left)
		left = b.Right
	}
	if seqLT(left, c.sndMax) {
		fn(hole{left, c.sndMax, false})
	}
}

// pipe estimates the data in flight (RFC 6675 SetPipe): what is neither
// SACKed nor lost, plus what was resent.
func (c *TCPConn) pipe() int {
	n := 0
	c.holes(func(h hole) bool {
		if !h.lost {
			n += int(h.right - h.left)
		}
		if seqLT(h.left, c.highRxt) {
			end := h.right
			if seqLT(c.highRxt, end) {
				end = c.highRxt
			}
			n += int(end - h.left)
		}
		return true
	})
	return n
}

// nextHole returns the next lost data to resend: the first lost hole's
// part above highRxt, at most one segment (RFC 6675 NextSeg rule 1).
func (c *TCPConn) nextHole() (seq uint32, n int, ok bool) {
	c.holes(func(h hole) bool {
		if !h.lost {
			return false
		}
		start := h.left
		if seqLT(start, c.highRxt) {
			start = c.highRxt
		}
		if seqLT(start, h.right) {
			seq, n, ok = start, min(int(h.right-start), c.cfg.MSS), true
			return false
		}
		return true
	})
	return seq, n, ok
}

// enterRecovery starts SACK loss recovery: the window halves, the head is
// resent, and recovery lasts until everything sent so far is acknowledged
// (RFC 6675 section 5). Called with c.mu held.
func (c *TCPConn) enterRecovery() {
	flight := int(c.sndMax - c.sndUna)
	c.ssthresh = max(flight/2, 2*c.cfg.MSS)
	c.cwnd = c.ssthresh
	c.recover, c.inRecovery = c.sndMax, true
	c.highRxt = c.sndUna
	c.rtxHead = true
}

// collectRecovery appends the segments loss recovery sends now: holes
// first, then new data, while the pipe leaves room in the window. Called
// with c.mu held.
func (c *TCPConn) collectRecovery(out []*packet) []*packet {
	pipe := c.pipe()
	for len(out) < tcpMaxBurst && c.cwnd-pipe >= c.cfg.MSS {
		if seq, n, ok := c.nextHole(); ok {
			out = append(out, c.segment(FlagACK, seq, n, int(seq-c.sndUna)))
			c.highRxt = seq + uint32(n)
			pipe += n
			continue
		}
		flight := int(c.sndNxt - c.sndUna)
		n := min(c.snd.n-flight, int(c.sndWnd)-flight, c.cfg.MSS)
		if n <= 0 {
			break
		}
		out = append(out, c.segment(FlagACK, c.sndNxt, n, flight))
		c.advance(uint32(n))
		pipe += n
	}
	return out
}
