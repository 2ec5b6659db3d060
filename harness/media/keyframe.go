package media

import "time"

// A video receiver whose decoder is stuck (a frame was lost, and the frames
// after it reference it) asks the sender for a keyframe with an RTCP
// Picture Loss Indication (RFC 4585 §6.3.1). keyframeRequests decides when,
// as libwebrtc's receiver does (video/video_receive_stream2.cc, webrtc-sdk
// commit 49459481; video/video_receive_stream_timeout_tracker.cc):
//   - The frame buffer waits for a decodable frame for at most
//     max_wait_for_keyframe_ (200 ms) while it waits for a keyframe (from the
//     start of the stream until a frame is decoded), and max_wait_for_frame_
//     (3 s) after that (DetermineMaxWaitForFrame, with the 1 s NACK history
//     Chrome configures: 3 × 1 s is not under 3 s). The wait restarts at each
//     frame handed to the decoder (OnEncodedFrameReleased).
//   - When it times out (HandleFrameBufferTimeout), the receiver requests a
//     keyframe if the stream is active (a packet arrived in the last 5 s) and
//     it is not receiving one (no keyframe packet in the last 200 ms,
//     IsReceivingKeyFrame); the next timeout is a whole wait later, so a
//     stuck decoder asks again every 3 s.
//   - The first complete frame of a stream, if it is not a keyframe, is a
//     reason to ask at once (RtpVideoStreamReceiver2::OnAssembledFrame).
//
// Left out: the requests libwebrtc makes when a decode fails (a decodable
// frame always decodes here) and when its NACK list overflows (more than
// 1000 missing packets, NackRequester), and loss notifications.
const (
	maxWaitForKeyframe = 200 * time.Millisecond
	maxWaitForFrame    = 3 * time.Second
	inactiveStream     = 5 * time.Second
)

// keyframeRequests is a video stream's keyframe-request state at its
// receiver, on the meter's clock. Its owner (a Stream, through frames)
// serialises its use; the zero value has not started.
type keyframeRequests struct {
	started bool
	// waiting: no frame decoded yet, so a keyframe is what is waited for.
	waiting  bool
	deadline time.Duration
	// Arrivals of the last packet and the last keyframe packet.
	packet, keyPacket time.Duration
	anyPacket, anyKey bool
}

// start begins the wait for the first frame at now.
func (k *keyframeRequests) start(now time.Duration) {
	if !k.started {
		k.started, k.waiting, k.deadline = true, true, now+maxWaitForKeyframe
	}
}

// arrived notes a packet arriving at now, and whether it began a keyframe.
func (k *keyframeRequests) arrived(now time.Duration, key bool) {
	k.packet, k.anyPacket = now, true
	if key {
		k.keyPacket, k.anyKey = now, true
	}
}

// decoded notes a frame handed to the decoder at now.
func (k *keyframeRequests) decoded(now time.Duration) {
	k.waiting = false
	k.deadline = now + maxWaitForFrame
}

// wait is how long the frame buffer waits for a decodable frame.
func (k *keyframeRequests) wait() time.Duration {
	if k.waiting {
		return maxWaitForKeyframe
	}
	return maxWaitForFrame
}

// timeout is the frame buffer's timer firing at now: whether to request a
// keyframe, and how long until the timer is to fire next.
func (k *keyframeRequests) timeout(now time.Duration) (request bool, next time.Duration) {
	if !k.started {
		return false, maxWaitForKeyframe
	}
	if now < k.deadline {
		return false, k.deadline - now
	}
	k.deadline = now + k.wait()
	active := k.anyPacket && now-k.packet < inactiveStream
	receivingKey := k.anyKey && now-k.keyPacket < maxWaitForKeyframe
	return active && !receivingKey, k.wait()
}
