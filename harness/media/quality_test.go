package media

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// TestReportRTT computes a round trip from a receiver report as RFC 3550
// 6.4.1 does: arrival, less the last sender report's time and the delay,
// and names the stream it reports on.
func TestReportRTT(t *testing.T) {
	sent := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	now := sent.Add(250 * time.Millisecond)
	rr := &rtcp.ReceiverReport{Reports: []rtcp.ReceptionReport{
		{SSRC: 42, LastSenderReport: ntpMiddle(sent), Delay: 6554}, // held 100 ms
		{SSRC: 43, LastSenderReport: 0},                            // no sender report yet: no measurement
	}}
	var got []time.Duration
	ReportRTT([]rtcp.Packet{rr}, now, func(ssrc uint32, d time.Duration) {
		if ssrc != 42 {
			t.Errorf("measured on SSRC %d, want 42", ssrc)
		}
		got = append(got, d)
	})
	if len(got) != 1 || got[0] < 149*time.Millisecond || got[0] > 151*time.Millisecond {
		t.Errorf("round trips %v, want one of 150 ms", got)
	}
}
