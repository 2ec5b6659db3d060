package media

import (
	"math"
	"time"
)

// Grade is a connection quality as LiveKit tells it to participants
// (livekit.ConnectionQuality): excellent, good, poor, or lost.
type Grade string

// Grades, best first.
const (
	Excellent Grade = "excellent"
	Good      Grade = "good"
	Poor      Grade = "poor"
	Lost      Grade = "lost"
)

// Rank orders grades: higher is better; an unknown grade ranks lowest.
func (g Grade) Rank() int {
	switch g {
	case Excellent:
		return 3
	case Good:
		return 2
	case Poor:
		return 1
	}
	return 0
}

// GradeWindow is how long LiveKit's scorer looks at a stream before it
// grades it again (pkg/sfu/connectionquality connectionstats.go
// UpdateInterval).
const GradeWindow = 5 * time.Second

// Graded is a flow's grade over one GradeWindow: the smoothed score (0 to
// 100, LiveKit's R-factor-like scale) and the grade it maps to.
type Graded struct {
	At    time.Duration
	Score float64
	Grade Grade
}

// Scoring constants, LiveKit's (livekit/livekit pkg/sfu/connectionquality
// scorer.go and connectionstats.go getPacketLossWeight).
const (
	maxScore      = 100.0
	minScore      = 30.0 // the floor a smoothed score does not go below
	increaseBlend = 0.4  // a rising score moves slowly...
	decreaseBlend = 0.8  // ...a falling one fast
	goodAbove     = 80.0 // above: excellent
	poorAbove     = 40.0 // above: good
	lostAbove     = 20.0 // above: poor; at or below: lost
	audioLossW    = 8.0  // Opus without FEC: 2.5% loss to good, 7.5% to poor
	videoLossW    = 10.0 // video: 2% to good, 6% to poor
	layerWeight   = 35.0 // each layer below the desired one drops a grade (cDistanceWeight)
)

// grade scores q's seconds window by window as LiveKit's server scores a
// track (scorer.go updateAtLocked): the packet score, 100 less the share
// of sent packets lost weighted by codec (less those the sender sent out
// of order, which LiveKit does not hold against a subscriber's link: see
// Second.LostLate); for simulcast video the lower of that and the layer
// score, 100 less 35 for each layer the flow was below the one it should
// carry (Second.Distance, averaged over the window); blended into the
// previous score (rising at 0.4, falling at 0.8, no lower than 30). A
// window with nothing received scores poor while the far end's RTCP
// reports still came in it (a round trip measured: LiveKit's "dry"), lost
// when they did not either (its "rtcp"), unblended. Windows start at the
// flow's first packet.
//
// LiveKit's scorer has a delay term (half the round trip, twice the
// jitter) and a bitrate term too, which its server leaves off
// (IncludeRTT, IncludeJitter and EnableBitrateScore are false where
// pkg/sfu/downtrack.go and receiver.go make their ConnectionStats), and
// so does grade: a call behind a bloated queue, or a single-layer video
// its sender squeezed, keeps its grade while nothing is lost. LiveKit's
// weighting of loss by the stream's usual packet rate (for DTX audio)
// and its temporal layers' share of the distance are not modelled.
func grade(q *Quality, kind string, first time.Duration) []Graded {
	if q.NothingReceived || len(q.Seconds) == 0 || q.Step > time.Second {
		return nil
	}
	lossWeight := audioLossW
	if kind == Video {
		lossWeight = videoLossW
	}
	start := int(first / time.Second)
	per := int(GradeWindow / time.Second)
	prev := maxScore
	var out []Graded
	for i := start; i+per <= len(q.Seconds); i += per {
		var sent, lost, packets uint64
		var distance float64
		reported := false
		for _, s := range q.Seconds[i : i+per] {
			sent += s.Sent
			lost += s.Lost - s.LostLate
			packets += s.Packets
			distance += s.Distance
			reported = reported || s.RTT > 0
		}
		var score float64
		switch {
		case packets == 0 && reported:
			score = poorAbove
		case packets == 0:
			score = lostAbove
		default:
			lossEffect := 0.0
			if sent > 0 {
				lossEffect = float64(lost) * 100 / float64(sent) * lossWeight
			}
			score = max(maxScore-lossEffect, 0)
			if kind == Video {
				layer := maxScore - distance/float64(per)*layerWeight
				score = min(score, max(layer, 0))
			}
			blend := increaseBlend
			if score < prev {
				blend = decreaseBlend
			}
			score = max(blend*score+(1-blend)*prev, minScore)
		}
		prev = score
		out = append(out, Graded{At: q.Seconds[i].At, Score: math.Round(score*10) / 10, Grade: scoreGrade(score)})
	}
	return out
}

func scoreGrade(score float64) Grade {
	switch {
	case score > goodAbove:
		return Excellent
	case score > poorAbove:
		return Good
	case score > lostAbove:
		return Poor
	}
	return Lost
}
