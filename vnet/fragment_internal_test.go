package vnet

import (
	"net/netip"
	"testing"
)

// TestFragmentSizes checks that fragments fit the MTU with their IP
// header: IPv4's 20 bytes, IPv6's 40 and a Fragment header's 8, carry
// multiples of 8 bytes but the last, and add up to the datagram.
func TestFragmentSizes(t *testing.T) {
	n, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	for _, tc := range []struct {
		src, dst string
		header   int
	}{
		{"198.51.100.1:1000", "203.0.113.2:2000", 20},
		{"[2001:db8::1]:1000", "[2001:db8::2]:2000", 48},
	} {
		pkt := newPacket(UDP, netip.MustParseAddrPort(tc.src), netip.MustParseAddrPort(tc.dst), make([]byte, 3000))
		frags := fragmentPacket(n, pkt, 1280)
		pkt.release()
		total := 0
		for i, f := range frags {
			data := f.frag.dataLen(f)
			if f.size() > 1280 || f.size() != tc.header+data {
				t.Errorf("%s: fragment %d is %d bytes with %d of data", tc.dst, i, f.size(), data)
			}
			if f.frag.off != total || (f.frag.more && data%8 != 0) || f.frag.more != (i < len(frags)-1) {
				t.Errorf("%s: fragment %d: offset %d, more %v, %d bytes of data", tc.dst, i, f.frag.off, f.frag.more, data)
			}
			total += data
			f.release()
		}
		if total != 3000+udpHeader {
			t.Errorf("%s: fragments carry %d bytes, want %d", tc.dst, total, 3000+udpHeader)
		}
	}
}
