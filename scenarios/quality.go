package scenarios

import (
	"fmt"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/harness/media"
	"go.yaml.in/yaml/v3"
)

// QualityBounds are a client's media quality expectations. Each bounds
// every RTP flow to and from the client, as measured where the flow was
// received: its publications at the media node, its subscriptions at the
// client. A zero field is no bound. A flow that received nothing has no
// loss, bitrate, jitter or freeze figure: it fails every bound set, with
// "no packets received".
type QualityBounds struct {
	// MinBitrate is the lowest mean bitrate, in bits per second, from a
	// flow's first packet to the end of the call.
	MinBitrate int64
	// MaxLoss is the highest share of the packets a flow's sender sent
	// that never arrived (after pion's NACK retransmissions); nil is no
	// bound, since 0 is a bound.
	MaxLoss *float64
	// MaxRTT bounds the mean round-trip time a flow's sender measured from
	// RTCP receiver reports; flows without a measurement are not judged.
	MaxRTT time.Duration
	// MaxJitter bounds the largest RFC 3550 interarrival jitter.
	MaxJitter time.Duration
	// MaxFreeze bounds the longest freeze: a gap longer than the flow's
	// freeze gap (W3C webrtc-stats) between video frames shown, or between
	// audio packets (see harness.Quality.Freezes).
	MaxFreeze time.Duration
	// MaxBitrate and MinLoss bound a degraded call from the other side:
	// the highest mean bitrate, and the lowest share of packets lost, so
	// that a file saying "media degrades" fails when it does not.
	MaxBitrate int64
	MinLoss    *float64
	// MinFreeze bounds a call that should freeze: each flow's longest
	// freeze is at least this long.
	MinFreeze time.Duration
	// Adapts are how the client's senders must follow the path (see
	// AdaptBound).
	Adapts []AdaptBound
	// Layer bounds the simulcast layer the node forwards the client (see
	// LayerBound); nil is no bound.
	Layer *LayerBound
	// MinGrade bounds each flow's lowest connection quality grade (as
	// LiveKit scores it, media.Grade) from below: "good" fails a flow that
	// fell to poor. MaxGrade bounds the client's grade from above, for a
	// call that should degrade: the grade LiveKit tells the room a
	// participant has, the lowest of its published and subscribed tracks'
	// (pkg/rtc/participant.go GetConnectionQuality), so "poor" fails a
	// client all of whose flows stayed good or better. Both judge the
	// participant's grade alike: never below, or at some time down to.
	MinGrade, MaxGrade media.Grade
}

func (q QualityBounds) isZero() bool {
	return q.MinBitrate == 0 && q.MaxLoss == nil && q.MaxRTT == 0 && q.MaxJitter == 0 && q.MaxFreeze == 0 &&
		q.MaxBitrate == 0 && q.MinLoss == nil && q.MinFreeze == 0 && len(q.Adapts) == 0 &&
		q.Layer == nil && q.MinGrade == "" && q.MaxGrade == ""
}

// check judges the client's RTP flows against the bounds.
func (q QualityBounds) check(client string, c *harness.ClientResult) []Mismatch {
	if q.isZero() {
		return nil
	}
	var out []Mismatch
	add := func(field, expected, observed string) {
		out = append(out, Mismatch{Client: client, Field: field, Expected: expected, Observed: observed})
	}
	flows, rtts := 0, 0
	// lowest is the client's grade as LiveKit tells the room: the lowest
	// of its tracks' (see MaxGrade).
	var lowest media.Grade
	var lowestNote string
	for _, m := range c.Media {
		if m.Quality == nil {
			continue
		}
		flows++
		fq, where := m.Quality, flowName(m)
		if fq.NothingReceived {
			// LiveKit grades a track that received nothing poor or lost
			// (scorer.go, "dry" and "rtcp").
			lowest, lowestNote = media.Lost, fmt.Sprintf("%s: no packets received", where)
			for _, f := range q.fields() {
				add(f.name, f.expected, fmt.Sprintf("%s: no packets received (%d sent)", where, fq.Sent))
			}
			continue
		}
		if q.MinBitrate > 0 && fq.Bitrate < float64(q.MinBitrate) {
			add("media.min_bitrate", "at least "+bitrate(float64(q.MinBitrate)), fmt.Sprintf("%s: %s", where, bitrate(fq.Bitrate)))
		}
		if q.MaxLoss != nil && fq.LossRate > *q.MaxLoss {
			add("media.max_loss", fmt.Sprintf("at most %.1f%%", *q.MaxLoss*100),
				lossNote(where, fq))
		}
		if q.MaxBitrate > 0 && fq.Bitrate > float64(q.MaxBitrate) {
			add("media.max_bitrate", "at most "+bitrate(float64(q.MaxBitrate)), fmt.Sprintf("%s: %s", where, bitrate(fq.Bitrate)))
		}
		if q.MinLoss != nil && fq.LossRate < *q.MinLoss {
			add("media.min_loss", fmt.Sprintf("at least %.1f%%", *q.MinLoss*100),
				lossNote(where, fq))
		}
		if fq.RTTMean > 0 {
			rtts++
			if q.MaxRTT > 0 && fq.RTTMean > q.MaxRTT {
				add("media.max_rtt", "a mean round trip of at most "+ms(q.MaxRTT), fmt.Sprintf("%s: mean %s, highest %s", where, ms(fq.RTTMean), ms(fq.RTT)))
			}
		}
		if q.MaxJitter > 0 && fq.Jitter > q.MaxJitter {
			add("media.max_jitter", "at most "+ms(q.MaxJitter), fmt.Sprintf("%s: %s", where, ms(fq.Jitter)))
		}
		if q.MaxFreeze > 0 && fq.LongestFreeze > q.MaxFreeze {
			add("media.max_freeze", "no freeze longer than "+ms(q.MaxFreeze), fmt.Sprintf("%s: %d freezes, the longest %s", where, len(fq.Freezes), ms(fq.LongestFreeze)))
		}
		if q.MinGrade != "" && fq.Grade != "" && fq.Grade.Rank() < q.MinGrade.Rank() {
			add("media.min_grade", "never below "+string(q.MinGrade), gradeNote(where, fq))
		}
		if fq.Grade != "" && (lowest == "" || fq.Grade.Rank() < lowest.Rank()) {
			lowest, lowestNote = fq.Grade, gradeNote(where, fq)
		}
		if q.MinFreeze > 0 && fq.LongestFreeze < q.MinFreeze {
			add("media.min_freeze", "a freeze of at least "+ms(q.MinFreeze), fmt.Sprintf("%s: %d freezes, the longest %s", where, len(fq.Freezes), ms(fq.LongestFreeze)))
		}
	}
	if q.MaxGrade != "" && flows > 0 {
		switch {
		case lowest == "":
			add("media.max_grade", "down to "+string(q.MaxGrade)+" or worse", "no flow was graded")
		case lowest.Rank() > q.MaxGrade.Rank():
			add("media.max_grade", "down to "+string(q.MaxGrade)+" or worse", "the client's grade stayed "+string(lowest)+" or better ("+lowestNote+")")
		}
	}
	out = append(out, checkAdapts(client, c, q.Adapts)...)
	out = append(out, checkLayers(client, c, q.Layer)...)
	switch {
	case flows == 0:
		add("media", "RTP flows to judge", "no RTP flow was measured"+mediaNote(c))
	case q.MaxRTT > 0 && rtts == 0:
		add("media.max_rtt", "a mean round trip of at most "+ms(q.MaxRTT), "no round trip measured (no RTCP receiver report with a sender report's time arrived)")
	}
	return out
}

