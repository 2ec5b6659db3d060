package media

import (
	"context"
	"math"
	"time"

	"github.com/icelab/icelab/harness/gcc"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
)

// Media shapes, after the bandwidth table of LiveKit-style deployment
// guides: Opus audio at about 32 kbit/s, VP8 720p video at about 1.5 Mbit/s.
const (
	AudioInterval  = 20 * time.Millisecond
	AudioFrame     = 80 // bytes of Opus every 20 ms: 32 kbit/s
	AudioClockRate = 48000
	VideoInterval  = time.Second / 30
	VideoFrame     = 6250 // bytes a frame at 30 fps: 1.5 Mbit/s
	VideoClockRate = 90000
	DataInterval   = 100 * time.Millisecond
	DataMessage    = 256
	// RTPMTU is the largest RTP payload the packetizer makes.
	RTPMTU = 1200
)

// Kinds lists the media kinds of a publication, audio first.
func Kinds(audio, video bool) []string {
	var kinds []string
	if audio {
		kinds = append(kinds, Audio)
	}
	if video {
		kinds = append(kinds, Video)
	}
	return kinds
}

// Codec is the codec a kind is sent with.
func Codec(kind string) webrtc.RTPCodecCapability {
	if kind == Audio {
		return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: AudioClockRate, Channels: 2}
	}
	return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: VideoClockRate}
}

// CodecType is the pion codec type of a kind.
func CodecType(kind string) webrtc.RTPCodecType {
	if kind == Audio {
		return webrtc.RTPCodecTypeAudio
	}
	return webrtc.RTPCodecTypeVideo
}

// SenderSSRC returns the SSRC a sender sends its track with.
func SenderSSRC(s *webrtc.RTPSender) uint32 {
	if enc := s.GetParameters().Encodings; len(enc) > 0 {
		return uint32(enc[0].SSRC)
	}
	return 0
}

// Publish packetizes a frame of the kind every frame interval into RTP and
// writes it to track until ctx ends, while active says so (a connected
// peer connection, an unmuted microphone). Audio frames are AudioFrame
// bytes; video frames are what enc makes (nil: a fixed MaxVideoBitrate
// encoder). Each packet that goes out is counted on flow's stream of the
// track's SSRC, and each frame as encoded on flow.
func Publish(ctx context.Context, track *Track, kind string, flow *Flow, active func() bool, enc *Encoder) {
	var payloader rtp.Payloader = &codecs.OpusPayloader{}
	clockRate, interval := uint32(AudioClockRate), AudioInterval
	if kind == Video {
		payloader, clockRate, interval = &codecs.VP8Payloader{}, VideoClockRate, VideoInterval
		if enc == nil {
			enc = NewEncoder(nil, 0)
		}
	}
	// The track sets payload type and SSRC.
	sequencer := rtp.NewRandomSequencer()
	packetizer := rtp.NewPacketizer(RTPMTU, 0, 0, payloader, sequencer, clockRate)
	var prober Prober
	if enc != nil {
		prober = proberOf(enc.estimator)
	}
	samples := uint32(interval.Seconds() * float64(clockRate))
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	audio := make([]byte, AudioFrame)
	for i := range audio {
		audio[i] = byte(i)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if !active() {
			continue
		}
		ssrc := track.SSRC()
		if ssrc == 0 {
			continue // not negotiated yet
		}
		frame, target := audio, 0
		if enc != nil {
			frame, _ = enc.Frame()
			if enc.estimator != nil {
				target = enc.Target()
			}
		}
		flow.Encoded(len(frame), target)
		stream := flow.Stream(ssrc)
		var ts uint32
		for i, pkt := range packetizer.Packetize(frame, samples) {
			if i > 0 && target > 0 && !pace(ctx, pkt, target) {
				return
			}
			ts = pkt.Timestamp
			Send(track, stream, pkt)
		}
		if prober != nil && !probe(ctx, prober, track, stream, sequencer, ts) {
			return
		}
	}
}

// Prober is a congestion controller that probes the path with clusters of
// packets, as gcc.Estimator does at the start of a call.
type Prober interface {
	// NextProbe returns the bitrate of a cluster to send now, if one is
	// due, and starts it; EndProbe ends it.
	NextProbe() (rate int, ok bool)
	EndProbe()
}

// proberOf returns a congestion controller as a prober, nil if it is none.
func proberOf(e Estimator) Prober {
	p, _ := e.(Prober)
	return p
}

