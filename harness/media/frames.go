package media

import "time"

// A video receiver shows frames, not packets: a frame is shown when every
// packet of it has arrived and the decoder can decode it. frames assembles
// a VP8 stream's frames from its packets, as libwebrtc's receiver does, so
// that a freeze is what a viewer sees: a link that carries a third of a
// stream delivers packets all the time and almost no frame.
//
// What it models, from libwebrtc (modules/video_coding and api/video):
//   - A frame is the packets of one RTP timestamp; its first packet has the
//     VP8 payload descriptor's S bit with partition index 0 (RFC 7741
//     §4.2), its last the RTP marker bit. It is complete when every
//     sequence number from its first packet to its last has arrived, in any
//     order, retransmissions included (PacketBuffer).
//   - A keyframe is a frame whose VP8 payload header, in its first packet,
//     has the P bit clear (RFC 7741 §4.3).
//   - Without a picture ID, libwebrtc finds a VP8 frame's reference by
//     sequence numbers alone (RtpSeqNumOnlyRefFinder::ManageFrameInternal,
//     rtp_seq_num_only_ref_finder.cc): a keyframe starts a group of
//     pictures; an inter frame is handed to the frame buffer only when the
//     packet before its first is the last packet of the group's last frame,
//     and is stashed otherwise. The frame buffer (api/video/frame_buffer.cc,
//     FrameBuffer::InsertFrame) refuses a frame older than the last decoded
//     one. So a complete frame is decodable when it is a keyframe newer than
//     the last decoded frame, or an inter frame whose first packet follows
//     the last decoded frame's last packet (or the padding after it, see
//     below); decoding one may make the next stashed one decodable, and so
//     on.
//   - A packet with no payload once its padding is taken off (RFC 3550
//     §5.1: a padding-only packet, such as a sender's or an SFU's
//     bandwidth probe; or a keep-alive) takes a sequence number between
//     frames and belongs to no frame: libwebrtc hands it to the reference
//     finder and the packet buffer, not to a frame
//     (RtpVideoStreamReceiver2::ReceivePacket, payload_size() == 0, and
//     NotifyReceiverOfEmptyPacket, video/rtp_video_stream_receiver2.cc).
//     The packet buffer stores nothing for it (PacketBuffer::InsertPadding,
//     packet_buffer.cc), so it never begins or completes a frame and is
//     never a keyframe. The reference finder counts it toward continuity
//     (RtpSeqNumOnlyRefFinder::PaddingReceived and
//     UpdateLastPictureIdWithPadding): the group of pictures' last
//     sequence number "with padding" runs on through the padding packets
//     that follow its last frame's last packet without a gap, so the next
//     inter frame, whose first packet follows the padding, is continuous.
//     Padding it cannot use yet — it arrived before the frame it follows,
//     reordered or while that frame waits on a retransmission, or after a
//     gap — is stashed (stashed_padding_) and used when a frame is handed
//     on (ManageFrameInternal calls UpdateLastPictureIdWithPadding), until
//     padding more than kMaxPaddingAge (100) sequence numbers newer
//     arrives and erases it. A lost padding packet is a gap like any other:
//     the frame after it waits, for a retransmission or a keyframe.
//
// What it leaves out: decode errors (a decodable frame always decodes),
// temporal layers and picture IDs (pion's payloader sends none), and the
// decode scheduler's dropping of decodable frames that are too late to
// show (every decodable frame is shown).
//
// Frames are kept in a ring of the most recent ones, not a map of all:
// frameSlots frames, 2.1 s at 30 frames a second, longer than a sender's
// NACK history holds (NACKHistory: 1.4 s of the harness's video), so a
// frame that falls out of the ring waits for a packet no sender still has.
const frameSlots = 64

// frame is one RTP timestamp's packets as they arrived.
type frame struct {
	// first and last are the packet indexes (Stream.index) of the frame's
	// first and last packet, -1 until that packet arrives; got counts its
	// distinct packets that arrived.
	first, last, got int32
	ts               uint32
	// earliest is the arrival of its first packet to arrive.
	earliest time.Duration
	flags    uint8
}

