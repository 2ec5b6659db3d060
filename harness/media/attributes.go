package media

import (
	"strings"

	"github.com/pion/interceptor"
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
// the map (the parsed header) is theirs for the packet only.
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
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, got, err := reader.Read(b, a)
		if got == nil && err == nil {
			clear(attrs)
			got = attrs
		}
		return n, got, err
	})
}
