package sfu

import (
	"slices"
	"time"

	"github.com/icelab/icelab/harness/gcc"
	"github.com/icelab/icelab/harness/media"
	"github.com/pion/rtp"
)

// maxLayers is how many simulcast layers a publication has: LiveKit's
// spatial layers 0, 1 and 2 for the RIDs q, h and f
// (pkg/sfu/buffer/videolayerutils.go; media.SimulcastLayers).
const maxLayers = 3

// layerOf is the layer of a simulcast encoding's RID; a stream without
// one (no simulcast) is layer 0.
func layerOf(rid string) (int, bool) {
	if rid == "" {
		return 0, true
	}
	i := media.LayerRank(rid) - 1
	return i, i >= 0 && i < maxLayers
}

// layerRate measures a layer's bitrate as it arrives at the node, over
// one-second tumbling windows of whole RTP packets, padding-only ones left
// out, as LiveKit's stream tracker does for a camera's layer
// (pkg/sfu/streamtracker/streamtracker.go, streamtrackermanager.go).
type layerRate struct {
	start time.Time // the window's start
	bytes int       // what arrived in it
	last  int       // the last whole window's bits per second
}

func (r *layerRate) add(now time.Time, size int, padding bool) {
	r.roll(now)
	if !padding {
		r.bytes += size
	}
}

// roll closes the windows that ended by now.
func (r *layerRate) roll(now time.Time) {
	if r.start.IsZero() {
		r.start = now
		return
	}
	if gone := now.Sub(r.start); gone >= time.Second {
		r.last = r.bytes * 8
		if gone >= 2*time.Second {
			r.last = 0 // a whole window with nothing in it
		}
		r.start = r.start.Add(gone.Truncate(time.Second))
		r.bytes = 0
	}
}

func (r *layerRate) bitrate(now time.Time) int {
	r.roll(now)
	return r.last
}

// LiveKit's stream allocator's constants (pkg/sfu/streamallocator/
// streamallocator.go, pkg/sfu/ccutils/probe_regulator.go,
// pkg/sfu/bwe/remotebwe/probe_controller.go, pkg/sfu/bwe/remotebwe/remote_bwe.go,
// pkg/sfu/ccutils/prober.go, pkg/sfu/downtrack.go).
const (
	allocatorTick      = 100 * time.Millisecond // the ping while deficient
	probeTick          = 10 * time.Millisecond  // the prober's
	commitThreshold    = 0.95                   // an estimate under 95% of the expected usage is congestion
	probeOverage       = 1.2                    // ProbeOveragePct 120
	probeMinBps        = 200_000                // ProbeMinBps
	probeFirstDuration = 200 * time.Millisecond
	probeMaxDuration   = 20 * time.Second
	probeGap           = 3 * time.Second
	probeMaxGap        = 2 * time.Minute
	probeGrowth        = 1.5
	paddingPayload     = 255 // a padding-only packet's payload (RTPPaddingMaxPayloadSize)
	paddingPacket      = paddingPayload + 12
)

