package gcc

import (
	"math"
	"sync"
	"time"

	"github.com/pion/rtcp"
)

// Config bounds an estimator.
type Config struct {
	// Start is the estimate before any feedback (libwebrtc's 300 kbit/s);
	// Min and Max bound it, in bits per second.
	Start, Min, Max int
}

// Rate control constants, libwebrtc's (modules/remote_bitrate_estimator
// aimd_rate_control.cc, modules/congestion_controller/goog_cc
// send_side_bandwidth_estimation.cc, link_capacity_estimator.cc).
const (
	beta                = 0.85                   // kDefaultBackoffFactor
	increaseFactor      = 1.08                   // per second, far from the link's capacity
	minIncrease         = 1000.0                 // bit/s per update, multiplicative
	minNearMaxIncrease  = 4000.0                 // bit/s per second, additive
	defaultRTT          = 200 * time.Millisecond // before one is measured
	ackedWindow         = 500 * time.Millisecond // the acknowledged bitrate's window
	lossLow, lossHigh   = 0.02, 0.10             // loss below which the loss bound grows, above which it shrinks
	lossDecreaseEvery   = 300 * time.Millisecond // kBweDecreaseInterval (plus a round trip)
	lossMinPackets      = 20                     // kLimitNumPackets
	capacityAlpha       = 0.05
	minCapacityDevation = 0.4
	maxCapacityDevation = 2.5
)

// rateState is the AIMD controller's state.
type rateState int

const (
	hold rateState = iota
	increase
	decrease
)

// Estimator is one connection's send-side bandwidth estimate. Feedback
// and sent packets come from the interceptor; GetTargetBitrate is what the
// encoder follows. Safe for concurrent use; an estimate depends only on
// the packets sent and the feedback, in the order they came.
type Estimator struct {
	cfg Config

	mu      sync.Mutex
	history *history
	ia      interArrival
	trend   *trendline

	target     float64 // the estimate, bit/s: min(delay-based, loss-based)
	delayBased float64
	state      rateState
	lastChange time.Time // the last change of the delay-based estimate
	rtt        time.Duration
	capacity   linkCapacity

	acked []result // received packets of the last ackedWindow, by arrival

	lossBased            float64
	lossLost, lossExpect int
	lastLossDecrease     time.Time
	lastLossIncrease     time.Time
	lossFraction         float64
	overuses, feedbacks  int

	probes prober
}

// NewEstimator returns an estimator at cfg.Start.
func NewEstimator(cfg Config) *Estimator {
	start := float64(cfg.Start)
	e := &Estimator{cfg: cfg, history: newHistory(), trend: newTrendline(),
		target: start, delayBased: start, lossBased: float64(cfg.Max), state: increase, rtt: defaultRTT}
	e.probes.init(cfg)
	return e
}

// GetTargetBitrate returns the estimate, in bits per second.
func (e *Estimator) GetTargetBitrate() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return int(e.target)
}

// Stats is how the estimator sees the path.
type Stats struct {
	Target, DelayBased, LossBased int
	RTT                           time.Duration
	// Overuses counts the feedbacks after which the delay said the queue
	// grew; Feedbacks all of them.
	Overuses, Feedbacks int
	LossFraction        float64
}

// Stats returns the estimator's state.
func (e *Estimator) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return Stats{Target: int(e.target), DelayBased: int(e.delayBased), LossBased: int(e.lossBased), RTT: e.rtt,
		Overuses: e.overuses, Feedbacks: e.feedbacks, LossFraction: e.lossFraction}
}

// sent records a packet with transport-wide sequence number seq leaving at
// t; resend says it is a retransmission.
func (e *Estimator) sent(seq uint16, t time.Time, size int, resend bool) {
	e.mu.Lock()
	e.history.add(seq, t, size, resend, e.probes.sending)
	e.mu.Unlock()
}