// probe sends the probe cluster p has due, if any, after a frame: at least
// gcc.ProbePackets padding-only packets (RFC 3550 §5.1) over at least
// gcc.ProbeDuration at the cluster's bitrate, on track's stream, numbered
// by seq and carrying the last frame's timestamp ts, as libwebrtc's pacer
// sends a probe without media to send (padding on the media stream
// without RTX). false if ctx ended.
func probe(ctx context.Context, p Prober, track *Track, stream *Stream, seq rtp.Sequencer, ts uint32) bool {
	rate, ok := p.NextProbe()
	if !ok {
		return true
	}
	defer p.EndProbe()
	padding := Padding(paddingSize)
	n := max(gcc.ProbePackets, int(math.Ceil(float64(rate)/8*gcc.ProbeDuration.Seconds()/float64(paddingSize+12))))
	for i := range n {
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, Padding: true, SequenceNumber: seq.NextSequenceNumber(), Timestamp: ts}, Payload: padding}
		if i > 0 && !pace(ctx, pkt, int(float64(rate)/PacingFactor)) {
			return false
		}
		Send(track, stream, pkt)
	}
	return true
}

// PublishSimulcast is Publish for a simulcast video publication: every
// VideoInterval, each layer enc sends makes a frame when its frame rate has
// one due, packetized into RTP on that layer's track (tracks[i] sends layer
// i, each with its own sequence numbers and timestamps, as each encoding is
// an RTP stream of its own) and counted on flow's stream of its SSRC; the
// frames together are counted as encoded on flow. Packets are paced at
// PacingFactor times the layers' target together.
//
// Under congestion control, the sender pads what it sends up to the
// bitrate that starts its top layer (padUpTo), or its estimate if lower,
// as libwebrtc does for a simulcast sender without ALR probing
// (video/video_send_stream_impl.cc, CalculateMaxPadBitrateBps: the lower
// layers' targets plus the top layer's minimum with hysteresis; the pacer
// pads up to that while the encoder makes less): without it the estimate,
// which grows only to 1.5 times what is acknowledged, would never reach the
// next layer's start. Padding-only packets (RFC 3550 §5.1) go on the
// lowest layer's stream after a frame's end, with its numbers, as
// libwebrtc pads on a media stream without RTX (rtp_sender.cc
// GeneratePadding).
func PublishSimulcast(ctx context.Context, tracks []*Track, flow *Flow, active func() bool, enc *SimulcastEncoder) {
	sequencers := make([]rtp.Sequencer, len(tracks))
	packetizers := make([]rtp.Packetizer, len(tracks))
	for i := range packetizers {
		sequencers[i] = rtp.NewRandomSequencer()
		packetizers[i] = rtp.NewPacketizer(RTPMTU, 0, 0, &codecs.VP8Payloader{}, sequencers[i], VideoClockRate)
	}
	padUpTo := padUpToBitrate(enc.Layers())
	samples := uint32(VideoInterval.Seconds() * VideoClockRate)
	sent := make([]bool, len(tracks))
	var lastTS uint32 // the lowest layer's last frame's timestamp
	var padded bool   // the lowest layer has sent a frame to pad after
	padding := Padding(paddingSize)
	prober := proberOf(enc.estimator)
	ticker := time.NewTicker(VideoInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if !active() || tracks[0].SSRC() == 0 {
			continue // not connected, or not negotiated yet
		}
		frames := enc.Frames()
		target, size := 0, 0
		if enc.estimator != nil {
			target = enc.Target()
		}
		clear(sent)
		for _, f := range frames {
			size += len(f.Payload)
		}
		flow.Encoded(size, target)
		first := true
		wire := 0
		for _, f := range frames {
			track := tracks[f.Layer]
			sent[f.Layer] = true
			stream := flow.Stream(track.SSRC())
			for _, pkt := range packetizers[f.Layer].Packetize(f.Payload, samples) {
				if !first && target > 0 && !pace(ctx, pkt, target) {
					return
				}
				first = false
				wire += pkt.MarshalSize()
				if f.Layer == 0 {
					lastTS, padded = pkt.Timestamp, true
				}
				Send(track, stream, pkt)
			}
		}
		// A layer not sent keeps its clock: its timestamps follow the
		// capture time when it starts again.
		for i, ok := range sent {
			if !ok {
				packetizers[i].SkipSamples(samples)
			}
		}
		if enc.estimator == nil || !padded {
			continue
		}
		if prober != nil && !probe(ctx, prober, tracks[0], flow.Stream(tracks[0].SSRC()), sequencers[0], lastTS) {
			return
		}
		// Padding for what the media left of this interval's share of
		// the pad rate (the audio stream's included).
		rate := min(padUpTo, enc.estimator.GetTargetBitrate())
		due := int(float64(rate)/8*VideoInterval.Seconds()) - wire - enc.share/8/frameRate
		stream := flow.Stream(tracks[0].SSRC())
		for ; due >= paddingSize; due -= paddingSize + 12 {
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, Padding: true, SequenceNumber: sequencers[0].NextSequenceNumber(), Timestamp: lastTS}, Payload: padding}
			if !pace(ctx, pkt, rate) {
				return
			}
			Send(tracks[0], stream, pkt)
		}
	}
}