// allocator is one subscriber's stream allocator, a simple version of
// LiveKit's (pkg/sfu/streamallocator): it chooses the layer each of the
// subscriber's simulcast video tracks forwards from the node's estimate of
// the subscriber's downlink (send-side GCC on its transport-wide feedback,
// LiveKit's use_send_side_bwe; see media.Interceptors). What it does, as
// LiveKit does:
//   - Optimistic while the estimate shows no congestion: every track
//     forwards its highest layer arriving (STABLE: AllocateOptimal).
//   - Congestion is the estimate falling (GCC backed off on delay or loss)
//     to under commitThreshold of the layers forwarded: the estimate is
//     committed and the tracks are allocated within it, lowest layers
//     first, a track taking a layer while it fits (forwarder.go
//     AllocateNextHigher's walk in allocateAllTracks); a track that fits
//     none keeps its lowest (allow_pause off, LiveKit's default). A track
//     moved down stops at once and waits for the lower layer's keyframe
//     (FlagPauseOnDowngrade).
//   - While a track is below its highest layer (DEFICIENT), upgrades come
//     only from probes: padding-only packets on a down track at the bitrate
//     the next layer needs, max(1.2 × the step, 200 kbit/s) above the usage,
//     for a cluster of 200 ms growing 1.5 times after each probe that did
//     not congest (to 20 s), at least 3 s apart (growing 1.5 times after
//     one that did, to 2 min); then, after a settling time of five round
//     trips (250 ms to 5 s), a probe without congestion commits the
//     highest estimate seen and moves tracks up a layer each, farthest
//     from their highest first, while the headroom covers the step.
//   - A track whose target is not the layer it forwards asks for the
//     target's keyframe every two round trips (200 ms to 1 s), through the
//     publication's per-layer throttle.
//
// What it leaves out: LiveKit's trend detector over the estimates (GCC's
// own back-off is the congestion signal here), track priorities, temporal
// layers, and the NACK-ratio trigger.
type allocator struct {
	est    *gcc.Estimator
	tracks []allocated

	deficient bool
	committed int
	previous  int // the estimate at the last tick
	probe     probe
	// The probe regulator: a cluster's length, the gap to the next.
	duration, gap time.Duration
	nextProbe     time.Time
}

// allocated is one of the subscriber's simulcast tracks.
type allocated struct {
	pub         *publication
	d           *downTrack
	lastRequest time.Time // the last keyframe request for its target
}

// probe is a probe in flight.
type probe struct {
	active       bool
	track        int // the down track padded
	goal, rate   int // the bitrate sought; padding's share of it
	start, end   time.Time
	settled      time.Time // when its verdict is due
	highest      int       // the highest estimate during it
	congested    bool
	carry        int // padding bytes due but not yet sent
	lastPaddedAt time.Time
}

func newAllocator(est *gcc.Estimator, tracks []allocated) *allocator {
	return &allocator{est: est, tracks: tracks, previous: est.GetTargetBitrate(),
		duration: probeFirstDuration, gap: probeGap}
}

// run steps the allocator until stop closes.
func (a *allocator) run(stop <-chan struct{}) {
	t := time.NewTimer(allocatorTick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		a.step(time.Now())
		if a.probe.active {
			t.Reset(probeTick)
		} else {
			t.Reset(allocatorTick)
		}
	}
}

// step is one tick: read the estimate, judge congestion, probe, allocate,
// and ask for the keyframes the targets need.
func (a *allocator) step(now time.Time) {
	st := a.est.Stats()
	estimate := st.Target
	fell := estimate < a.previous
	a.previous = estimate
	rates := make([][maxLayers]int, len(a.tracks))
	expected := 0
	for i, t := range a.tracks {
		rates[i] = t.pub.layerRates(now)
		if l := t.d.targetLayer(); l >= 0 {
			expected += rates[i][l]
		}
	}
	switch {
	case a.probe.active:
		a.stepProbe(now, estimate, fell, st.RTT, rates, expected)
	case fell && float64(estimate) < commitThreshold*float64(expected):
		a.committed = estimate
		a.allocate(rates)
	case !a.deficient:
		a.optimal(rates)
	case !now.Before(a.nextProbe):
		a.startProbe(now, estimate, st.RTT, rates, expected)
	}
	a.requestKeyframes(now, st.RTT)
	a.measureDistances(rates)
}

// measureDistances records each track's distance to its desired layer
// for its grade (media.Flow.LayerDistance), as LiveKit's down track and
// receiver measure it: a subscription's, the highest layer arriving less
// the layer it moves to (forwarder.go getDistanceToDesired: the target,
// not the layer still forwarded while its keyframe is awaited); the
// publication's, its top layer less the highest arriving, since every
// subscriber asks for the top (StreamTrackerManager.DistanceToDesired,
// the highest layer subscribed to against the highest available). A
// publication with several subscribers is sampled once by each.
func (a *allocator) measureDistances(rates [][maxLayers]int) {
	for i, t := range a.tracks {
		arriving := top(rates[i])
		if target := t.d.targetLayer(); target >= 0 {
			t.d.flow.LayerDistance(float64(max(arriving-target, 0)))
		}
		if anything(rates[i]) {
			t.pub.at.LayerDistance(float64(maxLayers - 1 - arriving))
		}
	}
}

