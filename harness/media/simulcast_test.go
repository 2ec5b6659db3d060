package media

import (
	"testing"
	"time"
)

// TestAllocateLikeLibwebrtc checks the split of a target over LiveKit's
// three layers against the thresholds SimulcastRateAllocator gives them:
// h starts at 150 + 1.2 × 150 = 330 kbit/s (300 once on), f at
// 150 + 450 + 720 = 1320 kbit/s (1200 once on), everything left goes to
// the top layer sent, and the lowest layer is always sent.
func TestAllocateLikeLibwebrtc(t *testing.T) {
	layers := SimulcastLayers()
	for _, c := range []struct {
		total int
		was   []bool
		want  []int
	}{
		{20_000, []bool{false, false, false}, []int{30_000, 0, 0}},
		{100_000, []bool{true, false, false}, []int{100_000, 0, 0}},
		{320_000, []bool{true, false, false}, []int{160_000, 0, 0}},
		{330_000, []bool{true, false, false}, []int{150_000, 180_000, 0}},
		{300_000, []bool{true, true, false}, []int{150_000, 150_000, 0}},
		{1_300_000, []bool{true, true, false}, []int{150_000, 450_000, 0}},
		{1_320_000, []bool{true, true, false}, []int{150_000, 450_000, 720_000}},
		{1_200_000, []bool{true, true, true}, []int{150_000, 450_000, 600_000}},
		{5_000_000, []bool{true, true, true}, []int{150_000, 450_000, 1_500_000}},
	} {
		got := make([]int, 3)
		allocate(layers, c.total, c.was, got)
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%d bit/s, sent before %v: %v, want %v", c.total, c.was, got, c.want)
				break
			}
		}
	}
	if got, want := padUpToBitrate(layers), 1_320_000; got != want {
		t.Errorf("pads up to %d, want %d", got, want)
	}
}

type fixedRate int

func (f fixedRate) GetTargetBitrate() int { return int(f) }

// TestSimulcastEncoderFrames: each layer makes frames at its own rate, of
// the size its share gives, keyframes first on every layer, on a request
// (at most every 300 ms), and when a layer starts.
func TestSimulcastEncoderFrames(t *testing.T) {
	rate := fixedRate(3_000_000)
	enc := NewSimulcastEncoder(&rate, 0, SimulcastLayers())
	counts := make([]int, 3)
	bytes := make([]int, 3)
	keys := make([]int, 3)
	tick := func() {
		for _, f := range enc.Frames() {
			counts[f.Layer]++
			bytes[f.Layer] += len(f.Payload)
			if f.Key {
				keys[f.Layer]++
			}
		}
	}
	for range frameRate {
		tick()
	}
	if counts[0] != 20 || counts[1] != 20 || counts[2] != 30 {
		t.Errorf("frames in a second: %v, want 20, 20, 30", counts)
	}
	if keys[0] != 1 || keys[1] != 1 || keys[2] != 1 {
		t.Errorf("keyframes in the first second: %v, want one a layer", keys)
	}
	// After the first keyframe's excess is paid back, a second of frames
	// is the layer's rate.
	clear(counts)
	clear(bytes)
	for range 2 * frameRate {
		tick()
	}
	for i, l := range SimulcastLayers() {
		want := l.Max / 8 * 2
		if i < 2 {
			want = l.Target / 8 * 2
		}
		if bytes[i] < want*98/100 || bytes[i] > want*102/100 {
			t.Errorf("layer %s: %d bytes in 2 s, want about %d", l.RID, bytes[i], want)
		}
	}
	clear(keys)
	enc.RequestKeyframe()
	enc.RequestKeyframe() // within 300 ms: the same keyframes
	for range frameRate / 2 {
		tick()
	}
	if keys[0] != 1 || keys[1] != 1 || keys[2] != 1 {
		t.Errorf("keyframes after two requests: %v, want one a layer", keys)
	}
	// f stops under 1.2 Mbit/s and starts again with keyframes on all.
	clear(keys)
	rate = 1_000_000
	for range frameRate {
		tick()
	}
	rate = 2_000_000
	clear(counts)
	for range frameRate {
		tick()
	}
	if keys[0] != 1 || keys[1] != 1 || keys[2] != 1 || counts[2] != 30 {
		t.Errorf("f stopped and started again: keyframes %v, f frames %d", keys, counts[2])
	}
	_ = time.Second
}
