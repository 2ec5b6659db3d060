package matchers

import (
	"fmt"
	"strings"
	"time"

	"github.com/icelab/icelab/harness"
)

// qualityMatcher judges every RTP flow to and from a client (each measured
// where it was received) with judge, which returns what is wrong with one
// flow's quality, or "".
func qualityMatcher(expect string, judge func(q *harness.Quality) string) *ClientMatcher {
	return &ClientMatcher{expect: expect, check: func(c *harness.ClientResult) (bool, string) {
		var bad, all []string
		for _, m := range c.Media {
			if m.Quality == nil {
				continue
			}
			where := m.Track + " " + m.Direction
			all = append(all, where)
			if why := judge(m.Quality); why != "" {
				bad = append(bad, where+": "+why)
			}
		}
		switch {
		case len(all) == 0:
			return false, "no RTP flow was measured"
		case len(bad) > 0:
			return false, strings.Join(bad, "; ")
		}
		return true, "every flow within bounds: " + strings.Join(all, ", ")
	}}
}

// LoseAtMost succeeds when no RTP flow lost more than fraction of its
// packets (0.02 is 2%), counted after pion's NACK retransmissions.
func LoseAtMost(fraction float64) *ClientMatcher {
	return qualityMatcher(fmt.Sprintf("to lose at most %.1f%% of each flow's packets", fraction*100), func(q *harness.Quality) string {
		if q.LossRate > fraction {
			return fmt.Sprintf("lost %.1f%% (%d packets)", q.LossRate*100, q.Lost)
		}
		return ""
	})
}

// KeepRTTUnder succeeds when every flow whose sender measured a round trip
// (from RTCP receiver reports) had a mean round trip of at most d, and at
// least one flow had a measurement.
func KeepRTTUnder(d time.Duration) *ClientMatcher {
	measured := qualityMatcher("", func(q *harness.Quality) string {
		if q.RTTMean == 0 {
			return "no round trip measured"
		}
		return ""
	})
	within := qualityMatcher("", func(q *harness.Quality) string {
		if q.RTTMean > d {
			return fmt.Sprintf("mean round trip %v (highest %v)", q.RTTMean, q.RTT)
		}
		return ""
	})
	return &ClientMatcher{expect: "a mean round trip of at most " + d.String(), check: func(c *harness.ClientResult) (bool, string) {
		if ok, observed := within.check(c); !ok {
			return false, observed
		}
		if ok, _ := measured.check(c); ok {
			return true, "every flow within bounds"
		}
		for _, m := range c.Media {
			if m.Quality != nil && m.Quality.RTTMean > 0 {
				return true, "within bounds where measured"
			}
		}
		return false, "no round trip measured on any flow"
	}}
}

// FreezeAtMost succeeds when no flow froze for longer than d (a freeze is a
// silence longer than the flow's freeze gap, as webrtc-stats counts one).
func FreezeAtMost(d time.Duration) *ClientMatcher {
	return qualityMatcher("no freeze longer than "+d.String(), func(q *harness.Quality) string {
		if q.LongestFreeze > d {
			return fmt.Sprintf("%d freezes, the longest %v", len(q.Freezes), q.LongestFreeze)
		}
		return ""
	})
}

// DeliverAtLeast succeeds when every flow's mean bitrate, from its first
// packet to the end of the call, is at least bitsPerSecond.
func DeliverAtLeast(bitsPerSecond float64) *ClientMatcher {
	return qualityMatcher(fmt.Sprintf("at least %.0f kbit/s on each flow", bitsPerSecond/1e3), func(q *harness.Quality) string {
		if q.Bitrate < bitsPerSecond {
			return fmt.Sprintf("%.0f kbit/s", q.Bitrate/1e3)
		}
		return ""
	})
}
