package media

import (
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
}

// Encoded counts a frame of size bytes that the flow's sender encoded now
// for target bits per second (zero: it follows no congestion controller).
func (f *Flow) Encoded(size, target int) {
	i := int(f.clock() / time.Second)
	r := &f.rates
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.seconds) <= i {
		r.seconds = append(r.seconds, rateSecond{})
	}
	r.seconds[i].encoded += uint64(size)
	if target > 0 {
		r.seconds[i].target = target
	}
}

// addTo adds what the sender encoded in the call's first seconds to q's
// seconds, and its target.
func (r *senderRates) addTo(q *Quality, seconds int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, s := range r.seconds[:min(len(r.seconds), seconds)] {
		if i >= len(q.Seconds) {
			if s.encoded == 0 {
				continue
			}
			for len(q.Seconds) <= i {
				q.Seconds = append(q.Seconds, Second{At: time.Duration(len(q.Seconds)) * time.Second})
			}
		}
		q.Seconds[i].Encoded = s.encoded
		q.Seconds[i].Target = uint64(s.target)
		if s.target > 0 {
			q.Adaptive = true
		}
	}
}
