package media

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
)

// TestUnpadded takes an RTP payload's padding off (RFC 3550 §5.1): the
// padding's last octet counts the octets to drop, itself included. A
// padding-only packet leaves an empty payload, which a stream counts as
// padding; malformed padding is not ok, and the packet is dropped.
func TestUnpadded(t *testing.T) {
	for _, tc := range []struct {
		name    string
		padding bool
		payload []byte
		want    []byte
		ok      bool
	}{
		{"no padding", false, []byte{0x10, 0x00, 0x01}, []byte{0x10, 0x00, 0x01}, true},
		{"no padding, empty (a keep-alive)", false, []byte{}, []byte{}, true},
		{"media and padding", true, []byte{0x10, 0x00, 0, 0, 3}, []byte{0x10, 0x00}, true},
		{"padding only", true, []byte{0, 0, 0, 4}, []byte{}, true},
		{"padding only, one octet", true, []byte{1}, []byte{}, true},
		{"longer than the payload", true, []byte{0, 0, 9}, nil, false},
		{"of length zero", true, []byte{0x10, 0}, nil, false},
		{"no octet for its length", true, []byte{}, nil, false},
	} {
		got, ok := unpadded(&rtp.Header{Padding: tc.padding}, tc.payload)
		if ok != tc.ok || !bytes.Equal(got, tc.want) || (ok && got == nil) {
			t.Errorf("%s: %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzUnpadded: whatever a packet's last octet says, taking its padding
// off neither panics nor reaches outside the payload, and a video stream
// takes what comes of it (media, padding-only, or nothing) without
// panicking.
func FuzzUnpadded(f *testing.F) {
	f.Add(true, uint16(1), []byte{0, 0, 255})
	f.Add(true, uint16(2), []byte{0x10, 0x00, 0x9d, 1})
	f.Add(true, uint16(3), []byte{4, 4, 4, 4})
	f.Add(false, uint16(4), []byte{})
	f.Add(true, uint16(5), []byte{})
	f.Fuzz(func(t *testing.T, padding bool, seq uint16, payload []byte) {
		_, s, clock := videoStream()
		h := rtp.Header{Padding: padding, SequenceNumber: seq, Timestamp: 3000, Marker: true}
		got, ok := unpadded(&h, payload)
		if !ok {
			return
		}
		if len(got) > len(payload) || (len(got) > 0 && &got[0] != &payload[0]) {
			t.Fatalf("unpadded %v of %v: not a prefix of the payload", got, payload)
		}
		clock.now++
		s.Received(&h, got, 12+len(payload))
		h.SequenceNumber++
		s.Received(&h, got, 12+len(payload))
	})
}
