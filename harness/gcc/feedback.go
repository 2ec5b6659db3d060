package gcc

import (
	"time"

	"github.com/pion/rtcp"
)

// historySize is how many sent packets the history keeps: far more than
// a feedback interval of the fastest stream carries.
const historySize = 1 << 12

// sent is a packet as it left: its transport-wide sequence number
// (extended to 64 bits), when, and how big.
type sent struct {
	seq     int64
	at      time.Time
	size    int
	resend  bool // a retransmission
	cluster int  // the probe cluster it was sent in; 0: none
}

// history is what was sent, by transport-wide sequence number.
type history struct {
	ring    [historySize]sent
	highest int64 // -1: nothing sent
}

func newHistory() *history { return &history{highest: -1} }

// add records a packet sent at t with 16-bit sequence number seq.
func (h *history) add(seq uint16, t time.Time, size int, resend bool, cluster int) {
	ext := int64(seq)
	if h.highest >= 0 {
		ext = unwrap(h.highest, seq)
	}
	h.highest = max(h.highest, ext)
	h.ring[ext%historySize] = sent{seq: ext, at: t, size: size, resend: resend, cluster: cluster}
}

// lookup returns the packet sent with extended sequence number ext.
func (h *history) lookup(ext int64) (sent, bool) {
	if ext < 0 {
		return sent{}, false
	}
	s := h.ring[ext%historySize]
	return s, s.seq == ext && !s.at.IsZero()
}

// unwrap extends seq to the 64-bit sequence number nearest ref.
func unwrap(ref int64, seq uint16) int64 {
	d := int64(int16(seq - uint16(ref)))
	return ref + d
}

// result is one packet a feedback reports on: sent, and arrived at
// arrival (zero: lost).
type result struct {
	sent
	arrival time.Time
}

// parse reads a transport-wide feedback against the history: the packets
// it reports on, in sequence order, each with the time it arrived on the
// receiver's clock (zero if it did not), and whether any were known.
func (h *history) parse(fb *rtcp.TransportLayerCC) []result {
	if h.highest < 0 {
		return nil
	}
	statuses := make([]uint16, 0, fb.PacketStatusCount)
	for _, c := range fb.PacketChunks {
		switch c := c.(type) {
		case *rtcp.RunLengthChunk:
			statuses = appendRun(statuses, c.PacketStatusSymbol, c.RunLength)
		case *rtcp.StatusVectorChunk:
			statuses = appendVector(statuses, c.SymbolSize, c.SymbolList)
		}
	}
	statuses = statuses[:min(len(statuses), int(fb.PacketStatusCount))]
	// The reference time counts 64 ms units (24 bits); only differences
	// between arrivals matter, so it stands on an arbitrary epoch.
	at := time.Unix(0, 0).Add(time.Duration(fb.ReferenceTime) * 64 * time.Millisecond)
	base := unwrap(h.highest, fb.BaseSequenceNumber)
	out := make([]result, 0, len(statuses))
	deltas := fb.RecvDeltas
	for i, st := range statuses {
		r := result{}
		received := st == rtcp.TypeTCCPacketReceivedSmallDelta || st == rtcp.TypeTCCPacketReceivedLargeDelta
		if received {
			if len(deltas) == 0 {
				break
			}
			at = at.Add(time.Duration(deltas[0].Delta) * time.Microsecond)
			deltas = deltas[1:]
			r.arrival = at
		}
		s, ok := h.lookup(base + int64(i))
		if !ok {
			continue // sent before the history, or not by this sender
		}
		r.sent = s
		out = append(out, r)
	}
	return out
}

func appendRun(statuses []uint16, symbol, n uint16) []uint16 {
	for range n {
		statuses = append(statuses, symbol)
	}
	return statuses
}

func appendVector(statuses []uint16, size uint16, symbols []uint16) []uint16 {
	for _, s := range symbols {
		if size == rtcp.TypeTCCSymbolSizeOneBit && s == 1 {
			s = rtcp.TypeTCCPacketReceivedSmallDelta
		}
		statuses = append(statuses, s)
	}
	return statuses
}