const (
	frameUsed     = 1 << iota
	frameKey      // its first packet says keyframe
	frameLate     // a packet of it arrived after a packet with a higher index
	frameComplete // every packet of it arrived
	frameDecoded  // decoded (or, a keyframe having been decoded after it, never to be)
)

func (f *frame) is(flag uint8) bool { return f.flags&flag != 0 }

// frames is a video stream's frame assembly at its receiver. The zero
// value is ready; its owner (a Stream) serialises its use.
type frames struct {
	ring [frameSlots]frame
	// newest is the slot of the most recently begun frame; next the slot
	// the next new frame takes (the oldest).
	newest, next int
	// Whether a frame was decoded, and the last one's timestamp; lastIdx
	// is its last packet's index, moved on through the padding-only
	// packets that followed it without a gap (libwebrtc's
	// last_picture_id_with_padding_gop): the next inter frame's first
	// packet is the one after it.
	decoded    bool
	lastIdx    int32
	lastTS     uint32
	lastRender time.Duration
	// delay is the current playout delay, moving toward the stream's
	// target (see decode).
	delay time.Duration
	// received counts complete frames, decodedN decoded ones, keys decoded
	// keyframes; lateFrames the frames that needed a late packet
	// (libwebrtc's count of NACKed frames, see playoutDelay).
	received, decodedN, keys, lateFrames uint64
	kf                                   keyframeRequests
	// padding is the padding-only packets not used yet.
	padding paddingStash
}

// maxPaddingAge is how far behind the newest padding-only packet a stashed
// one is kept: libwebrtc's RtpSeqNumOnlyRefFinder::kMaxPaddingAge, in
// sequence numbers (rtp_seq_num_only_ref_finder.h).
const maxPaddingAge = 100

// paddingStash is the padding-only packets that arrived and were not yet
// used toward a frame's continuity (libwebrtc's stashed_padding_): a
// window of bits over the packet indexes up to the newest one, wide enough
// for maxPaddingAge. Fixed size, so that a stream's padding allocates
// nothing. The zero value is empty.
type paddingStash struct {
	bits [paddingWindow / 64]uint64
	// newest is the highest index added; none were before any.
	newest int32
	any    bool
}

// paddingWindow is how many indexes the stash's bits cover: the newest
// and, behind it, at least maxPaddingAge more.
const paddingWindow = 128

func (p *paddingStash) bit(i int32) (word int, mask uint64) {
	j := uint32(i) % paddingWindow
	return int(j / 64), 1 << (j % 64)
}

// add stashes padding packet i. A packet newer than the newest moves the
// window on, forgetting what falls out of it; one already out of it (more
// than paddingWindow behind the newest) is not kept.
func (p *paddingStash) add(i int32) {
	switch {
	case !p.any:
		p.any, p.newest = true, i
	case i > p.newest:
		if i-p.newest >= paddingWindow {
			p.bits = [paddingWindow / 64]uint64{}
		} else {
			for k := range i - p.newest {
				w, m := p.bit(p.newest + 1 + k)
				p.bits[w] &^= m
			}
		}
		p.newest = i
	case p.newest-i >= paddingWindow:
		return
	}
	w, m := p.bit(i)
	p.bits[w] |= m
}

// has reports whether padding packet i is stashed: it arrived, and no
// padding packet more than maxPaddingAge newer did (PaddingReceived erases
// the stashed ones older than that whenever padding arrives).
func (p *paddingStash) has(i int32) bool {
	if !p.any || i > p.newest || p.newest-i > maxPaddingAge {
		return false
	}
	w, m := p.bit(i)
	return p.bits[w]&m != 0
}

