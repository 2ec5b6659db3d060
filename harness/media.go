package harness

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
)

// Media shapes, after the seed's bandwidth table.
const (
	audioInterval  = 20 * time.Millisecond
	audioFrame     = 80 // bytes of Opus every 20 ms: 32 kbit/s
	videoInterval  = time.Second / 30
	videoFrame     = 6250 // bytes a frame at 30 fps: 1.5 Mbit/s
	dataInterval   = 100 * time.Millisecond
	dataMessage    = 256
	dataLabel      = "data"
	quietLabel     = "_reliable" // negotiated by a client with nothing else to negotiate
	rtpMTU         = 1200
	trackKindAudio = "audio"
	trackKindVideo = "video"
	trackKindData  = "data"
)

// outageGap is the longest silence between two packets of a flow that is
// not an outage. Every flow the harness sends has a packet at least every
// 100 ms, so a second without one is media that stopped.
const outageGap = time.Second

// counter counts packets and bytes, and remembers the silences longer than
// outageGap between them; safe for concurrent use.
type counter struct {
	packets, bytes atomic.Uint64
	// rtp measures an RTP flow's quality: set on the counters of RTP
	// tracks (see meter.counter), nil on data channels.
	rtp *rtpStats
	// mark is the packet count when the last recovery happened.
	mark atomic.Uint64
	// clock is the run's: the offset of now from its start.
	clock func() time.Duration

	mu          sync.Mutex
	seen        bool
	first, last time.Duration
	gaps        []Outage
}

func (c *counter) add(n int) {
	c.packets.Add(1)
	c.bytes.Add(uint64(n))
	now := c.clock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.seen {
		c.seen, c.first = true, now
	} else if now-c.last > outageGap {
		c.gaps = append(c.gaps, Outage{Start: c.last, End: now})
	}
	c.last = now
}

// silences returns the flow's outages up to end: the gaps between its
// packets and, when it had stopped by end, the silence since its last
// packet. A flow that never carried a packet has none: it never flowed.
func (c *counter) silences(end time.Duration) (first, last time.Duration, out []Outage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.seen {
		return 0, 0, nil
	}
	out = append([]Outage(nil), c.gaps...)
	if end-c.last > outageGap {
		out = append(out, Outage{Start: c.last, End: end, Ongoing: true})
	}
	return c.first, c.last, out
}

// meter is a run's media accounting: counters by track and direction.
type meter struct {
	clock func() time.Duration
	mu    sync.Mutex
	// by "client|track|direction"
	counters map[meterKey]*counter
}

type meterKey struct {
	client, track, kind, direction string
}

func newMeter(clock func() time.Duration) *meter {
	return &meter{clock: clock, counters: map[meterKey]*counter{}}
}

func (m *meter) counter(client, track, kind, direction string) *counter {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := meterKey{client, track, kind, direction}
	c := m.counters[k]
	if c == nil {
		c = &counter{clock: m.clock}
		switch {
		case direction == "sent": // measured where it is received
		case kind == trackKindAudio:
			c.rtp = newRTPStats(48000, audioInterval)
		case kind == trackKindVideo:
			c.rtp = newRTPStats(90000, videoInterval)
		}
		m.counters[k] = c
	}
	return c
}

// addRTP counts an RTP packet of size bytes received on the flow and
// measures its quality.
func (c *counter) addRTP(h *rtp.Header, size int) {
	c.add(size)
	if c.rtp != nil {
		c.rtp.packet(h, size, c.clock())
	}
}

// rtt records a round-trip time the flow's sender measured.
func (c *counter) rtt(d time.Duration) {
	if c.rtp != nil {
		c.rtp.rtt(d, c.clock())
	}
}

// markRecovery remembers the counts of a client's tracks at recovery.
func (m *meter) markRecovery(client string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, c := range m.counters {
		if k.client == client {
			c.mark.Store(c.packets.Load())
		}
	}
}

// media returns a client's counters as results, with their outages up to
// end.
func (m *meter) media(client string, end time.Duration) []Media {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Media
	for k, c := range m.counters {
		if k.client != client {
			continue
		}
		p := c.packets.Load()
		first, last, outages := c.silences(end)
		md := Media{Track: k.track, Kind: k.kind, Direction: k.direction, Packets: p, Bytes: c.bytes.Load(),
			AfterRecoveryPackets: p - c.mark.Load(), First: first, Last: last, Outages: outages}
		if c.rtp != nil {
			md.Quality = c.rtp.quality(end)
		}
		out = append(out, md)
	}
	sortMedia(out)
	return out
}

func sortMedia(ms []Media) {
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && ms[j].Direction+ms[j].Track < ms[j-1].Direction+ms[j-1].Track; j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}

// publish packetizes a frame of size bytes every interval into RTP and
// writes it to track until ctx ends, counting the RTP packets it writes
// while the peer connection is connected.
func publish(ctx context.Context, track *webrtc.TrackLocalStaticRTP, kind string, size int, interval time.Duration, c *counter, connected func() bool) {
	var payloader rtp.Payloader = &codecs.OpusPayloader{}
	clockRate := uint32(48000)
	if kind == trackKindVideo {
		payloader, clockRate = &codecs.VP8Payloader{}, 90000
	}
	// The track rewrites payload type and SSRC for each binding.
	packetizer := rtp.NewPacketizer(rtpMTU, 0, 0, payloader, rtp.NewRandomSequencer(), clockRate)
	samples := uint32(interval.Seconds() * float64(clockRate))
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	frame := make([]byte, size)
	for i := range frame {
		frame[i] = byte(i)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if !connected() {
			continue
		}
		for _, pkt := range packetizer.Packetize(frame, samples) {
			if err := track.WriteRTP(pkt); err == nil {
				c.add(pkt.MarshalSize())
			}
		}
	}
}

// sendData sends a message every dataInterval on dc while it is open.
func sendData(ctx context.Context, dc *webrtc.DataChannel, c *counter) {
	ticker := time.NewTicker(dataInterval)
	defer ticker.Stop()
	msg := make([]byte, dataMessage)
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
		if dc.BufferedAmount() > 64*dataMessage {
			continue
		}
		if err := dc.Send(msg); err == nil {
			c.add(len(msg))
		}
	}
}

// drainReceiverRTCP reads a receiver's RTCP until it closes: pion's
// interceptors see a sender report only when it is read, and without one
// the receiver reports they send back carry no timestamp to measure the
// round trip from.
func drainReceiverRTCP(r *webrtc.RTPReceiver) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := r.Read(buf); err != nil {
			return
		}
	}
}

// drainRTCP reads a sender's RTCP until it closes, so its interceptors
// keep working, and hands the round-trip times its receiver reports tell
// to c (nil: none).
func drainRTCP(sender *webrtc.RTPSender, c *counter) {
	buf := make([]byte, 1500)
	for {
		n, _, err := sender.Read(buf)
		if err != nil {
			return
		}
		if c == nil {
			continue
		}
		if pkts, err := rtcp.Unmarshal(buf[:n]); err == nil {
			reportRTT(pkts, time.Now(), c.rtt)
		}
	}
}
