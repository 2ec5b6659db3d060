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
// upstream streams feeding it now, one per simulcast layer (one in all
// without simulcast), and one down track per subscriber.
//
// A publisher that reconnects (an ICE restart keeps its streams; a new
// peer connection after transport fallback, or a resumed session, starts
// new ones with new SSRCs and random first sequence numbers) makes its
// newest stream of each layer the source; packets still arriving on an
// older one are dropped, as an SFU drops a replaced publication's.
type publication struct {
	name string      // "alice/audio"
	at   *media.Flow // its flow at the node

	mu sync.Mutex
	// sources are the upstream SSRCs forwarded, by layer.
	sources   [maxLayers]uint32
	simulcast bool // the publisher sends layers
	// up is each layer's source with the publisher's peer connection it
	// arrives on and its stream at the node, for keyframe requests (see
	// requestKeyframe), and when the node last sent it one.
	up      [maxLayers]upstream
	lastPLI [maxLayers]time.Time
	// rates measure each layer's bitrate as it arrives (simulcast only).
	rates [maxLayers]layerRate
	downs map[string]*downTrack
	// list is downs as a slice, replaced (never modified) on each
	// subscription, so that forwarding a packet allocates nothing.
	list []*downTrack
}

func newPublication(name string, simulcast bool, at *media.Flow) *publication {
	return &publication{name: name, at: at, simulcast: simulcast, downs: map[string]*downTrack{}}
}

// setSource makes ssrc the stream of the layer forwarded from now on.
func (p *publication) setSource(layer int, ssrc uint32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sources[layer] = ssrc
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
// that stream is a layer's source; each down track takes the packets of
// the layer it forwards.
func (p *publication) forward(ssrc uint32, pkt *rtp.Packet, size int) {
	padding := len(pkt.Payload) == 0
	p.mu.Lock()
	layer := slices.Index(p.sources[:], ssrc)
	if layer < 0 {
		p.mu.Unlock()
		return
	}
	if p.simulcast {
		p.rates[layer].add(time.Now(), size, padding)
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
			if padding {
				// A sender's padding is for its own link: an SFU
				// forwards media only, closing the gap it leaves in
				// the numbers (LiveKit's forwarder drops padding-only
				// packets and its munger's PacketDropped takes their
				// numbers out).
				d.skip(layer, ssrc, pkt.SequenceNumber)
				continue
			}
			d.write(layer, ssrc, bound[i], pkt)
		}
	}
}

// forwardBatch is how many down tracks forward reads the SSRC of at once.
const forwardBatch = 16

// layerRates returns each layer's bitrate over the last whole window, in
// bits per second (zero: nothing arrived on it).
func (p *publication) layerRates(now time.Time) [maxLayers]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out [maxLayers]int
	for i := range p.rates {
		out[i] = p.rates[i].bitrate(now)
	}
	return out
}

// downTrack is one subscriber's copy of a publication: a track of its own on
// the subscriber's peer connection (its own SSRC), with sequence numbers and
// timestamps rewritten by a munger so that the subscriber sees one
// continuous stream whichever upstream stream feeds it. Header extensions
// are not forwarded: the subscriber's peer connection negotiated its own.
//
// Of a simulcast publication it forwards one layer, current, and moves to
// the layer the node's allocation chose, target, at that layer's next
// keyframe, as LiveKit's simulcast layer selector does
// (pkg/sfu/videolayerselector/simulcast.go); until then the current layer
// flows, unless the move is down for want of bandwidth (see setTarget).
type downTrack struct {
	// The fields a packet touches come first, the track's binding right
	// after them (track is last, its binding first): at 64 clients a node
	// writes to some 4,000 down tracks in turn, each long out of the cache
	// when its next packet comes, so each line a packet touches costs.
	mu     sync.Mutex
	munger munger
	// current is the layer forwarded (-1: none, waiting for the target's
	// keyframe), target the layer to move to; both 0 without simulcast.
	current, target int
	// stream is the flow's stream of the track's SSRC, ssrc, kept so that
	// a packet does not look it up.
	stream    *media.Stream
	ssrc      uint32
	clockRate float64
	flow      *media.Flow // counted as sent here, received at the subscriber
	// acked: the subscriber reported on the track's SSRC (a receiver
	// report), so padding probes may go on it (LiveKit's downtrack.go sends
	// none before).
	acked bool
	track media.Track // what the subscriber's peer connection sends
}

// newDownTrack returns a down track of the kind for the publication of
// publisher; its track is the one to add to the subscriber's peer
// connection, its flow is to be set before it is subscribed. Of a
// simulcast publication it starts at the top layer's first keyframe (the
// allocator's first choice: every layer while nothing says the subscriber
// cannot take it).
func newDownTrack(kind, publisher string, simulcast bool) *downTrack {
	d := &downTrack{clockRate: float64(media.Codec(kind).ClockRate)}
	if simulcast {
		d.current, d.target = -1, maxLayers-1
	}
	d.track.Init(kind, kind, publisher)
	return d
}

