package harness

import (
	"testing"
	"time"

	"github.com/icelab/icelab/vnet"
)

// TestCaptureSelects feeds 100 packets, one every 100 ms, each seen at two
// places, with a fault at 5 s, and checks which packets each selection
// keeps, every event of a kept packet included.
func TestCaptureSelects(t *testing.T) {
	start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	feed := func(sel Capture) map[uint64]int {
		c := newCapturer(sel, func(at time.Time) time.Duration { return at.Sub(start) })
		for i := range 100 {
			at := start.Add(time.Duration(i) * 100 * time.Millisecond)
			if i == 50 {
				c.fault(5 * time.Second)
			}
			for _, where := range []string{"alice-eth0", "media-eth0"} {
				c.event(vnet.Event{Packet: uint64(i + 1), Time: at, Where: where, Payload: []byte{byte(i)}})
			}
		}
		got := map[uint64]int{}
		for _, e := range c.result() {
			got[e.Packet]++
		}
		return got
	}
	check := func(name string, got map[uint64]int, want func(n uint64) bool) {
		t.Helper()
		for n := uint64(1); n <= 100; n++ {
			if kept := got[n] > 0; kept != want(n) {
				t.Errorf("%s: packet %d kept %t, want %t", name, n, kept, want(n))
			}
			if got[n] != 0 && got[n] != 2 {
				t.Errorf("%s: packet %d has %d events, want both", name, n, got[n])
			}
		}
	}
	check("first 10", feed(Capture{First: 10}), func(n uint64) bool { return n <= 10 })
	check("last 10", feed(Capture{Last: 10}), func(n uint64) bool { return n > 90 })
	check("window 2s-3s", feed(Capture{From: 2 * time.Second, To: 3 * time.Second}), func(n uint64) bool { return n >= 21 && n <= 31 })
	// Packets are seen at (n-1)*100 ms; the fault is at 5 s.
	check("around faults 1s", feed(Capture{AroundFaults: time.Second}), func(n uint64) bool { return n >= 41 && n <= 61 })
	check("first 5 and last 5", feed(Capture{First: 5, Last: 5}), func(n uint64) bool { return n <= 5 || n > 95 })
	if got := feed(Capture{}); len(got) != 0 {
		t.Errorf("the zero Capture kept %d packets", len(got))
	}
}
