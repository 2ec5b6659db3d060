package vnet

import (
	"testing"
	"testing/synctest"
	"time"
	"unsafe"
)

// A link's directions each start a cache line, and hold in their first
// what a packet reads of the link, with their lock (see Link and linkDir).
func TestLinkLayout(t *testing.T) {
	var l Link
	if off := unsafe.Offsetof(l.dirs); off != cacheLine {
		t.Errorf("directions at %d, want %d", off, cacheLine)
	}
	if size := unsafe.Sizeof(l.dirs[0]); size%cacheLine != 0 {
		t.Errorf("a direction is %d bytes, not whole cache lines", size)
	}
	var ld linkDir
	if end := unsafe.Offsetof(ld.mu) + unsafe.Sizeof(ld.mu); end > cacheLine {
		t.Errorf("a direction's lock ends at %d, past its first cache line", end)
	}
}

// The network's clock reads the same on a synctest bubble's fake clock,
// whose times carry no monotonic reading, as time.Since would.
func TestNetworkClockInABubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, err := New(Config{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		if n.wallEpoch == 0 {
			t.Fatal("a bubble's clock was taken for one with a monotonic reading")
		}
		time.Sleep(1500 * time.Millisecond)
		if got, want := n.now(), time.Since(n.epoch); got != want || got != 1500*time.Millisecond {
			t.Errorf("now %v, time.Since %v, want 1.5 s both", got, want)
		}
	})
	n, err := New(Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if n.wallEpoch != 0 {
		t.Error("the machine's clock, which has a monotonic reading, was read by its wall time")
	}
}