// gradeNote says how low a flow's grade fell, and when.
func gradeNote(where string, q *harness.Quality) string {
	for _, g := range q.Grades {
		if g.Grade == q.Grade {
			return fmt.Sprintf("%s: lowest %s (score %.0f) from %s", where, q.Grade, g.Score, secs(g.At))
		}
	}
	return fmt.Sprintf("%s: lowest %s", where, q.Grade)
}

// lossNote says how much of a flow was lost, of what was sent.
func lossNote(where string, q *harness.Quality) string {
	return fmt.Sprintf("%s: %.1f%% (%d of %d packets sent lost)", where, q.LossRate*100, q.Lost, q.Sent-q.InFlight)
}

// bound is one bound that is set, as a file spells it and what it expects.
type bound struct{ name, expected string }

// fields lists the bounds that are set.
func (q QualityBounds) fields() []bound {
	var out []bound
	if q.MinBitrate > 0 {
		out = append(out, bound{"media.min_bitrate", "at least " + bitrate(float64(q.MinBitrate))})
	}
	if q.MaxLoss != nil {
		out = append(out, bound{"media.max_loss", fmt.Sprintf("at most %.1f%%", *q.MaxLoss*100)})
	}
	if q.MaxBitrate > 0 {
		out = append(out, bound{"media.max_bitrate", "at most " + bitrate(float64(q.MaxBitrate))})
	}
	if q.MinLoss != nil {
		out = append(out, bound{"media.min_loss", fmt.Sprintf("at least %.1f%%", *q.MinLoss*100)})
	}
	if q.MaxRTT > 0 {
		out = append(out, bound{"media.max_rtt", "a mean round trip of at most " + ms(q.MaxRTT)})
	}
	if q.MaxJitter > 0 {
		out = append(out, bound{"media.max_jitter", "at most " + ms(q.MaxJitter)})
	}
	if q.MaxFreeze > 0 {
		out = append(out, bound{"media.max_freeze", "no freeze longer than " + ms(q.MaxFreeze)})
	}
	if q.MinFreeze > 0 {
		out = append(out, bound{"media.min_freeze", "a freeze of at least " + ms(q.MinFreeze)})
	}
	return out
}

// flowName says which flow and where it was measured: "alice/video at the
// node", "bob/audio at alice".
func flowName(m harness.Media) string {
	switch m.Direction {
	case media.AtNode:
		return m.Track + " at the node"
	case media.AtRemote:
		return m.Track + " at the remote peer"
	}
	return m.Track + " received"
}

// bitrate renders a bitrate for a mismatch.
func bitrate(bps float64) string { return media.FormatBitrate(bps) }

func ms(d time.Duration) string {
	return fmt.Sprintf("%d ms", d.Round(time.Millisecond).Milliseconds())
}

var grades = []string{"excellent", "good", "poor", "lost"}

// grade reads a connection quality grade.
func (p *parser) grade(path string, v *yaml.Node) media.Grade {
	var s string
	if p.enum(v, path, "connection quality grade", grades, &s) {
		return media.Grade(s)
	}
	return ""
}
