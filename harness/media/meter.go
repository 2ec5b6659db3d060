package media

import (
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Kinds of flow.
const (
	Audio = "audio"
	Video = "video"
	Data  = "data"
)

// Directions name where a flow is counted as received.
const (
	// AtNode: a client's publication, received by the media node.
	AtNode = "at-node"
	// Received: received by the flow's owner (a subscription, or the
	// node's echo of a client's data).
	Received = "received"
	// AtRemote: a peer's publication, received by the remote peer.
	AtRemote = "at-remote"
)

// OutageGap is the longest silence between two packets of a flow that is
// not an outage. Every flow the harness sends has a packet at least every
// 100 ms, so a second without one is media that stopped.
const OutageGap = time.Second

// FlowKey names a flow in a call: whose result lists it, the track it
// carries, and where it is received.
type FlowKey struct {
	Owner     string // a client, or a peer's end ("alice→bob")
	Track     string // "alice/audio", "alice/data", "node/data"
	Kind      string // Audio, Video or Data
	Direction string // AtNode, Received or AtRemote
}

// Meter is a call's media accounting: every flow, by key. Safe for
// concurrent use.
type Meter struct {
	clock func() time.Duration

	mu    sync.Mutex
	flows map[FlowKey]*Flow
}

// NewMeter returns a meter whose clock tells the offset of now from the
// start of the call.
func NewMeter(clock func() time.Duration) *Meter {
	return &Meter{clock: clock, flows: map[FlowKey]*Flow{}}
}

// Flow returns the flow k, made on first use.
func (m *Meter) Flow(k FlowKey) *Flow {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.flows[k]
	if f == nil {
		f = &Flow{clock: m.clock, bySSRC: map[uint32]*Stream{}}
		switch k.Kind {
		case Audio:
			f.clockRate, f.freezeGap = AudioClockRate, FreezeGap(AudioInterval)
		case Video:
			f.clockRate, f.freezeGap, f.video = VideoClockRate, FreezeGap(VideoInterval), true
		}
		m.flows[k] = f
	}
	return f
}

// Share lists flow under key too: a peer-to-peer flow is the sender's end's
// (AtRemote) and the receiver's end's (Received), one flow counted once.
func (m *Meter) Share(key FlowKey, flow *Flow) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.flows[key] = flow
}

// MarkRecovery remembers the packet counts of an owner's flows at its
// recovery, for FlowStats.AfterRecoveryPackets.
func (m *Meter) MarkRecovery(owner string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, f := range m.flows {
		if k.Owner == owner {
			f.mark.Store(f.packets.Load())
		}
	}
}

// Results returns an owner's flows up to end, the end of the call, ordered
// by direction and track.
func (m *Meter) Results(owner string, end time.Duration) []FlowStats {
	m.mu.Lock()
	var keys []FlowKey
	for k := range m.flows {
		if k.Owner == owner {
			keys = append(keys, k)
		}
	}
	flows := make([]*Flow, len(keys))
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].Direction+keys[i].Track < keys[j].Direction+keys[j].Track
	})
	for i, k := range keys {
		flows[i] = m.flows[k]
	}
	m.mu.Unlock()
	out := make([]FlowStats, 0, len(keys))
	for i, k := range keys {
		out = append(out, flows[i].stats(k, end))
	}
	return out
}

// Flow is one publication on one leg of a call, carried by one RTP stream
// per SSRC (or, for data, by data-channel messages). Safe for concurrent
// use.
type Flow struct {
	clock     func() time.Duration
	clockRate float64       // zero for data
	freezeGap time.Duration // zero for data
	// video: freezes are gaps between frames shown, not packets.
	video bool

	sent, packets, bytes atomic.Uint64
	mark                 atomic.Uint64 // packets at the last recovery

	mu          sync.Mutex
	seen        bool
	first, last time.Duration
	gaps        []Outage
	freezes     []Outage
	// shown: a video frame was shown, the last at lastShown.
	shown     bool
	lastShown time.Duration
	streams   []*Stream
	bySSRC    map[uint32]*Stream

	rates senderRates // what the sender encoded, at the sender's end
}

