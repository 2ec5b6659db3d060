// Package sfu is the media node of a call: a selective forwarding unit on
// pion, as a LiveKit-style media server runs one beside its embedded TURN
// relay. It serves signalling over HTTPS, holds one session per
// participant, and forwards every participant's tracks to the others the
// way an SFU does: each subscriber gets its own copy of a publication, with
// its own SSRC, sequence numbers and timestamps, so that a publisher that
// reconnects, restarts ICE or moves to a new peer connection continues the
// subscriber's stream instead of starting a second one inside it (see
// downTrack). A subscriber's keyframe request (RTCP PLI) goes on to the
// publisher's current upstream stream, throttled as LiveKit throttles it
// (see publication.requestKeyframe).
//
// The package knows WebRTC, pion and the signalling protocol its clients
// speak (protocol.go); it counts media on the meter it is given and tells
// its observer what it saw. It knows nothing of networks beyond the host it
// runs on, of scenarios, or of results.
package sfu
