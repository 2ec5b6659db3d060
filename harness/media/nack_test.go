package media

import (
	"encoding/binary"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// sink records what a responder writes to the wire.
type sink struct {
	mu   sync.Mutex
	sent []rtp.Packet
}

func (s *sink) Write(h *rtp.Header, payload []byte, _ interceptor.Attributes) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, rtp.Packet{Header: *h, Payload: append([]byte(nil), payload...)})
	return len(payload), nil
}

// nacks is an RTCP reader that hands the responder one compound packet.
func nacks(t *testing.T, pkts ...rtcp.Packet) interceptor.RTCPReader {
	raw, err := rtcp.Marshal(pkts)
	if err != nil {
		t.Fatal(err)
	}
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		return copy(b, raw), a, nil
	})
}

// TestNACKResponderResends checks the responder against what pion's does:
// a NACKed packet still in the history goes out again, on the RTX stream
// with its original sequence number first when there is one, at most once
// a round trip (plus 5 ms); one that left the history does not; and the
// payload it resends is the one written, not copied.
func TestNACKResponderResends(t *testing.T) {
	for _, rtx := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			i, err := nackResponderFactory{size: 8}.NewInterceptor("")
			if err != nil {
				t.Fatal(err)
			}
			defer i.Close()
			clock := time.Now()
			i.(*nackResponder).now = func() time.Time { return clock }
			info := &interceptor.StreamInfo{SSRC: 1000, RTCPFeedback: []interceptor.RTCPFeedback{{Type: "nack"}}}
			if rtx {
				info.SSRCRetransmission, info.PayloadTypeRetransmission = 2000, 97
			}
			var wire sink
			w := i.BindLocalStream(info, &wire)
			payloads := map[uint16][]byte{}
			for seq := uint16(100); seq < 120; seq++ {
				p := []byte{byte(seq), 1, 2, 3}
				payloads[seq] = p
				if _, err := w.Write(&rtp.Header{Version: 2, SSRC: 1000, PayloadType: 96, SequenceNumber: seq}, p, nil); err != nil {
					t.Fatal(err)
				}
			}
			payloads[115][3] = 42 // the writer's payload, shared, not copied
			nack := &rtcp.TransportLayerNack{MediaSSRC: 1000, Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{105, 115})}
			read := func() {
				r := i.BindRTCPReader(nacks(t, nack))
				if _, _, err := r.Read(make([]byte, 1500), nil); err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
			}
			read()
			read() // within a round trip: not again
			clock = clock.Add(10 * time.Millisecond)
			read() // after it: again
			wire.mu.Lock()
			defer wire.mu.Unlock()
			resent := wire.sent[20:]
			if len(resent) != 2 {
				t.Fatalf("rtx %t: %d packets resent, want 115 twice (105 left the history of 8)", rtx, len(resent))
			}
			for _, p := range resent {
				want := []byte{115, 1, 2, 42}
				ssrc, pt := uint32(1000), uint8(96)
				if rtx {
					want = append(binary.BigEndian.AppendUint16(nil, 115), want...)
					ssrc, pt = 2000, 97
				} else if p.SequenceNumber != 115 {
					t.Errorf("resent as sequence number %d, want 115", p.SequenceNumber)
				}
				if p.SSRC != ssrc || p.PayloadType != pt || string(p.Payload) != string(want) {
					t.Errorf("rtx %t: resent SSRC %d PT %d payload %v, want SSRC %d PT %d payload %v", rtx, p.SSRC, p.PayloadType, p.Payload, ssrc, pt, want)
				}
			}
			if rtx && resent[0].SequenceNumber != resent[1].SequenceNumber {
				t.Errorf("one packet's RTX sequence numbers differ: %d, %d (pion numbers a packet once, when kept)", resent[0].SequenceNumber, resent[1].SequenceNumber)
			}
		})
	}
}