// Padding returns the payload of a padding-only RTP packet of size bytes
// (RFC 3550 §5.1: all padding, its last byte the count), for a packet
// whose header has the padding bit set. Written packets keep it (a NACK
// history holds it): it is never to be modified.
func Padding(size int) []byte {
	p := make([]byte, size)
	p[size-1] = byte(size)
	return p
}

// paddingSize is a padding-only packet's payload: libwebrtc's largest
// (rtp_sender.cc, kMaxPaddingLength).
const paddingSize = 224

// padUpToBitrate is what a simulcast sender pads up to: the lower layers'
// targets and the top layer's minimum with hysteresis (see
// PublishSimulcast).
func padUpToBitrate(layers []Layer) int {
	top := layers[len(layers)-1]
	total := min(int(layerHysteresis*float64(top.Min)), top.Target)
	for _, l := range layers[:len(layers)-1] {
		total += l.Target
	}
	return total
}

// PacingFactor is how much faster than its target a paced sender sends a
// frame's packets: libwebrtc's pacer (modules/pacing, kDefaultPaceMultiplier
// 2.5), which spreads a frame over part of its interval rather than
// bursting it into the first queue on the path.
const PacingFactor = 2.5

// pace waits, before sending pkt, the time pkt takes at PacingFactor times
// target bits per second; false if ctx ended first. (harness's sleepCtx
// is the same wait; media cannot import harness.)
func pace(ctx context.Context, pkt *rtp.Packet, target int) bool {
	bits := float64((pkt.MarshalSize()) * 8)
	t := time.NewTimer(time.Duration(bits / (PacingFactor * float64(target)) * float64(time.Second)))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Send writes pkt on track, counted on stream if it goes out. It counts
// before the write, so that the packet is known to be sent before it can
// arrive, and takes the count back if pion did not send it.
func Send(track *Track, stream *Stream, pkt *rtp.Packet) bool {
	stream.Sent(pkt.SequenceNumber)
	if ok, _ := track.WriteRTP(&pkt.Header, pkt.Payload); !ok {
		stream.Unsent(pkt.SequenceNumber)
		return false
	}
	return true
}

// SendData sends a message every DataInterval on dc while it is open,
// counting each on flow.
func SendData(ctx context.Context, dc *webrtc.DataChannel, flow *Flow) {
	ticker := time.NewTicker(DataInterval)
	defer ticker.Stop()
	msg := make([]byte, DataMessage)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if dc.ReadyState() != webrtc.DataChannelStateOpen {
			continue
		}
		// Keep the SCTP queue short so a dead path does not hoard
		// messages that would flood in after recovery.
		if dc.BufferedAmount() > 64*DataMessage {
			continue
		}
		if err := dc.Send(msg); err == nil {
			flow.SentMessage()
		}
	}
}

// DrainReceiverRTCP reads a receiver's RTCP until it closes: pion's
// interceptors see a sender report only when it is read, and without one
// the receiver reports they send back carry no timestamp to measure the
// round trip from.
func DrainReceiverRTCP(r *webrtc.RTPReceiver) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := r.Read(buf); err != nil {
			return
		}
	}
}

// DrainRTCP reads a sender's RTCP until it closes, so its interceptors keep
// working, and hands the round-trip times its receiver reports tell to the
// streams of flow they report on (nil flow: none). See DrainRTCPWithPLI.
func DrainRTCP(sender *webrtc.RTPSender, flow *Flow) { DrainRTCPWithPLI(sender, flow, nil) }
