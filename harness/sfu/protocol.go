package sfu

import "github.com/pion/webrtc/v4"

// SignalPort is where the node serves HTTPS signalling, as LiveKit does
// behind its load balancer.
const SignalPort = 443

// Paths of the signalling endpoints.
const (
	PathJoin    = "/rtc/join"
	PathOffer   = "/rtc/offer"
	PathTrickle = "/rtc/trickle"
	PathLeave   = "/rtc/leave"
)

// Data-channel labels.
const (
	// DataLabel is the channel a publishing client sends data on; the node
	// echoes every message back, so data flows both ways.
	DataLabel = "data"
	// QuietLabel is negotiated by a client with nothing else to negotiate:
	// an offer without a media section has no ICE credentials.
	QuietLabel = "_reliable"
)

// ErrNoSession is what a node answers to a resume it cannot serve.
const ErrNoSession = "session not found on this node"

// JoinRequest asks the node for a session's ICE servers and subscriptions.
type JoinRequest struct {
	Client string `json:"client"`
}

// JoinResponse is what the node hands a joining client, as a LiveKit join
// response does.
type JoinResponse struct {
	ICEServers []webrtc.ICEServer `json:"ice_servers"`
	// Subscribe lists the tracks the client receives, in the order of its
	// receive-only transceivers: "bob/audio", "bob/video".
	Subscribe []string `json:"subscribe"`
	// ClientConfiguration, PingInterval and PingTimeout (seconds) are set
	// on the signal WebSocket only.
	ClientConfiguration ClientConfiguration `json:"client_configuration"`
	PingInterval        int                 `json:"ping_interval,omitempty"`
	PingTimeout         int                 `json:"ping_timeout,omitempty"`
}

// OfferRequest carries a client's offer: the first, an ICE restart, or a
// resumed session on a new peer connection after transport fallback.
type OfferRequest struct {
	Client string                    `json:"client"`
	Offer  webrtc.SessionDescription `json:"offer"`
	// Resume asks the node to move an existing session to a new peer
	// connection; it fails on a node that does not hold the session.
	Resume bool `json:"resume"`
}

// OfferResponse carries the node's answer.
type OfferResponse struct {
	Answer webrtc.SessionDescription `json:"answer"`
}

// LeaveRequest tells the node a client hangs up, as LiveKit's leave
// request does: the node closes its session.
type LeaveRequest struct {
	Client string `json:"client"`
}

// TrickleRequest carries one of a client's ICE candidates, sent as the
// client gathers it (trickle ICE), after the offer it belongs to.
type TrickleRequest struct {
	Client    string                  `json:"client"`
	Candidate webrtc.ICECandidateInit `json:"candidate"`
}

// PathSignal is the WebSocket a LiveKit-style client signals on (LiveKit's
// /rtc/v1, the JS SDK's single peer connection mode since v2.17): the join
// and its answer, the client's offers and candidates, pings, and the
// node's leave requests, all on one connection. Query parameters: client,
// sdk (js, go, ...), protocol, and reconnect=1 with reason for a resume.
const PathSignal = "/rtc/v1"

// Signal protocol values.
const (
	// ProtocolVersion is the protocol the client speaks: LiveKit sends a
	// leave request only to clients above 12, and the JS SDK 2.21 speaks 17
	// (client-sdk-js src/version.ts).
	ProtocolVersion = 17
	// SDKJS and SDKGo name the SDK a client reports; LiveKit thinks a Go
	// client cannot do ICE-TCP (pkg/rtc/clientinfo.go).
	SDKJS = "js"
	SDKGo = "go"
)

// Leave actions (livekit_rtc.proto LeaveRequest.Action).
const (
	LeaveDisconnect = "disconnect"
	LeaveResume     = "resume"
	LeaveReconnect  = "reconnect"
)

// Reconnect reasons a resuming client gives (livekit_models.proto
// ReconnectReason).
const (
	ReasonUnknown            = "unknown"
	ReasonSignalDisconnected = "signal-disconnected"
	ReasonPublisherFailed    = "publisher-failed"
)

// SignalRequest is one message from a client on the signal WebSocket:
// exactly one field is set (LiveKit's SignalRequest).
type SignalRequest struct {
	Offer   *webrtc.SessionDescription `json:"offer,omitempty"`
	Trickle *webrtc.ICECandidateInit   `json:"trickle,omitempty"`
	Ping    *Ping                      `json:"ping,omitempty"`
	Leave   bool                       `json:"leave,omitempty"`
}

// Ping carries the client's clock and the round trip it measured from the
// last pong, in milliseconds (LiveKit's ping_req).
type Ping struct {
	Timestamp int64 `json:"timestamp"`
	RTT       int64 `json:"rtt"`
}

// Pong answers a ping (LiveKit's pong_resp).
type Pong struct {
	LastPingTimestamp int64 `json:"last_ping_timestamp"`
	Timestamp         int64 `json:"timestamp"`
}

// SignalResponse is one message from the node on the signal WebSocket:
// exactly one field is set (LiveKit's SignalResponse).
type SignalResponse struct {
	Join      *JoinResponse              `json:"join,omitempty"`
	Reconnect *ReconnectResponse         `json:"reconnect,omitempty"`
	Answer    *webrtc.SessionDescription `json:"answer,omitempty"`
	Pong      *Pong                      `json:"pong,omitempty"`
	Leave     *Leave                     `json:"leave,omitempty"`
}

// ClientConfiguration is what the node configures in a client (LiveKit's
// ClientConfiguration): ForceRelay makes it connect relay-only.
type ClientConfiguration struct {
	ForceRelay bool `json:"force_relay,omitempty"`
}

// ReconnectResponse answers a resume: the ICE servers and configuration to
// restart ICE with.
type ReconnectResponse struct {
	ICEServers          []webrtc.ICEServer  `json:"ice_servers"`
	ClientConfiguration ClientConfiguration `json:"client_configuration"`
}

// Leave is the node's leave request: resume (reconnect the signal and
// restart ICE), reconnect (rejoin from scratch) or disconnect.
type Leave struct {
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
}