// vp8Start parses a VP8 RTP payload's descriptor (RFC 7741 §4.2): whether
// the packet begins a frame (S bit set, partition index 0) and, if so,
// whether the frame is a keyframe (the payload header's P bit, §4.3, is
// clear). A payload too short for its descriptor begins nothing.
func vp8Start(payload []byte) (start, key bool) {
	if len(payload) == 0 {
		return false, false
	}
	b := payload[0]
	if b&0x10 == 0 || b&0x0f != 0 { // S, PID
		return false, false
	}
	n := 1
	if b&0x80 != 0 { // X: extension byte
		if len(payload) < 2 {
			return false, false
		}
		x := payload[1]
		n = 2
		if x&0x80 != 0 { // I: picture ID, 7 or 15 bits (M)
			if len(payload) <= n {
				return false, false
			}
			if payload[n]&0x80 != 0 {
				n += 2
			} else {
				n++
			}
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			n++
		}
		if x&0x30 != 0 { // T or K: TID/Y/KEYIDX
			n++
		}
	}
	if len(payload) <= n {
		return false, false
	}
	return true, payload[n]&0x01 == 0
}

// newer reports whether RTP timestamp a comes after b.
func newer(a, b uint32) bool { return a != b && a-b < 1<<31 }

// slot returns the frame of timestamp ts, begun if new; nil for a frame
// older than the last decoded one, which no decoder would take.
func (fs *frames) slot(ts uint32, at time.Duration) *frame {
	if n := &fs.ring[fs.newest]; n.is(frameUsed) {
		if n.ts == ts {
			return n
		}
		if !newer(ts, n.ts) {
			// A packet of an earlier frame: look back through the ring.
			for k := 1; k < frameSlots; k++ {
				f := &fs.ring[(fs.newest-k+frameSlots)%frameSlots]
				if f.is(frameUsed) && f.ts == ts {
					return f
				}
			}
			// One that fell out of the ring: begun again, it would take
			// the slot of a newer frame (a keyframe on its way, say),
			// and a receiver stuck behind a lost frame would never get
			// out. One newer than the oldest frame the ring holds never
			// had a slot: every packet of it was lost, and this is a
			// retransmission (a frame of one packet, as a low simulcast
			// layer's are). It takes the oldest slot, older than it,
			// and the newest frame stays the newest.
			if o := &fs.ring[fs.next]; o.is(frameUsed) && !newer(ts, o.ts) {
				return nil
			}
			if fs.decoded && !newer(ts, fs.lastTS) {
				return nil
			}
			i := fs.next
			fs.next = (fs.next + 1) % frameSlots
			fs.ring[i] = frame{first: -1, last: -1, ts: ts, earliest: at, flags: frameUsed}
			return &fs.ring[i]
		}
	}
	if fs.decoded && !newer(ts, fs.lastTS) {
		return nil
	}
	i := fs.next
	fs.next = (fs.next + 1) % frameSlots
	fs.newest = i
	fs.ring[i] = frame{first: -1, last: -1, ts: ts, earliest: at, flags: frameUsed}
	return &fs.ring[i]
}

// renderer is told when each decoded frame is shown.
type renderer interface{ rendered(show time.Duration) }

// packet adds a packet of index idx (late: it arrived after one with a
// higher index), timestamp ts and the RTP marker bit, arriving at at, to
// its frame; out is told the show time of each frame it makes decodable,
// with target the playout delay the receiver aims at (see decode). It
// returns whether the packet began a keyframe, and whether it completed
// the stream's first complete frame and that frame is not a keyframe
// (libwebrtc then asks for one at once).
func (fs *frames) packet(idx int, ts uint32, marker, late bool, payload []byte, at, target time.Duration, out renderer) (keyPacket, firstNotKey bool) {
	f := fs.slot(ts, at)
	if f == nil || f.is(frameComplete|frameDecoded) {
		return false, false
	}
	start, key := vp8Start(payload)
	f.got++
	if start {
		f.first = int32(idx)
		if key {
			f.flags |= frameKey
		}
	}
	if marker {
		f.last = int32(idx)
	}
	if late {
		f.flags |= frameLate
	}
	if f.first < 0 || f.last < f.first || f.got != f.last-f.first+1 {
		return start && key, false
	}
	f.flags |= frameComplete
	fs.received++
	firstNotKey = fs.received == 1 && !f.is(frameKey)
	if f.is(frameLate) {
		fs.lateFrames++
	}
	fs.decode(f, at, target, out)
	return start && key, firstNotKey
}