// Stream returns the flow's stream with the SSRC, made on first use.
func (f *Flow) Stream(ssrc uint32) *Stream {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.bySSRC[ssrc]
	if s == nil {
		s = &Stream{flow: f, ssrc: ssrc, clock: f.clock}
		f.bySSRC[ssrc] = s
		f.streams = append(f.streams, s)
	}
	return s
}

// SentMessage counts a data-channel message sent on the flow.
func (f *Flow) SentMessage() { f.sent.Add(1) }

// ReceivedMessage counts a data-channel message of size bytes arriving now.
func (f *Flow) ReceivedMessage(size int) { f.arrived(size, f.clock()) }

// arrived counts a packet (or message) arriving at t and notes the
// silences before it.
func (f *Flow) arrived(size int, t time.Duration) {
	f.packets.Add(1)
	f.bytes.Add(uint64(size))
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.seen {
		f.seen, f.first = true, t
	} else {
		if t-f.last > OutageGap {
			f.gaps = append(f.gaps, Outage{Start: f.last, End: t})
		}
		if f.freezeGap > 0 && !f.video && t-f.last > f.freezeGap {
			f.freezes = append(f.freezes, Outage{Start: f.last, End: t})
		}
	}
	f.last = max(f.last, t)
}

// rendered notes a video frame of one of the flow's streams shown at t:
// a gap since the frame shown before it, or since the first packet if it
// is the first, longer than the freeze gap is a freeze.
func (f *Flow) rendered(t time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	from := f.lastShown
	if !f.shown {
		from = f.first
	}
	if t-from > f.freezeGap {
		f.freezes = append(f.freezes, Outage{Start: from, End: t})
	}
	f.shown = true
	f.lastShown = max(f.lastShown, t)
}

// FlowStats is a flow as a result.
type FlowStats struct {
	Track     string // "alice/audio", "alice/data"
	Kind      string // audio, video, data
	Direction string // at-node, received, at-remote
	// Sent is the packets (data: messages) its sender sent on this leg;
	// Packets and Bytes the media that arrived, each packet once (the
	// packets without media are Quality's PaddingPackets).
	Sent    uint64
	Packets uint64
	Bytes   uint64
	// AfterRecoveryPackets counts what arrived after the owner's last
	// recovery, if any.
	AfterRecoveryPackets uint64
	// First and Last are when the first and the last media packet
	// arrived; both zero when none did.
	First, Last time.Duration `json:",omitempty"`
	// Outages are the flow's media silences longer than a second after its
	// first packet, the last one Ongoing if it had stopped by the end.
	Outages []Outage `json:",omitempty"`
	// Quality sums an RTP flow's streams (counts, loss) and takes the
	// worst of them (jitter); freezes are the flow's, across streams. Nil
	// for data.
	Quality *Quality `json:",omitempty"`
	// Streams are an RTP flow's streams in the order they began, each with
	// its own statistics.
	Streams []StreamStats `json:",omitempty"`
}

// NothingReceived reports whether no packet of the flow arrived.
func (fs FlowStats) NothingReceived() bool { return fs.Packets == 0 }

// FlowingAtEnd reports whether the flow carried packets and had not
// stopped for good by the end of the call.
func (fs FlowStats) FlowingAtEnd() bool {
	if fs.Packets == 0 {
		return false
	}
	n := len(fs.Outages)
	return n == 0 || !fs.Outages[n-1].Ongoing
}