// feedback takes a transport-wide feedback that arrived at now.
func (e *Estimator) feedback(fb *rtcp.TransportLayerCC, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	results := e.history.parse(fb)
	if len(results) == 0 {
		return
	}
	e.feedbacks++
	// Round trip: from the newest packet's send to this feedback, less
	// the time it waited at the receiver for the feedback to be sent
	// (taken as the last arrival the feedback reports).
	var last time.Time
	for _, r := range results {
		if r.arrival.After(last) {
			last = r.arrival
		}
	}
	minRTT := time.Duration(math.MaxInt64)
	lost, firsts := 0, 0
	for _, r := range results {
		if !r.resend {
			firsts++
		}
		if r.arrival.IsZero() {
			// Loss is judged on first transmissions: pion resends a
			// packet on its own SSRC and sequence number (no RTX), so a
			// resend of one that had arrived is dropped by the
			// receiver's SRTP replay check and reads as lost.
			if !r.resend {
				lost++
			}
			continue
		}
		minRTT = min(minRTT, now.Sub(r.at)-last.Sub(r.arrival))
	}
	if minRTT != time.Duration(math.MaxInt64) && minRTT > 0 {
		e.rtt = minRTT
	}
	e.delayBasedUpdate(results, now)
	e.lossUpdate(lost, firsts, now)
	if probe, ok := e.probes.result(results); ok && e.trend.hypothesis != overusing {
		// libwebrtc's DelayBasedBwe takes a probe's bitrate as its
		// estimate unless the delay says overuse, and goog_cc's loss-based
		// estimate starts from it (SetSendBitrate).
		probe = min(max(probe, float64(e.cfg.Min)), float64(e.cfg.Max))
		e.delayBased, e.lossBased, e.lastChange = probe, probe, now
	}
	e.target = min(e.delayBased, e.lossBased)
	e.target = min(max(e.target, float64(e.cfg.Min)), float64(e.cfg.Max))
	e.probes.estimated(e.target, now)
}

// delayBasedUpdate runs the packets received, in arrival order, through
// the inter-arrival groups and the trendline, and moves the delay-based
// estimate as the AIMD controller says (libwebrtc's DelayBasedBwe).
func (e *Estimator) delayBasedUpdate(results []result, now time.Time) {
	received := make([]result, 0, len(results))
	for _, r := range results {
		if !r.arrival.IsZero() {
			received = append(received, r)
		}
	}
	// Sorted by arrival, ties by sequence number (a stable insertion sort:
	// feedbacks are short and nearly in order).
	for i := 1; i < len(received); i++ {
		for j := i; j > 0 && received[j].arrival.Before(received[j-1].arrival); j-- {
			received[j], received[j-1] = received[j-1], received[j]
		}
	}
	for _, r := range received {
		if sd, ad, ok := e.ia.add(r.at, r.arrival, r.size); ok {
			e.trend.update(sd, ad, r.arrival)
		}
		e.acked = append(e.acked, r)
	}
	if len(received) > 0 {
		newest := received[len(received)-1].arrival
		i := 0
		for i < len(e.acked) && newest.Sub(e.acked[i].arrival) > ackedWindow {
			i++
		}
		e.acked = append(e.acked[:0], e.acked[i:]...)
	}
	throughput, ok := e.ackedBitrate()
	u := e.trend.hypothesis
	if u == overusing {
		e.overuses++
		if !ok || !e.timeToReduceFurther(now, throughput) {
			return
		}
	}
	e.aimd(u, throughput, ok, now)
}

// ackedBitrate is the bitrate acknowledged over the last ackedWindow of
// arrivals; ok is false until a window's worth has arrived.
func (e *Estimator) ackedBitrate() (float64, bool) {
	if len(e.acked) < 2 {
		return 0, false
	}
	span := e.acked[len(e.acked)-1].arrival.Sub(e.acked[0].arrival)
	if span < ackedWindow*3/4 {
		return 0, false
	}
	bytes := 0
	for _, r := range e.acked {
		bytes += r.size
	}
	return float64(bytes*8) / ackedWindow.Seconds(), true
}

// timeToReduceFurther: a decrease at most once a round trip (10 to 200
// ms), unless the throughput fell under half the estimate.
func (e *Estimator) timeToReduceFurther(now time.Time, throughput float64) bool {
	interval := min(max(e.rtt, 10*time.Millisecond), 200*time.Millisecond)
	if now.Sub(e.lastChange) >= interval {
		return true
	}
	return throughput < 0.5*e.delayBased
}

