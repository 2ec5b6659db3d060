package vnet

// The byte queues behind a TCPConn's send and receive buffers.

// ring is a byte queue of bounded size, allocated on first use and grown
// by doubling up to its limit, and released when it drains from more than
// keptRing: most connections (signalling, a TURN/TLS allocation's) hold a
// few kilobytes at a time, and a room holds thousands of buffers.
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
		r.grow(min(r.limit, max(minRing, 2*len(r.buf), r.n+len(p))))
	}
	tail := (r.head + r.n) % len(r.buf)
	k := copy(r.buf[tail:], p)
	copy(r.buf, p[k:])
	r.n += len(p)
	return len(p)
}

// minRing is the size a ring starts at; an empty ring keeps its buffer up
// to keptRing, so that a steady stream (TURN/TLS media) does not allocate
// one per burst, and lets a larger one go.
const (
	minRing  = 4 << 10
	keptRing = 16 << 10
)

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
		if len(r.buf) > keptRing {
			r.buf = nil // a burst (an offer of many m-lines) has drained
		}
	}
}
