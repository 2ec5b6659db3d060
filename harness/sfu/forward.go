package sfu

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/icelab/icelab/harness/media"
	"github.com/pion/rtp"
)

// publication is one participant's track as the node forwards it: the
// upstream stream feeding it now, and one down track per subscriber.
//
// A publisher that reconnects (an ICE restart keeps its stream; a new peer
// connection after transport fallback, or a resumed session, starts a new
// one with a new SSRC and a random first sequence number) makes its newest
// stream the source; packets still arriving on an older one are dropped,
// as an SFU drops a replaced publication's.
type publication struct {
	name string // "alice/audio"

	mu      sync.Mutex
	source  uint32 // the upstream SSRC forwarded
	sources int    // how many streams have been the source
	// up is the source's peer connection and its stream at the node, for
	// keyframe requests (see requestKeyframe), and when the node last
	// sent it one.
	up      upstream
	lastPLI time.Time
	downs   map[string]*downTrack
	// list is downs as a slice, replaced (never modified) on each
	// subscription, so that forwarding a packet allocates nothing.
	list []*downTrack
}

func newPublication(name string) *publication {
	return &publication{name: name, downs: map[string]*downTrack{}}
}

// setSource makes ssrc the stream forwarded from now on.
func (p *publication) setSource(ssrc uint32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.source != ssrc {
		p.source = ssrc
		p.sources++
	}
}

// subscribe makes d the subscriber's copy of the publication, replacing
// the one an earlier peer connection of the subscriber had.
func (p *publication) subscribe(subscriber string, d *downTrack) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.downs[subscriber] = d
	// In subscriber order, not map order: the order the node writes to
	// subscribers is the order their packets meet in shared queues, and
	// it must be the same every run.
	p.list = make([]*downTrack, 0, len(p.downs))
	for _, name := range slices.Sorted(maps.Keys(p.downs)) {
		p.list = append(p.list, p.downs[name])
	}
}

// forward sends a packet of upstream stream ssrc to every subscriber, if
// that stream is the source.
func (p *publication) forward(ssrc uint32, pkt *rtp.Packet) {
	p.mu.Lock()
	if ssrc != p.source {
		p.mu.Unlock()
		return
	}
	downs := p.list
	p.mu.Unlock()
	// Each down track has long left the cache when the next packet comes
	// (at 64 clients a node writes to some 4,000 in turn), and reading
	// its track's SSRC stalled each write on two misses, the down track
	// and the track's binding. Read a batch of SSRCs first, in a loop
	// that does nothing else, so that their loads are in flight together.
	var bound [forwardBatch]uint32
	for start := 0; start < len(downs); start += forwardBatch {
		batch := downs[start:min(start+forwardBatch, len(downs))]
		for i, d := range batch {
			bound[i] = d.track.SSRC()
		}
		for i, d := range batch {
			d.write(ssrc, bound[i], pkt)
		}
	}
}

// forwardBatch is how many down tracks forward reads the SSRC of at once.
const forwardBatch = 16

// downTrack is one subscriber's copy of a publication: a track of its own on
// the subscriber's peer connection (its own SSRC), with sequence numbers and
// timestamps rewritten by a munger so that the subscriber sees one
// continuous stream whichever upstream stream feeds it. Header extensions
// are not forwarded: the subscriber's peer connection negotiated its own.
type downTrack struct {
	// The fields a packet touches come first, the track's binding right
	// after them (track is last, its binding first): at 64 clients a node
	// writes to some 4,000 down tracks in turn, each long out of the cache
	// when its next packet comes, so each line a packet touches costs.
	mu     sync.Mutex
	munger munger
	// stream is the flow's stream of the track's SSRC, ssrc, kept so that
	// a packet does not look it up.
	stream    *media.Stream
	ssrc      uint32
	clockRate float64
	flow      *media.Flow // counted as sent here, received at the subscriber
	track     media.Track // what the subscriber's peer connection sends
}

// newDownTrack returns a down track of the kind for the publication of
// publisher; its track is the one to add to the subscriber's peer
// connection, its flow is to be set before it is subscribed.
func newDownTrack(kind, publisher string) *downTrack {
	d := &downTrack{clockRate: float64(media.Codec(kind).ClockRate)}
	d.track.Init(kind, kind, publisher)
	return d
}

// write rewrites a packet of upstream stream source for the subscriber and
// sends it; ssrc is the track's SSRC, read just before.
func (d *downTrack) write(source, ssrc uint32, pkt *rtp.Packet) {
	if ssrc == 0 {
		return // not negotiated yet
	}
	out := packets.Get().(*rtp.Packet)
	defer packets.Put(out)
	*out = rtp.Packet{Header: pkt.Header, Payload: pkt.Payload}
	out.Extension, out.ExtensionProfile, out.Extensions = false, 0, nil
	d.mu.Lock()
	d.munger.rewrite(source, &out.Header, time.Now(), d.clockRate)
	if d.stream == nil || d.ssrc != ssrc {
		d.stream, d.ssrc = d.flow.Stream(ssrc), ssrc
	}
	stream := d.stream
	d.mu.Unlock()
	// Written outside the lock: a write may wait on the network, and inside
	// a synctest bubble a goroutine waiting on a mutex would stop the clock.
	media.Send(&d.track, stream, out)
}

// packets are the packets down tracks rewrite into: pion keeps none once
// a write returns (the NACK history copies the header), so a packet's
// copy per subscriber allocates nothing.
var packets = sync.Pool{New: func() any { return new(rtp.Packet) }}

// munger rewrites the sequence numbers and timestamps of the upstream
// streams that feed one down track into one continuous stream, as an SFU's
// RTP munger does. When the source changes, its next packet takes the
// sequence number after the last one sent and a timestamp advanced by the
// time since that packet (at the codec's clock rate, at least one tick);
// within one source, sequence numbers and timestamps keep their distances,
// so loss and reordering upstream show downstream as they happened.
type munger struct {
	started   bool
	source    uint32
	seqOffset uint16
	tsOffset  uint32
	lastSeq   uint16 // the highest sequence number sent
	lastTS    uint32
	lastAt    time.Time
}

// rewrite rewrites h, a packet of upstream stream source arriving at now.
func (m *munger) rewrite(source uint32, h *rtp.Header, now time.Time, clockRate float64) {
	if m.started && source != m.source {
		step := uint32(max(1, now.Sub(m.lastAt).Seconds()*clockRate))
		m.seqOffset = m.lastSeq + 1 - h.SequenceNumber
		m.tsOffset = m.lastTS + step - h.Timestamp
	}
	m.source = source
	h.SequenceNumber += m.seqOffset
	h.Timestamp += m.tsOffset
	if !m.started || seqNewer(h.SequenceNumber, m.lastSeq) {
		m.started = true
		m.lastSeq, m.lastTS, m.lastAt = h.SequenceNumber, h.Timestamp, now
	}
}

// seqNewer reports whether RTP sequence number a comes after b.
func seqNewer(a, b uint16) bool { return a != b && a-b < 0x8000 }