// aimd moves the delay-based estimate (libwebrtc's AimdRateControl).
func (e *Estimator) aimd(u usage, throughput float64, haveThroughput bool, now time.Time) {
	switch u {
	case overusing:
		e.state = decrease
	case normal:
		if e.state == hold {
			e.state, e.lastChange = increase, now
		}
	case underusing:
		e.state = hold
	}
	next := e.delayBased
	switch e.state {
	case increase:
		limit := math.Inf(1)
		if haveThroughput {
			if throughput > e.capacity.upper() {
				e.capacity.reset()
			}
			limit = 1.5*throughput + 10_000
		}
		if e.delayBased < limit {
			var inc float64
			if e.capacity.valid {
				inc = e.nearMaxIncreasePerSecond() * math.Min(now.Sub(e.lastChange).Seconds(), 1)
			} else {
				alpha := math.Pow(increaseFactor, math.Min(now.Sub(e.lastChange).Seconds(), 1))
				inc = math.Max(e.delayBased*(alpha-1), minIncrease)
			}
			next = math.Min(e.delayBased+inc, limit)
		}
		e.lastChange = now
	case decrease:
		if haveThroughput {
			if d := beta * throughput; d < e.delayBased {
				next = d
			}
			if throughput < e.capacity.lower() {
				e.capacity.reset()
			}
			e.capacity.onOveruse(throughput)
		}
		e.state, e.lastChange = hold, now
	}
	e.delayBased = min(max(next, float64(e.cfg.Min)), float64(e.cfg.Max))
}

// nearMaxIncreasePerSecond is the additive increase near the link's
// capacity: about one packet per response time (a round trip and 100 ms).
func (e *Estimator) nearMaxIncreasePerSecond() float64 {
	frameBits := e.delayBased / 30
	packets := math.Ceil(frameBits / (1200 * 8))
	packetBits := frameBits / max(packets, 1)
	response := (e.rtt + 100*time.Millisecond).Seconds()
	return math.Max(minNearMaxIncrease, packetBits/response)
}

// lossUpdate moves the loss-based bound (libwebrtc's classic
// SendSideBandwidthEstimation): under 2% lost it grows 8% a second, over
// 10% it shrinks by half the loss, at most once per 300 ms and a round
// trip.
func (e *Estimator) lossUpdate(lost, expected int, now time.Time) {
	e.lossLost += lost
	e.lossExpect += expected
	if e.lossExpect < lossMinPackets {
		return
	}
	e.lossFraction = float64(e.lossLost) / float64(e.lossExpect)
	e.lossLost, e.lossExpect = 0, 0
	switch {
	case e.lossFraction < lossLow:
		if e.lastLossIncrease.IsZero() {
			e.lastLossIncrease = now
		}
		grow := math.Pow(increaseFactor, math.Min(now.Sub(e.lastLossIncrease).Seconds(), 1))
		e.lossBased = math.Min(math.Max(e.lossBased, e.target)*grow+minIncrease, float64(e.cfg.Max))
		e.lastLossIncrease = now
	case e.lossFraction > lossHigh:
		if now.Sub(e.lastLossDecrease) >= lossDecreaseEvery+e.rtt {
			e.lossBased = e.target * (1 - 0.5*e.lossFraction)
			e.lastLossDecrease = now
		}
		e.lastLossIncrease = now
	default:
		e.lastLossIncrease = now
	}
}

// linkCapacity is the acknowledged bitrate at the times the delay said the
// queue grew: where the link's capacity is (libwebrtc's
// LinkCapacityEstimator), in kbit/s.
type linkCapacity struct {
	valid     bool
	estimate  float64
	deviation float64
}

func (c *linkCapacity) onOveruse(bps float64) {
	sample := bps / 1000
	if !c.valid {
		c.valid, c.estimate, c.deviation = true, sample, minCapacityDevation
		return
	}
	c.estimate = (1-capacityAlpha)*c.estimate + capacityAlpha*sample
	norm := math.Max(c.estimate, 1)
	err := c.estimate - sample
	c.deviation = (1-capacityAlpha)*c.deviation + capacityAlpha*err*err/norm
	c.deviation = math.Min(math.Max(c.deviation, minCapacityDevation), maxCapacityDevation)
}

func (c *linkCapacity) spread() float64 { return 3 * math.Sqrt(c.deviation*c.estimate) }

func (c *linkCapacity) upper() float64 {
	if !c.valid {
		return math.Inf(1)
	}
	return (c.estimate + c.spread()) * 1000
}

func (c *linkCapacity) lower() float64 {
	if !c.valid {
		return 0
	}
	return math.Max(0, c.estimate-c.spread()) * 1000
}

func (c *linkCapacity) reset() { *c = linkCapacity{} }
