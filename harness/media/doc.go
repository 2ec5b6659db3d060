// Package media is what a call's endpoints send and how what arrives is
// counted: the sources that put RTP and data-channel messages on a pion
// track or channel, and the meter that follows every flow of a call (one
// publication on one leg: a client's audio to the media node, the node's
// copy of it to a subscriber, a peer's video to the remote peer) from its
// sender to its receiver.
//
// A flow is carried by one RTP stream per SSRC: a publisher that reconnects
// on a new peer connection starts a new stream of the same flow. The meter
// counts each stream where it is sent and where it arrives, by sequence
// number, so loss is what the sender sent and the receiver never got — not
// a guess from gaps — and a statistic of one stream never mixes with the
// next one's (see Stream). A flow that received nothing says so: it has no
// loss rate (Quality.NothingReceived).
//
// Video is judged as a viewer sees it: the receiver assembles each video
// stream's frames from its packets and decodes what libwebrtc's decoder
// would (see frames), so a freeze is a gap between frames shown, not
// between packets; a client's or peer's receiver asks for a keyframe when
// its decoder is stuck, as libwebrtc's does (see keyframeRequests and
// Receive), and a sender hears such requests through DrainRTCPWithPLI.
//
// The package knows RTP, RTCP and pion's tracks; it knows nothing of media
// nodes, clients, networks or results beyond its own types.
package media
