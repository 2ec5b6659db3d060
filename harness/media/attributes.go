package media

import (
	"strings"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// attributesFactory makes the innermost interceptor of a receive chain:
// each stream's reads hand the interceptors above one attributes map of
// that stream's, emptied before every packet, where pion's reader hands
// them none. pion's interceptors that read a packet's header (NACK
// generator, receiver reports, transport-wide feedback) each make a map
// when they get none, and the first header parsed into it grows it: two
// allocations and some 300 bytes per packet received, a fifth of the
// harness's allocations, whose collection is CPU too. What they put in
// the map (the parsed header) is theirs for the packet only. The header
// itself is parsed here, into one header per stream, and put under the
// key GetRTPHeader reads: pion's GetRTPHeader allocates a header per
// packet (the node's and the clients' receive paths each parse every
// packet: a sixth of the allocations per packet left).
//
// A track's reader gets the map back from pion (TrackRemote.ReadRTP): it
// must not keep it past its next read. The harness's readers drop it. A
// retransmission stream (RTX) is left alone: pion reads it on a goroutine
// of its own and queues each packet with its attributes until the track's
// reader takes it.
type attributesFactory struct{}

// NewInterceptor implements interceptor.Factory.
func (attributesFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &attributesInterceptor{}, nil
}

type attributesInterceptor struct{ interceptor.NoOp }

// BindRemoteStream implements interceptor.Interceptor.
func (*attributesInterceptor) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	if strings.EqualFold(info.MimeType, webrtc.MimeTypeRTX) {
		return reader
	}
	attrs := interceptor.Attributes{}
	header := new(rtp.Header)
	onlyHeader := false // attrs holds header alone, as this reader left it
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, got, err := reader.Read(b, a)
		if got == nil && err == nil {
			got = attrs
			// The header the interceptors above would each ask for
			// (Attributes.GetRTPHeader), parsed into the stream's one
			// header instead of a new one per packet. Reset first, so
			// that it reads as a fresh header would; one that does not
			// parse is left to them, to fail as they would.
			*header = rtp.Header{CSRC: header.CSRC[:0], Extensions: header.Extensions[:0]}
			parsed := rtpHeaderKey != nil
			if _, perr := header.Unmarshal(b[:n]); perr != nil {
				parsed = false
			}
			// The map is emptied of what the interceptors above put in
			// it for the last packet. pion's only read the header back,
			// so it mostly holds just that, the same entry this packet
			// needs: then it is left as it is (clearing it for every
			// packet was 1.2% of a 64-client room's CPU).
			if !parsed || !onlyHeader || len(attrs) != 1 {
				clear(attrs)
				onlyHeader = false
				if parsed {
					attrs[rtpHeaderKey] = header
					onlyHeader = true
				}
			}
		}
		return n, got, err
	})
}

// rtpHeaderKey is the key under which pion's Attributes.GetRTPHeader keeps
// a packet's parsed header (a constant of an unexported type in pion's
// interceptor package), found by asking it once; nil if it could not be.
var rtpHeaderKey = func() any {
	a := interceptor.Attributes{}
	if _, err := a.GetRTPHeader([]byte{0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}); err != nil || len(a) != 1 {
		return nil
	}
	for k, v := range a {
		if _, ok := v.(*rtp.Header); ok {
			return k
		}
	}
	return nil
}()
