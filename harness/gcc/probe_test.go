package gcc

import (
	"testing"
	"time"
)

// probeCall is call with the sender also sending the probe clusters the
// estimator asks for (padding of 236 bytes at the cluster's rate, at least
// ProbePackets of them over ProbeDuration), and returns the estimate at 1
// and 2 s.
func probeCall(e *Estimator, l *link) []int {
	start := time.Unix(1_000_000, 0)
	now := start
	var seq, reported int64
	var out []int
	next := now
	var cluster []time.Time // the probe packets' send times still to go
	for now.Sub(start) < 2*time.Second {
		if len(cluster) == 0 {
			if rate, ok := e.NextProbe(); ok {
				n := max(ProbePackets, int(float64(rate)/8*ProbeDuration.Seconds()/236)+1)
				gap := time.Duration(236 * 8 / float64(rate) * float64(time.Second))
				for i := range n {
					cluster = append(cluster, now.Add(time.Duration(i)*gap))
				}
			}
		}
		for len(cluster) > 0 && !cluster[0].After(now) {
			e.sent(uint16(seq), now, 236, false)
			l.send(seq, now, 236)
			seq++
			if cluster = cluster[1:]; len(cluster) == 0 {
				e.EndProbe()
			}
		}
		if !now.Before(next) {
			e.sent(uint16(seq), now, 1200, false)
			l.send(seq, now, 1200)
			seq++
			next = now.Add(time.Duration(1200 * 8 / float64(e.GetTargetBitrate()) * float64(time.Second)))
		}
		if now.Sub(start)%(50*time.Millisecond) == 0 {
			reported = l.report(e, reported, seq, now)
		}
		if d := now.Sub(start); d == time.Second || d == 2*time.Second-time.Millisecond {
			out = append(out, e.GetTargetBitrate())
		}
		now = now.Add(time.Millisecond)
	}
	return out
}

// On a wide link the start's probes take the estimate from 300 kbit/s to
// the sender's top within a second, where climbing 8% a second would take
// twenty; on a 1 Mbit/s bottleneck they find it and stop under it.
func TestProbesFindTheCapacity(t *testing.T) {
	wide := &link{rate: 20_000_000, limit: 100_000, delay: 20 * time.Millisecond, arrived: map[int64]time.Time{}}
	got := probeCall(NewEstimator(Config{Start: 300_000, Min: 30_000, Max: 2_500_000}), wide)
	t.Logf("wide: %v", got)
	if got[0] < 2_000_000 {
		t.Errorf("on a 20 Mbit/s link: %v at 1 and 2 s, want 2 Mbit/s or more at 1 s", got)
	}
	narrow := &link{rate: 1_000_000, limit: 30_000, delay: 20 * time.Millisecond, arrived: map[int64]time.Time{}}
	got = probeCall(NewEstimator(Config{Start: 300_000, Min: 30_000, Max: 2_500_000}), narrow)
	t.Logf("narrow: %v", got)
	if got[0] < 700_000 || got[0] > 1_050_000 {
		t.Errorf("on a 1 Mbit/s link: %v at 1 and 2 s, want 0.7 to 1.05 Mbit/s at 1 s", got)
	}
}
