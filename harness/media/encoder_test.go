package media

import "testing"

type fixedEstimate int

func (f fixedEstimate) GetTargetBitrate() int { return int(f) }

// A sender under congestion control makes frames the size its target
// allows, a keyframe first and on request, the keyframe's excess paid
// back by the frames after it; without an estimator every frame is
// VideoFrame bytes.
func TestEncoderFollowsItsTarget(t *testing.T) {
	est := fixedEstimate(600_000 + AudioBitrate)
	e := NewEncoder(est, AudioBitrate)
	perFrame := 600_000 / 8 / 30
	frame, key := e.Frame()
	if !key || frame[0] != vp8Keyframe || len(frame) != keyframeScale*perFrame {
		t.Fatalf("first frame: key %v, header %#x, %d bytes; want a keyframe of %d bytes", key, frame[0], len(frame), keyframeScale*perFrame)
	}
	total := len(frame)
	for range 59 {
		frame, key = e.Frame()
		if key || frame[0] != vp8InterFrame {
			t.Fatalf("frame after the first: key %v, header %#x", key, frame[0])
		}
		total += len(frame)
	}
	// Two seconds of frames: the keyframe's excess is paid back within
	// them, so they carry the target's bytes.
	if want := 2 * 600_000 / 8; total < want*98/100 || total > want*102/100 {
		t.Errorf("60 frames carry %d bytes; want about %d", total, want)
	}
	if got := e.Target(); got != 600_000 {
		t.Errorf("target %d; want 600000", got)
	}
	e.RequestKeyframe()
	if _, key := e.Frame(); !key {
		t.Error("no keyframe after a request")
	}

	low := NewEncoder(fixedEstimate(1_000), 0)
	if low.Frame(); low.Target() != MinVideoBitrate {
		t.Errorf("target under the floor: %d; want %d", low.Target(), MinVideoBitrate)
	}
	fixed := NewEncoder(nil, 0)
	for i := range 3 {
		frame, key := fixed.Frame()
		if len(frame) != VideoFrame || key != (i == 0) {
			t.Errorf("fixed encoder frame %d: %d bytes, key %v; want %d bytes", i, len(frame), key, VideoFrame)
		}
	}
}
