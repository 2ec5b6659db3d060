package media

import (
	"reflect"
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// The attributes a stream's reads hand up carry the packet's header, parsed
// as pion's GetRTPHeader parses it, in one header per stream, and nothing
// an interceptor put there for an earlier packet.
func TestAttributesCarryTheParsedHeader(t *testing.T) {
	if rtpHeaderKey == nil {
		t.Fatal("pion's RTP header key was not found")
	}
	withExt := rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, PayloadType: 96, SequenceNumber: 7,
		Timestamp: 90, SSRC: 42, CSRC: []uint32{1, 2}}, Payload: []byte{1, 2, 3}}
	if err := withExt.SetExtension(3, []byte{9, 8}); err != nil {
		t.Fatal(err)
	}
	plainPkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: 8, Timestamp: 960, SSRC: 42},
		Payload: []byte{4}}
	var wire [][]byte
	again := plainPkt
	again.SequenceNumber, again.Marker = 9, true
	for _, p := range []rtp.Packet{withExt, plainPkt, again} {
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		wire = append(wire, b)
	}
	wire = append(wire, []byte{0x80, 0}) // too short to parse
	next := 0
	reader := interceptor.RTPReaderFunc(func(b []byte, _ interceptor.Attributes) (int, interceptor.Attributes, error) {
		n := copy(b, wire[next])
		next++
		return n, nil, nil
	})
	r := (&attributesInterceptor{}).BindRemoteStream(&interceptor.StreamInfo{MimeType: "video/VP8"}, reader)
	var first *rtp.Header
	for i := range wire {
		buf := make([]byte, 1500)
		n, attr, err := r.Read(buf, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := attr["an interceptor's"]; ok {
			t.Fatalf("packet %d: an entry put for packet 0 is still there", i)
		}
		if i == 0 {
			attr["an interceptor's"] = true
		}
		if i == len(wire)-1 {
			if _, err := attr.GetRTPHeader(buf[:n]); err == nil {
				t.Fatal("a packet too short for a header parsed")
			}
			continue
		}
		got, err := attr.GetRTPHeader(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		var want rtp.Header
		if _, err := want.Unmarshal(buf[:n]); err != nil {
			t.Fatal(err)
		}
		if len(want.CSRC) == 0 {
			want.CSRC = got.CSRC[:0] // the stream's header keeps its arrays
		}
		if len(want.Extensions) == 0 {
			want.Extensions = got.Extensions[:0]
		}
		if !reflect.DeepEqual(*got, want) {
			t.Fatalf("packet %d: header %+v, want %+v", i, *got, want)
		}
		if first == nil {
			first = got
		} else if got != first {
			t.Fatal("a header per packet, not per stream")
		}
	}
}
