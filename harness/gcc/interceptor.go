package gcc

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// TransportCCURI names the transport-wide sequence number header extension
// (draft-holmer-rmcat-transport-wide-cc-extensions-01).
const TransportCCURI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"

// InterceptorFactory makes, for each peer connection, an interceptor with
// an estimator of its own, handed to the callback as the connection is
// built. It must sit nearer the wire than the interceptor that stamps the
// transport-wide sequence number (register it first), so that it sees
// every packet stamped, as it leaves.
type InterceptorFactory struct {
	cfg   Config
	onNew func(*Estimator)
}

// NewInterceptorFactory returns a factory of estimators bounded by cfg;
// onNew gets each one.
func NewInterceptorFactory(cfg Config, onNew func(*Estimator)) *InterceptorFactory {
	return &InterceptorFactory{cfg: cfg, onNew: onNew}
}

// NewInterceptor implements interceptor.Factory.
func (f *InterceptorFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	e := NewEstimator(f.cfg)
	if f.onNew != nil {
		f.onNew(e)
	}
	return &ccInterceptor{estimator: e}, nil
}

type ccInterceptor struct {
	interceptor.NoOp
	estimator *Estimator
}

// BindLocalStream records each packet of a stream that carries the
// transport-wide sequence number as it leaves.
func (c *ccInterceptor) BindLocalStream(info *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	var id uint8
	for _, ext := range info.RTPHeaderExtensions {
		if ext.URI == TransportCCURI {
			id = uint8(ext.ID) //nolint:gosec // header extension IDs are 1 to 255
		}
	}
	if id == 0 {
		return writer
	}
	var resends resendLimiter
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		now := time.Now()
		size := h.MarshalSize() + len(payload)
		resend, ok := resends.allow(h.SequenceNumber, size, now, c.estimator)
		if !ok {
			return size, nil // as libwebrtc's sender: not resent, not an error
		}
		n, err := writer.Write(h, payload, a)
		if err == nil {
			if ext := h.GetExtension(id); len(ext) >= 2 {
				c.estimator.sent(binary.BigEndian.Uint16(ext), now, n, resend)
			}
		}
		return n, err
	})
}

// resendWindow is how many of a stream's packets the limiter remembers.
const resendWindow = 1024

// resendLimiter holds back retransmissions as libwebrtc's sender does: a
// packet is resent at most once a round trip (modules/rtp_rtcp
// RtpPacketHistory, GetPacketAndMarkAsPending with the RTT) and not once
// it is older than the history keeps (historyTime), and retransmissions
// take at most the target bitrate (RTPSender's
// retransmission_rate_limiter, over a second). Without it, a NACK
// generator that asks every 100 ms for what a slow path has not yet
// delivered (pion's does) makes every lost packet go out again and again
// into the queue that lost it. One per stream; the stream's writes are
// serialised by whoever writes, the limiter by its own lock.
type resendLimiter struct {
	mu   sync.Mutex
	sent [resendWindow]struct {
		seq         uint16
		first, last time.Time
	}
	tokens float64 // bytes of retransmission allowed now
	filled time.Time
}

// allow says whether a packet with RTP sequence number seq may go now,
// and whether it is a retransmission.
func (l *resendLimiter) allow(seq uint16, size int, now time.Time, e *Estimator) (resend, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	slot := &l.sent[seq%resendWindow]
	if slot.first.IsZero() || slot.seq != seq {
		slot.seq, slot.first, slot.last = seq, now, now // a first send
		return false, true
	}
	st := e.Stats()
	if now.Sub(slot.last) < st.RTT || now.Sub(slot.first) > max(historyTime, historyRTTs*st.RTT) {
		return true, false
	}
	rate := float64(st.Target) / 8 // bytes a second
	if l.filled.IsZero() {
		l.tokens = rate
	} else {
		l.tokens = min(rate, l.tokens+now.Sub(l.filled).Seconds()*rate)
	}
	l.filled = now
	if l.tokens < float64(size) {
		return true, false
	}
	l.tokens -= float64(size)
	slot.last = now
	return true, true
}

// A packet too old to help is not resent: libwebrtc's packet history keeps
// what was sent in the last max(1 s, 3 round trips)
// (modules/rtp_rtcp/source/rtp_packet_history.h kMinPacketDurationMs,
// kMinPacketDurationRtt). pion's NACK generator asks for a missing packet
// every 100 ms for as long as it is in its receive log (512 packets), and
// pion's responder answers from 1024 packets back: after a burst of loss
// on a squeezed link they would go on repairing packets long past playing.
const (
	historyTime = time.Second
	historyRTTs = 3
)

// BindRTCPReader hands every transport-wide feedback read to the
// estimator, in the reading goroutine.
func (c *ccInterceptor) BindRTCPReader(reader interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, attr, err := reader.Read(b, a)
		if err != nil {
			return n, attr, err
		}
		if attr == nil {
			attr = interceptor.Attributes{}
		}
		pkts, err := attr.GetRTCPPackets(b[:n])
		if err != nil {
			return n, attr, nil // not ours to refuse
		}
		now := time.Now()
		for _, p := range pkts {
			if fb, ok := p.(*rtcp.TransportLayerCC); ok {
				c.estimator.feedback(fb, now)
			}
		}
		return n, attr, nil
	})
}
