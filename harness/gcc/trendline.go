package gcc

import (
	"math"
	"time"
)

// usage is what the delay says of the path: the queue is steady (normal),
// growing (overusing) or draining (underusing).
type usage int

const (
	normal usage = iota
	overusing
	underusing
)

func (u usage) String() string {
	return [...]string{"normal", "overusing", "underusing"}[u]
}

// Grouping and trendline constants, libwebrtc's
// (modules/congestion_controller/goog_cc: inter_arrival_delta.cc,
// trendline_estimator.cc).
const (
	sendTimeGroupLength = 5 * time.Millisecond   // kSendTimeGroupLength
	burstDeltaThreshold = 5 * time.Millisecond   // kBurstDeltaThreshold
	maxBurstDuration    = 100 * time.Millisecond // kMaxBurstDuration
	trendlineWindow     = 20                     // kDefaultTrendlineWindowSize
	smoothingCoef       = 0.9                    // kDefaultTrendlineSmoothingCoeff
	thresholdGain       = 4.0                    // kDefaultTrendlineThresholdGain
	minNumDeltas        = 60                     // kMinNumDeltas
	overUsingTime       = 10.0                   // kOverUsingTimeThreshold, ms
	maxAdaptOffset      = 15.0                   // kMaxAdaptOffsetMs
	thresholdUp         = 0.0087                 // k_up_
	thresholdDown       = 0.039                  // k_down_
	initialThreshold    = 12.5                   // ms
)

// group is packets sent within sendTimeGroupLength of each other (or
// arriving as one burst): the unit delay variation is measured between.
type group struct {
	firstSend, send time.Time // the first and the latest send time
	firstArrival    time.Time
	complete        time.Time // the last arrival
	size            int
}

func (g group) empty() bool { return g.firstSend.IsZero() }

// interArrival turns packets into the send and arrival time deltas
// between consecutive groups (libwebrtc's InterArrivalDelta).
type interArrival struct {
	current, prev group
}

// add takes a received packet; ok reports a completed group's deltas.
func (ia *interArrival) add(send, arrival time.Time, size int) (sendDelta, arrivalDelta time.Duration, ok bool) {
	switch {
	case ia.current.empty():
		ia.current = group{firstSend: send, send: send, firstArrival: arrival}
	case send.Before(ia.current.firstSend):
		return 0, 0, false // reordered: older than the group
	case ia.newGroup(send, arrival):
		if !ia.prev.empty() {
			sendDelta = ia.current.send.Sub(ia.prev.send)
			arrivalDelta = ia.current.complete.Sub(ia.prev.complete)
			ok = arrivalDelta >= 0
			if !ok {
				ia.prev, ia.current = group{}, group{firstSend: send, send: send, firstArrival: arrival}
				ia.current.size, ia.current.complete = size, arrival
				return 0, 0, false
			}
		}
		ia.prev = ia.current
		ia.current = group{firstSend: send, send: send, firstArrival: arrival}
	default:
		if send.After(ia.current.send) {
			ia.current.send = send
		}
	}
	ia.current.size += size
	ia.current.complete = arrival
	return sendDelta, arrivalDelta, ok
}

func (ia *interArrival) newGroup(send, arrival time.Time) bool {
	if ia.belongsToBurst(send, arrival) {
		return false
	}
	return send.Sub(ia.current.firstSend) > sendTimeGroupLength
}

func (ia *interArrival) belongsToBurst(send, arrival time.Time) bool {
	arrivalDelta := arrival.Sub(ia.current.complete)
	sendDelta := send.Sub(ia.current.send)
	if sendDelta == 0 {
		return true
	}
	propagation := arrivalDelta - sendDelta
	return propagation < 0 && arrivalDelta <= burstDeltaThreshold && arrival.Sub(ia.current.firstArrival) < maxBurstDuration
}

// trendline estimates whether the queue on the path grows: the slope of
// the smoothed accumulated delay variation over the last trendlineWindow
// groups, against an adaptive threshold (libwebrtc's TrendlineEstimator).
type trendline struct {
	deltas         int
	first          time.Time // the first arrival, the time axis' origin
	accumulated    float64   // ms
	smoothed       float64   // ms
	hist           [][2]float64
	prevTrend      float64
	threshold      float64
	lastUpdate     time.Time
	timeOverUsing  float64 // ms; -1: not over
	overuseCounter int
	hypothesis     usage
}

func newTrendline() *trendline {
	return &trendline{threshold: initialThreshold, timeOverUsing: -1}
}

// update takes the deltas between two groups, the later one completing at
// arrival.
func (t *trendline) update(sendDelta, arrivalDelta time.Duration, arrival time.Time) {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	delta := ms(arrivalDelta) - ms(sendDelta)
	t.deltas = min(t.deltas+1, 1000)
	if t.first.IsZero() {
		t.first = arrival
	}
	t.accumulated += delta
	t.smoothed = smoothingCoef*t.smoothed + (1-smoothingCoef)*t.accumulated
	t.hist = append(t.hist, [2]float64{ms(arrival.Sub(t.first)), t.smoothed})
	if len(t.hist) > trendlineWindow {
		t.hist = t.hist[1:]
	}
	trend := t.prevTrend
	if len(t.hist) == trendlineWindow {
		if s, ok := slope(t.hist); ok {
			trend = s
		}
	}
	t.detect(trend, ms(sendDelta), arrival)
}

// slope is the least-squares slope of points (x, y).
func slope(points [][2]float64) (float64, bool) {
	var sx, sy float64
	for _, p := range points {
		sx += p[0]
		sy += p[1]
	}
	n := float64(len(points))
	mx, my := sx/n, sy/n
	var num, den float64
	for _, p := range points {
		num += (p[0] - mx) * (p[1] - my)
		den += (p[0] - mx) * (p[0] - mx)
	}
	if den == 0 {
		return 0, false
	}
	return num / den, true
}

func (t *trendline) detect(trend, tsDelta float64, now time.Time) {
	if t.deltas < 2 {
		t.hypothesis = normal
		return
	}
	modified := float64(min(t.deltas, minNumDeltas)) * trend * thresholdGain
	switch {
	case modified > t.threshold:
		if t.timeOverUsing == -1 {
			t.timeOverUsing = tsDelta / 2
		} else {
			t.timeOverUsing += tsDelta
		}
		t.overuseCounter++
		if t.timeOverUsing > overUsingTime && t.overuseCounter > 1 && trend >= t.prevTrend {
			t.timeOverUsing, t.overuseCounter = 0, 0
			t.hypothesis = overusing
		}
	case modified < -t.threshold:
		t.timeOverUsing, t.overuseCounter = -1, 0
		t.hypothesis = underusing
	default:
		t.timeOverUsing, t.overuseCounter = -1, 0
		t.hypothesis = normal
	}
	t.prevTrend = trend
	t.updateThreshold(modified, now)
}

func (t *trendline) updateThreshold(modified float64, now time.Time) {
	if t.lastUpdate.IsZero() {
		t.lastUpdate = now
	}
	abs := math.Abs(modified)
	if abs > t.threshold+maxAdaptOffset {
		t.lastUpdate = now // a spike: not what the threshold adapts to
		return
	}
	k := thresholdUp
	if abs < t.threshold {
		k = thresholdDown
	}
	dt := math.Min(float64(now.Sub(t.lastUpdate))/float64(time.Millisecond), 100)
	t.threshold += k * (abs - t.threshold) * dt
	t.threshold = math.Min(math.Max(t.threshold, 6), 600)
	t.lastUpdate = now
}
