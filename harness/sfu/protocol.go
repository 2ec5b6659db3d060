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
