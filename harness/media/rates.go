package media

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// senderRates is what a flow's sender encoded, second by second, and the
// target bitrate its encoder followed: what a sender's webrtc-stats
// outbound-rtp entry and its congestion controller tell (bytesSent's rate,
// targetBitrate).
type senderRates struct {
	mu      sync.Mutex
	seconds []rateSecond
}

type rateSecond struct {
	encoded uint64 // bytes of media the sender encoded
	target  int    // the encoder's target at its last frame; zero: none
	// layer is the simulcast layer forwarded at the second's end, if
	// switched says the node chose one in it.
	layer    string
	switched bool
	// distance and distances sum and count the second's samples of the
	// flow's distance to its desired layer (see LayerDistance).
	distance  float64
	distances int
}

// Encoded counts a frame of size bytes that the flow's sender encoded now
// for target bits per second (zero: it follows no congestion controller).
func (f *Flow) Encoded(size, target int) {
	f.rates.now(f, func(s *rateSecond) {
		s.encoded += uint64(size)
		if target > 0 {
			s.target = target
		}
	})
}

// Forwarded records that the flow's sender, a media node, forwards the
// simulcast layer rid from now on ("": none, while it waits for the next
// layer's keyframe). A second's layer is the one forwarded at its end.
func (f *Flow) Forwarded(rid string) {
	f.rates.now(f, func(s *rateSecond) { s.layer, s.switched = rid, true })
}

// LayerDistance records how many simulcast layers the flow is below the
// one it should carry now, as LiveKit measures it for its connection
// quality score (pkg/sfu/forwarder.go getDistanceToDesired for a
// subscription, StreamTrackerManager.DistanceToDesired for a
// publication): a subscription forwarded a lower layer than the highest
// arriving, a publication whose higher layers do not arrive. A second's
// distance is the mean of its samples.
func (f *Flow) LayerDistance(d float64) {
	f.rates.now(f, func(s *rateSecond) { s.distance, s.distances = s.distance+d, s.distances+1 })
}

// now calls update with the current second of f's call, under r's lock.
func (r *senderRates) now(f *Flow, update func(*rateSecond)) {
	i := int(f.clock() / time.Second)
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.seconds) <= i {
		r.seconds = append(r.seconds, rateSecond{})
	}
	update(&r.seconds[i])
}

// addTo adds what the sender encoded in the call's first seconds to q's
// seconds, and its target; for a flow a media node forwards from a
// simulcast publication, the layer forwarded in each second from the
// first choice on.
func (r *senderRates) addTo(q *Quality, seconds int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	layer, layered := "", false
	for i := range min(len(r.seconds), seconds) {
		s := r.seconds[i]
		if s.switched {
			layer, layered = s.layer, true
		}
		if i >= len(q.Seconds) {
			if s.encoded == 0 && !layered && s.distances == 0 {
				continue
			}
			q.grow(i + 1)
		}
		if s.distances > 0 {
			q.Seconds[i].Distance = s.distance / float64(s.distances)
		}
		q.Seconds[i].Encoded = s.encoded
		q.Seconds[i].Target = uint64(s.target)
		if s.target > 0 {
			q.Adaptive = true
		}
		if layered {
			q.Seconds[i].Layer, q.Simulcast = layerName(layer), true
		}
	}
	if !layered {
		return
	}
	// The layer chosen last holds to the end of the call.
	q.grow(seconds)
	for i := len(r.seconds); i < seconds; i++ {
		q.Seconds[i].Layer = layerName(layer)
	}
}

// layerName is a second's layer: the RID, or "none" while nothing is
// forwarded.
func layerName(rid string) string {
	if rid == "" {
		return "none"
	}
	return rid
}

// LayerCourse says how a simulcast subscription's layer moved, for
// people: "q from 0 s, h from 3 s, f from 20 s" (the first six moves);
// empty for a flow that is not one.
func (q *Quality) LayerCourse() string {
	var parts []string
	prev := ""
	for _, s := range q.Seconds {
		if s.Layer != prev && s.Layer != "" {
			parts = append(parts, fmt.Sprintf("%s from %g s", s.Layer, s.At.Seconds()))
			prev = s.Layer
		}
	}
	if len(parts) > 6 {
		parts = append(parts[:6], fmt.Sprintf("%d moves more", len(parts)-6))
	}
	return strings.Join(parts, ", ")
}

// LayerRank orders the layers a second can name: q, h and f (the RIDs of
// SimulcastLayers) from 1 up, "none" (or anything else) 0.
func LayerRank(layer string) int {
	return slices.IndexFunc(SimulcastLayers(), func(l Layer) bool { return l.RID == layer }) + 1
}

// LayerRID is the RID of simulcast layer i (0 the lowest).
func LayerRID(i int) string { return SimulcastLayers()[i].RID }

// grow makes q's seconds at least n long.
func (q *Quality) grow(n int) {
	for len(q.Seconds) < n {
		q.Seconds = append(q.Seconds, Second{At: time.Duration(len(q.Seconds)) * time.Second})
	}
}
