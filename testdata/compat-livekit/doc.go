// Package compatlivekit is a module of its own that requires icelab beside
// LiveKit's Go SDK (server-sdk-go v2.19.0, which asks for webrtc v4.2.19,
// on transport/v4), as a team testing a LiveKit deployment would: the build
// selects one webrtc for both, v4.2.26, so the SDK runs on transport/v5 and
// needs no adapter; its test checks that.
package compatlivekit
