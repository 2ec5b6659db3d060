package gcc

import (
	"math"
	"time"
)

// Probing as libwebrtc's goog_cc does it at the start of a call
// (modules/congestion_controller/goog_cc/probe_controller.cc and
// probe_bitrate_estimator.cc): rather than climb 8% a second from the
// 300 kbit/s start, the sender sends short clusters of packets at 3 and 6
// times the start bitrate, measures from the feedback the rate at which
// they arrived, and takes it as its estimate; while a cluster's result is
// over 70% of what it probed for, it probes again at twice the result, up
// to the most the sender can use.
const (
	firstProbeScale       = 3.0 // first_exponential_probe_scale
	secondProbeScale      = 6.0 // second_exponential_probe_scale
	furtherProbeScale     = 2.0 // further_exponential_probe_scale
	furtherProbeThreshold = 0.7 // further_probe_threshold
	// A cluster's length: at least 15 ms and 5 packets
	// (probe_controller.cc min_probe_duration, min_probe_packets_sent).
	ProbeDuration = 15 * time.Millisecond
	ProbePackets  = 5
	// probeResultWait is how long the controller waits for a probe's
	// result before it stops probing (kMaxWaitingTimeForProbingResult).
	probeResultWait = time.Second
	// What a cluster's result needs (probe_bitrate_estimator.cc): 80% of
	// its packets and bytes received, send and receive intervals of at
	// most a second, a receive rate at most twice the send rate; under 90%
	// of the send rate, the link is saturated and the result is 95% of the
	// receive rate.
	minReceivedRatio      = 0.8
	maxProbeInterval      = time.Second
	maxValidRatio         = 2.0
	minUnsaturatedRatio   = 0.9
	saturatedUtilization  = 0.95
	probeResultMinPackets = minReceivedRatio * ProbePackets
)

// prober is an estimator's probe controller and probe bitrate estimator.
type prober struct {
	max     float64
	pending []float64 // clusters to send, bit/s
	// sending is the cluster being sent (0: none); next the next id.
	sending, next int
	// clusters are the clusters sent and not yet judged, by id.
	clusters map[int]*cluster
	// waiting: a batch was sent and its result decides whether to probe
	// further; highest is the batch's highest rate, since when it waits.
	waiting bool
	highest float64
	since   time.Time
	last    float64 // the last cluster result
	fresh   bool
}

// cluster is a probe cluster as sent and as its feedback reports it.
type cluster struct {
	rate                        float64
	sentPackets, sentBytes      int
	received, bytes             int
	firstSend, lastSend         time.Time
	firstArrival, lastArrival   time.Time
	lastSendSize, firstRecvSize int
	done                        bool
}

func (p *prober) init(cfg Config) {
	p.max = float64(cfg.Max)
	p.clusters = map[int]*cluster{}
	start := float64(cfg.Start)
	p.batch(math.Min(firstProbeScale*start, p.max), math.Min(secondProbeScale*start, p.max))
}

// batch queues clusters at the rates, for a result to judge.
func (p *prober) batch(rates ...float64) {
	p.pending = append(p.pending, rates...)
	p.highest = 0
	for _, r := range rates {
		p.highest = math.Max(p.highest, r)
	}
	p.waiting, p.since = true, time.Time{}
}

// NextProbe returns the bitrate of the next probe cluster the sender
// should send now, and starts it: the packets the estimator sees sent
// until EndProbe are the cluster's. A sender sends a cluster of at least
// ProbePackets packets over at least ProbeDuration at the rate.
func (e *Estimator) NextProbe() (rate int, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := &e.probes
	if len(p.pending) == 0 || p.sending != 0 {
		return 0, false
	}
	r := p.pending[0]
	p.pending = p.pending[1:]
	p.next++
	p.sending = p.next
	p.clusters[p.sending] = &cluster{rate: r}
	return int(r), true
}

// EndProbe ends the cluster NextProbe started.
func (e *Estimator) EndProbe() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.probes.sending = 0
	if e.probes.waiting && e.probes.since.IsZero() && len(e.probes.pending) == 0 {
		e.probes.since = time.Now()
	}
}

// result takes a feedback's packets into their clusters and returns the
// bitrate of a cluster judged by them, if one was.
func (p *prober) result(results []result) (float64, bool) {
	for _, r := range results {
		c := p.clusters[r.cluster]
		if r.cluster == 0 || c == nil || c.done {
			continue
		}
		c.sentPackets++
		c.sentBytes += r.size
		if c.firstSend.IsZero() || r.at.Before(c.firstSend) {
			c.firstSend = r.at
		}
		if !r.at.Before(c.lastSend) {
			c.lastSend, c.lastSendSize = r.at, r.size
		}
		if r.arrival.IsZero() {
			continue
		}
		c.received++
		c.bytes += r.size
		if c.firstArrival.IsZero() || r.arrival.Before(c.firstArrival) {
			c.firstArrival, c.firstRecvSize = r.arrival, r.size
		}
		if r.arrival.After(c.lastArrival) {
			c.lastArrival = r.arrival
		}
	}
	best, ok := 0.0, false
	for id, c := range p.clusters {
		if c.done || id == p.sending {
			continue
		}
		minBytes := c.rate / 8 * ProbeDuration.Seconds()
		if float64(c.received) < probeResultMinPackets || float64(c.bytes) < minReceivedRatio*minBytes {
			continue
		}
		c.done = true
		delete(p.clusters, id)
		if bps, valid := c.bitrate(); valid && (!ok || bps > best) {
			best, ok = bps, true
		}
	}
	if ok {
		p.last, p.fresh = best, true
	}
	return best, ok
}

// bitrate is a cluster's result (ProbeBitrateEstimator::HandleProbeAndEstimateBitrate).
func (c *cluster) bitrate() (float64, bool) {
	send := c.lastSend.Sub(c.firstSend)
	recv := c.lastArrival.Sub(c.firstArrival)
	if send <= 0 || send > maxProbeInterval || recv <= 0 || recv > maxProbeInterval {
		return 0, false
	}
	sendRate := float64((c.sentBytes-c.lastSendSize)*8) / send.Seconds()
	recvRate := float64((c.bytes-c.firstRecvSize)*8) / recv.Seconds()
	if recvRate > maxValidRatio*sendRate {
		return 0, false
	}
	res := math.Min(sendRate, recvRate)
	if recvRate < minUnsaturatedRatio*sendRate {
		res = saturatedUtilization * recvRate
	}
	return res, true
}

// estimated tells the controller the estimate after a feedback: a batch's
// result over furtherProbeThreshold of its highest rate probes again at
// furtherProbeScale times the estimate; no result within probeResultWait
// of the batch's end stops probing.
func (p *prober) estimated(target float64, now time.Time) {
	if !p.waiting {
		return
	}
	if p.fresh {
		p.fresh = false
		if target > furtherProbeThreshold*p.highest && target < p.max {
			p.batch(math.Min(furtherProbeScale*target, p.max))
			return
		}
		p.waiting = false
		return
	}
	if !p.since.IsZero() && now.Sub(p.since) > probeResultWait {
		p.waiting = false
	}
}