// write rewrites a packet of upstream stream source, of the layer, for the
// subscriber and sends it, if the down track forwards that layer or moves
// to it at this packet; ssrc is the track's SSRC, read just before.
func (d *downTrack) write(layer int, source, ssrc uint32, pkt *rtp.Packet) {
	if ssrc == 0 {
		return // not negotiated yet
	}
	d.mu.Lock()
	switched := false
	if layer != d.current {
		if layer != d.target || !media.StartsKeyframe(pkt.Payload) {
			d.mu.Unlock()
			return
		}
		d.current, switched = layer, true
	}
	out := packets.Get().(*rtp.Packet)
	defer packets.Put(out)
	*out = rtp.Packet{Header: pkt.Header, Payload: pkt.Payload}
	out.Extension, out.ExtensionProfile, out.Extensions = false, 0, nil
	d.munger.rewrite(source, &out.Header, time.Now(), d.clockRate)
	if d.stream == nil || d.ssrc != ssrc {
		d.stream, d.ssrc = d.flow.Stream(ssrc), ssrc
	}
	stream := d.stream
	d.mu.Unlock()
	if switched {
		d.flow.Forwarded(media.LayerRID(layer))
	}
	// Written outside the lock: a write may wait on the network, and inside
	// a synctest bubble a goroutine waiting on a mutex would stop the clock.
	media.Send(&d.track, stream, out)
}

// skip takes a packet of upstream stream source, of the layer, that the
// down track does not send out of the sequence numbers it forwards.
func (d *downTrack) skip(layer int, source uint32, seq uint16) {
	d.mu.Lock()
	if layer == d.current {
		d.munger.skip(source, seq)
	}
	d.mu.Unlock()
}

// packets are the packets down tracks rewrite into: pion keeps none once
// a write returns (the NACK history copies the header), so a packet's
// copy per subscriber allocates nothing.
var packets = sync.Pool{New: func() any { return new(rtp.Packet) }}

// munger rewrites the sequence numbers and timestamps of the upstream
// streams that feed one down track into one continuous stream, as an SFU's
// RTP munger does. When the source changes, its next packet takes the
// sequence number after the last one sent and a timestamp advanced by the
// time since that packet (at the codec's clock rate, at least one tick;
// LiveKit maps a new layer's timestamps through the layers' sender reports,
// pkg/sfu/forwarder.go, which the arrival time stands in for here);
// within one source, sequence numbers and timestamps keep their distances,
// so loss and reordering upstream show downstream as they happened.
// Padding the node adds between frames takes sequence numbers of its own
// (see padding).
type munger struct {
	started   bool
	source    uint32
	seqOffset uint16
	tsOffset  uint32
	lastSeq   uint16 // the highest sequence number sent
	lastTS    uint32
	lastAt    time.Time
	// lastMarker: the highest packet sent ended a frame.
	lastMarker bool
	// After padding or a skipped packet, upstream packets of the source
	// older than padFrom (late ones of the frames before it) keep the
	// offset they had, prevOffset, as LiveKit's munger keeps the ranges
	// of numbers it changed.
	padded     bool
	padFrom    uint16
	prevOffset uint16
}

// rewrite rewrites h, a packet of upstream stream source arriving at now.
func (m *munger) rewrite(source uint32, h *rtp.Header, now time.Time, clockRate float64) {
	if m.started && source != m.source {
		step := uint32(max(1, now.Sub(m.lastAt).Seconds()*clockRate))
		m.seqOffset = m.lastSeq + 1 - h.SequenceNumber
		m.tsOffset = m.lastTS + step - h.Timestamp
		m.padded = false
	}
	m.source = source
	if m.padded {
		switch d := h.SequenceNumber - m.padFrom; {
		case d >= 0x8000: // older than the padding: never the newest
			h.SequenceNumber += m.prevOffset
			h.Timestamp += m.tsOffset
			return
		case d > padMemory:
			m.padded = false // long past it, before the numbers wrap
		}
	}
	h.SequenceNumber += m.seqOffset
	h.Timestamp += m.tsOffset
	if !m.started || seqNewer(h.SequenceNumber, m.lastSeq) {
		m.started = true
		m.lastSeq, m.lastTS, m.lastAt, m.lastMarker = h.SequenceNumber, h.Timestamp, now, h.Marker
	}
}

// skip takes upstream packet seq of source out of the numbers sent: when
// it is the next one, the packets after it shift back by one, so that the
// subscriber sees no gap where nothing was lost (LiveKit's rtpmunger
// PacketDropped). One that arrives out of order leaves its gap.
func (m *munger) skip(source uint32, seq uint16) {
	if !m.started || source != m.source || seq != m.lastSeq+1-m.seqOffset {
		return
	}
	m.padded, m.prevOffset = true, m.seqOffset
	m.padFrom = seq + 1
	m.seqOffset--
}

// padding takes n sequence numbers after the last one sent for padding
// packets, and returns the first and the timestamp they carry, the last
// frame's (LiveKit's rtpmunger UpdateAndGetPaddingSnTs). The upstream
// packets after them shift by n.
func (m *munger) padding(n int) (first uint16, ts uint32) {
	first = m.lastSeq + 1
	m.padded, m.prevOffset = true, m.seqOffset
	m.padFrom = m.lastSeq + 1 - m.seqOffset // the next upstream packet's number
	m.seqOffset += uint16(n)
	m.lastSeq += uint16(n)
	return first, m.lastTS
}

// padMemory is how far past padding a late packet of the frames before it
// is still told apart.
const padMemory = 4096

// seqNewer reports whether RTP sequence number a comes after b.
func seqNewer(a, b uint16) bool { return a != b && a-b < 0x8000 }
