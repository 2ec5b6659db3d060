// Package compatlivekit is a module of its own that requires icelab beside
// LiveKit's Go SDK (server-sdk-go v2.19.0, on webrtc v4.2.19 and
// transport/v4), as a team testing a LiveKit deployment would: the build
// selects one webrtc for both, and the SDK's pion generation gets vnet
// through the transport/v4 adapter.
package compatlivekit
