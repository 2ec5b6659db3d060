package media

import "math/bits"

// bitset is a growable set of packet indexes.
type bitset []uint64

func (b bitset) has(i int) bool {
	w := i >> 6
	return w < len(b) && b[w]&(1<<(uint(i)&63)) != 0
}

func (b *bitset) set(i int) {
	w := i >> 6
	for len(*b) <= w {
		*b = append(*b, 0)
	}
	(*b)[w] |= 1 << (uint(i) & 63)
}

func (b bitset) clear(i int) {
	if w := i >> 6; w < len(b) {
		b[w] &^= 1 << (uint(i) & 63)
	}
}

// missing counts the indexes in [from, to) that are in sent but not in
// received.
func missing(sent, received bitset, from, to int) uint64 {
	var n uint64
	for i := from; i < to; {
		w := i >> 6
		if w >= len(sent) {
			break
		}
		word := sent[w]
		if w < len(received) {
			word &^= received[w]
		}
		lo := uint(i) & 63
		hi := uint(64)
		if end := (w + 1) << 6; end > to {
			hi = uint(to - w<<6)
		}
		mask := ^uint64(0) << lo
		if hi < 64 {
			mask &= (1 << hi) - 1
		}
		n += uint64(bits.OnesCount64(word & mask))
		i = (w + 1) << 6
	}
	return n
}