// anything reports whether any layer of a track arrives now.
func anything(rates [maxLayers]int) bool {
	for _, r := range rates {
		if r > 0 {
			return true
		}
	}
	return false
}

// top is the highest layer of a track arriving now (0 when none is).
func top(rates [maxLayers]int) int {
	for l := maxLayers - 1; l > 0; l-- {
		if rates[l] > 0 {
			return l
		}
	}
	return 0
}

// optimal gives every track its highest layer arriving.
func (a *allocator) optimal(rates [][maxLayers]int) {
	for i, t := range a.tracks {
		t.d.setTarget(top(rates[i]), false)
	}
}

// allocate gives each track the highest layer the committed estimate
// covers, walking the layers lowest first and the tracks in order at each.
func (a *allocator) allocate(rates [][maxLayers]int) {
	held := make([]int, len(a.tracks))
	chosen := make([]int, len(a.tracks))
	left := a.committed
	for i := range chosen {
		chosen[i] = -1
	}
	for l := range maxLayers {
		for i := range a.tracks {
			r := rates[i][l]
			if r == 0 || l > top(rates[i]) || r > left+held[i] {
				continue
			}
			left -= r - held[i]
			held[i], chosen[i] = r, l
		}
	}
	a.deficient = false
	for i, t := range a.tracks {
		if chosen[i] < 0 {
			chosen[i] = 0 // never paused: the lowest, over the budget
		}
		t.d.setTarget(chosen[i], true)
		if chosen[i] < top(rates[i]) {
			a.deficient = true
		}
	}
	if !a.deficient {
		a.committed = 0
	}
}

// startProbe starts a probe for the next layer of the track farthest from
// its highest, if there is one to probe for.
func (a *allocator) startProbe(now time.Time, estimate int, rtt time.Duration, rates [][maxLayers]int, expected int) {
	pick, gap := -1, 0
	for i, t := range a.tracks {
		l := t.d.targetLayer()
		if g := top(rates[i]) - l; l >= 0 && g > gap && rates[i][l+1] > 0 {
			pick, gap = i, g
		}
	}
	if pick < 0 {
		a.deficient = false
		a.committed = 0
		return
	}
	l := a.tracks[pick].d.targetLayer()
	step := rates[pick][l+1] - rates[pick][l]
	goal := expected + max(int(probeOverage*float64(step)), probeMinBps)
	settle := min(max(5*rtt, 250*time.Millisecond), 5*time.Second)
	a.probe = probe{active: true, track: pick, goal: goal, rate: goal - expected, start: now,
		end: now.Add(a.duration), settled: now.Add(a.duration + settle), highest: estimate, lastPaddedAt: now}
}

// stepProbe sends a probe's padding due by now and, when it is over,
// judges it.
func (a *allocator) stepProbe(now time.Time, estimate int, fell bool, rtt time.Duration, rates [][maxLayers]int, expected int) {
	p := &a.probe
	p.highest = max(p.highest, estimate)
	p.congested = p.congested || fell
	if now.Before(p.end) {
		p.carry += int(float64(p.rate) / 8 * now.Sub(p.lastPaddedAt).Seconds())
		p.lastPaddedAt = now
		if n := p.carry / paddingPacket; n > 0 {
			if a.tracks[p.track].d.pad(n) {
				p.carry -= n * paddingPacket
			}
			// Not at a frame's end: the bytes wait for the next tick,
			// no more than a tick's worth.
			p.carry = min(p.carry, int(float64(p.rate)/8*probeTick.Seconds())+paddingPacket)
		}
	}
	early := estimate > p.goal
	if !early && now.Before(p.settled) {
		return
	}
	p.active = false
	if p.congested {
		a.duration = probeFirstDuration
		a.gap = min(time.Duration(float64(a.gap)*probeGrowth).Truncate(time.Second), probeMaxGap)
	} else {
		a.duration = min(time.Duration(float64(a.duration)*probeGrowth), probeMaxDuration)
		a.gap = probeGap
		a.committed = max(a.committed, p.highest)
		a.boost(rates, expected)
	}
	a.nextProbe = p.start.Add(a.gap)
}