// paddingPacket adds padding-only packet idx, arriving at at, as
// libwebrtc's RtpSeqNumOnlyRefFinder::PaddingReceived does: it is stashed
// and, if it follows the last decoded frame or the padding after it, moves
// lastIdx on through it and through the stashed padding after it; the
// inter frame that then follows may be decodable (see packet for target
// and out). Padding before the first decoded frame stays stashed for it.
func (fs *frames) paddingPacket(idx int, at, target time.Duration, out renderer) {
	i := int32(idx)
	fs.padding.add(i)
	if !fs.decoded || i != fs.lastIdx+1 {
		return
	}
	fs.lastIdx = i
	fs.skipPadding()
	fs.decode(fs.following(), at, target, out)
}

// skipPadding moves lastIdx on through the stashed padding-only packets
// that follow it without a gap (UpdateLastPictureIdWithPadding).
func (fs *frames) skipPadding() {
	for fs.padding.has(fs.lastIdx + 1) {
		fs.lastIdx++
	}
}

// following returns the complete, not yet decoded frame whose first packet
// follows lastIdx; nil if there is none.
func (fs *frames) following() *frame {
	next := fs.lastIdx + 1
	for i := range fs.ring {
		if o := &fs.ring[i]; o.is(frameComplete) && !o.is(frameDecoded) && o.first == next {
			return o
		}
	}
	return nil
}

// decodable reports whether complete frame f can be decoded now.
func (fs *frames) decodable(f *frame) bool {
	if !f.is(frameComplete) || f.is(frameDecoded) {
		return false
	}
	if f.is(frameKey) {
		return !fs.decoded || newer(f.ts, fs.lastTS)
	}
	return fs.decoded && f.first == fs.lastIdx+1
}

// maxDelayChange is how fast libwebrtc moves its playout delay toward its
// target: 100 ms per second of media (VCMTiming::UpdateCurrentDelay,
// kDelayMaxChangeMsPerS), so that a new delay shows as slow motion, not as
// a freeze.
const maxDelayChange = 100 * time.Millisecond

// decode decodes f, if it is decodable, and every stashed frame that then
// is, in turn, at at. Each is shown at the latest of at, its earliest
// packet's arrival plus the playout delay, and the frame shown before it;
// the playout delay moves toward target (see Stream.playoutDelay) by at
// most maxDelayChange per second of the frames' timestamps.
func (fs *frames) decode(f *frame, at, target time.Duration, out renderer) {
	for f != nil && fs.decodable(f) {
		if fs.decoded && newer(f.ts, fs.lastTS) {
			step := time.Duration(float64(f.ts-fs.lastTS) / VideoClockRate * float64(maxDelayChange))
			fs.delay = max(min(target, fs.delay+step), fs.delay-step)
		}
		f.flags |= frameDecoded
		fs.decoded, fs.lastIdx, fs.lastTS = true, f.last, f.ts
		fs.skipPadding()
		fs.decodedN++
		if f.is(frameKey) {
			fs.keys++
			// Frames before a keyframe are never decoded (FrameBuffer
			// erases them when it hands the keyframe out).
			for i := range fs.ring {
				if o := &fs.ring[i]; o.is(frameUsed) && newer(f.ts, o.ts) {
					o.flags |= frameDecoded
				}
			}
		}
		show := max(at, f.earliest+fs.delay, fs.lastRender)
		fs.lastRender = show
		fs.kf.decoded(at)
		out.rendered(show)
		f = fs.following()
	}
}
