package vnet

import (
	"testing"
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