func (f *Flow) stats(k FlowKey, end time.Duration) FlowStats {
	p := f.packets.Load()
	fs := FlowStats{Track: k.Track, Kind: k.Kind, Direction: k.Direction, Packets: p, Bytes: f.bytes.Load(),
		AfterRecoveryPackets: p - f.mark.Load()}
	f.mu.Lock()
	if f.seen {
		fs.First, fs.Last = f.first, f.last
		fs.Outages = slices.Clone(f.gaps)
		if end-f.last > OutageGap {
			fs.Outages = append(fs.Outages, Outage{Start: f.last, End: end, Ongoing: true})
		}
	}
	streams := slices.Clone(f.streams)
	freezes := slices.Clone(f.freezes)
	seen, last := f.seen, f.last
	if f.video {
		// What was shown last, or the first packet if nothing was.
		last = f.first
		if f.shown {
			last = f.lastShown
		}
	}
	f.mu.Unlock()
	if f.clockRate == 0 {
		fs.Sent = f.sent.Load()
		return fs
	}
	seconds := int(end / time.Second)
	if end%time.Second != 0 {
		seconds++
	}
	q := &Quality{Freezes: freezes}
	if seen && end-last > f.freezeGap {
		q.Freezes = append(q.Freezes, Outage{Start: last, End: end, Ongoing: true})
	}
	for _, fr := range q.Freezes {
		q.LongestFreeze = max(q.LongestFreeze, fr.Duration())
	}
	var judgedSent uint64
	var rtts, jitterMeans []time.Duration
	for _, s := range streams {
		st := s.stats(end, seconds)
		fs.Streams = append(fs.Streams, st)
		sq := st.Quality
		q.Sent += sq.Sent
		q.Packets += sq.Packets
		q.Lost += sq.Lost
		q.LostLate += sq.LostLate
		q.InFlight += sq.InFlight
		q.Duplicates += sq.Duplicates
		q.PaddingPackets += sq.PaddingPackets
		q.PaddingBytes += sq.PaddingBytes
		q.FramesReceived += sq.FramesReceived
		q.FramesDecoded += sq.FramesDecoded
		q.FramesDropped += sq.FramesDropped
		q.KeyFramesDecoded += sq.KeyFramesDecoded
		q.PLIs += sq.PLIs
		q.JudgedUntil = sq.JudgedUntil
		q.Jitter = max(q.Jitter, sq.Jitter)
		q.RTT = max(q.RTT, sq.RTT)
		if sq.RTTMean > 0 {
			rtts = append(rtts, sq.RTTMean)
		}
		if sq.JitterMean > 0 {
			jitterMeans = append(jitterMeans, sq.JitterMean)
		}
		for i, sec := range sq.Seconds {
			if i < st.judgedSeconds() {
				judgedSent += sec.Sent
			}
			for len(q.Seconds) <= i {
				q.Seconds = append(q.Seconds, Second{At: time.Duration(len(q.Seconds)) * time.Second})
			}
			out := &q.Seconds[i]
			out.Sent += sec.Sent
			out.Lost += sec.Lost
			out.LostLate += sec.LostLate
			out.Packets += sec.Packets
			out.Bytes += sec.Bytes
			out.Frames += sec.Frames
			out.PLIs += sec.PLIs
			out.Jitter = max(out.Jitter, sec.Jitter)
			if sec.RTT > 0 {
				out.RTT = sec.RTT
			}
		}
	}
	// What was sent or shown after the end (a writer blocked on a stalled
	// connection until teardown) is not the call's.
	if len(q.Seconds) > seconds {
		q.Seconds = q.Seconds[:seconds]
	}
	f.rates.addTo(q, seconds)
	fs.Sent = q.Sent
	q.NothingReceived = q.Packets == 0
	if judgedSent > 0 && !q.NothingReceived {
		q.LossRate = float64(q.Lost) / float64(judgedSent)
	}
	_, q.RTTMean = rttStats(rtts)
	_, q.JitterMean = rttStats(jitterMeans)
	if seen && end > fs.First {
		q.Bitrate = float64(fs.Bytes*8) / (end - fs.First).Seconds()
	}
	q.Grades = grade(q, k.Kind, fs.First)
	for _, g := range q.Grades {
		if q.Grade == "" || g.Grade.Rank() < q.Grade.Rank() {
			q.Grade = g.Grade
		}
	}
	fs.Quality = q
	return fs
}

// judgedSeconds is how many of the stream's seconds loss is judged on.
func (st StreamStats) judgedSeconds() int { return int(st.Quality.JudgedUntil / time.Second) }