// boost moves tracks up a layer each, farthest from their highest first,
// while the committed estimate's headroom over the usage covers the step.
func (a *allocator) boost(rates [][maxLayers]int, expected int) {
	headroom := a.committed - expected
	order := make([]int, len(a.tracks))
	for i := range order {
		order[i] = i
	}
	gap := func(i int) int { return top(rates[i]) - a.tracks[i].d.targetLayer() }
	slices.SortStableFunc(order, func(x, y int) int { return gap(y) - gap(x) })
	deficient := false
	for _, i := range order {
		l := a.tracks[i].d.targetLayer()
		if l >= 0 && l < top(rates[i]) {
			if step := rates[i][l+1] - rates[i][l]; step <= headroom {
				headroom -= step
				a.tracks[i].d.setTarget(l+1, false)
				l++
			}
		}
		if l < top(rates[i]) {
			deficient = true
		}
	}
	a.deficient = deficient
	if !deficient {
		a.committed = 0
	}
}

// requestKeyframes asks for the keyframe of each track's target it does
// not forward yet, every two round trips (200 ms to 1 s), as LiveKit's
// down track's keyframe requester does (downtrack.go).
func (a *allocator) requestKeyframes(now time.Time, rtt time.Duration) {
	every := min(max(2*rtt, 200*time.Millisecond), time.Second)
	for i := range a.tracks {
		t := &a.tracks[i]
		target, current := t.d.layers()
		if target == current || now.Sub(t.lastRequest) < every {
			continue
		}
		t.lastRequest = now
		t.pub.requestKeyframe(target, now)
	}
}

// targetLayer returns the layer the down track forwards or moves to.
func (d *downTrack) targetLayer() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.target
}

// layers returns the down track's target and current layers.
func (d *downTrack) layers() (target, current int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.target, d.current
}

// setTarget makes layer the down track's target. A move down for want of
// bandwidth (stop) stops the current layer at once: the subscriber sees
// nothing until the lower layer's keyframe (LiveKit's FlagPauseOnDowngrade).
func (d *downTrack) setTarget(layer int, stop bool) {
	d.mu.Lock()
	d.target = layer
	stopped := stop && d.current > layer
	if stopped {
		d.current = -1
	}
	d.mu.Unlock()
	if stopped {
		d.flow.Forwarded("")
	}
}

// pad sends n padding-only packets (RFC 3550 §5.1) on the down track, if
// it may: after the subscriber reported on it, while it forwards a layer,
// and at a frame's end (LiveKit's WritePaddingRTP); false if it did not.
func (d *downTrack) pad(n int) bool {
	ssrc := d.track.SSRC()
	if ssrc == 0 {
		return false
	}
	d.mu.Lock()
	if !d.acked || d.current < 0 || !d.munger.started || !d.munger.lastMarker {
		d.mu.Unlock()
		return false
	}
	first, ts := d.munger.padding(n)
	if d.stream == nil || d.ssrc != ssrc {
		d.stream, d.ssrc = d.flow.Stream(ssrc), ssrc
	}
	stream := d.stream
	d.mu.Unlock()
	payload := media.Padding(paddingPayload)
	for i := range n {
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, Padding: true, SequenceNumber: first + uint16(i), Timestamp: ts}, Payload: payload}
		media.Send(&d.track, stream, &pkt)
	}
	return true
}

// acknowledged records that the subscriber reported on ssrc, the down
// track's.
func (d *downTrack) acknowledged(ssrc uint32) {
	d.mu.Lock()
	if ssrc == d.track.SSRC() {
		d.acked = true
	}
	d.mu.Unlock()
}
