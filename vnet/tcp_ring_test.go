package vnet

import (
	"bytes"
	"testing"
)

// TestRingGrowsAndLetsGo checks a TCP buffer's memory: it starts small,
// doubles up to what it holds, keeps a small buffer when it drains, and
// lets a large one go, without losing or reordering a byte.
func TestRingGrowsAndLetsGo(t *testing.T) {
	r := ring{limit: 256 << 10}
	small := bytes.Repeat([]byte("abc"), 100)
	if n := r.write(small); n != len(small) || len(r.buf) != minRing {
		t.Fatalf("a 300-byte write took %d bytes into a buffer of %d, want all in %d", n, len(r.buf), minRing)
	}
	got := make([]byte, len(small))
	if r.read(got); !bytes.Equal(got, small) || len(r.buf) != minRing {
		t.Fatalf("after draining 300 bytes: buffer of %d, want %d kept", len(r.buf), minRing)
	}
	burst := make([]byte, 100<<10)
	for i := range burst {
		burst[i] = byte(i * 7)
	}
	for off := 0; off < len(burst); off += 10 << 10 { // an offer written in pieces
		r.write(burst[off : off+10<<10])
	}
	if held := len(burst); len(r.buf) < held || len(r.buf) > 2*held {
		t.Errorf("%d bytes held in a buffer of %d, want at most twice that (grown by doubling)", held, len(r.buf))
	}
	got = make([]byte, len(burst))
	if n := r.read(got); n != len(burst) || !bytes.Equal(got, burst) {
		t.Fatalf("read %d bytes of the burst, or not in order", n)
	}
	if r.buf != nil {
		t.Errorf("a drained buffer of %d kept, want it let go (over %d)", len(r.buf), keptRing)
	}
	if n := r.write(bytes.Repeat([]byte{1}, 300<<10)); n != 256<<10 || len(r.buf) != 256<<10 {
		t.Errorf("a write over the limit took %d bytes into %d, want the limit, %d", n, len(r.buf), 256<<10)
	}
}
