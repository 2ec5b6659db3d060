// Package harness runs real pion peers through a virtual network and a TURN
// relay and reports what happened, when: which transport won, whether media
// flowed, whether fallback recovered, and why not.
//
// A [Spec] describes a call as a topology: the network (LANs with NATs,
// firewalls, link impairments and MTUs, IPv4 and IPv6), the servers on it
// (standalone STUN/TURN relays, [ServerSpec]; explicit proxies, [ProxySpec];
// a media node, [NodeSpec]: an SFU stand-in with its embedded relay,
// configured like a livekit.yaml), the pion endpoints that call (clients of
// the media node, [ClientSpec], or peers of a full mesh with signalling out
// of band, [PeerSpec]) and the faults to apply. Every endpoint, client or
// peer, is placed on the network and makes its peer connections the same
// way (its link, MTU, proxy, trusted CAs and pion settings); what a kind
// adds is how it signals and what it does when a connection fails. [Run]
// builds it, runs it and returns a [Result], with one [ClientResult] per
// client, or per end of each peer-to-peer connection.
//
// Runs without client ICE-TCP happen inside a testing/synctest bubble, so
// pion's production timers cost no wall time; runs with client ICE-TCP use
// the real clock because pion's active ICE-TCP dials through the operating
// system.
//
// The package knows WebRTC and the parts it assembles; it knows nothing of
// scenario files or report formats.
package harness

import (
	"net/netip"
	"time"

	"github.com/icelab/icelab/harness/media"
	"github.com/icelab/icelab/middlebox"
	"github.com/icelab/icelab/relay"
	"github.com/icelab/icelab/vnet"
	"github.com/pion/webrtc/v4"
)

// Spec describes one call to run.
type Spec struct {
	// Name names the run in results and reports.
	Name string
	// LANs are the networks below the internet, parents first.
	LANs []LANSpec
	// Node is the media node.
	Node NodeSpec
	// Clients are the participants; each connects to the media node.
	Clients []ClientSpec
	// Peers make the call peer to peer instead: every pair of peers
	// connects directly (a full mesh), with no media node (Node and
	// Clients must then be empty). See PeerSpec.
	Peers []PeerSpec
	// Servers are standalone STUN/TURN relay hosts anywhere on the
	// network, for peers (or clients, by address) to use.
	Servers []ServerSpec
	// Faults are applied while the call runs.
	Faults []Fault
	// Traffic is cross traffic sharing the call's bottlenecks: downloads,
	// uploads and bursts of UDP beside the call.
	Traffic []CrossTraffic
	// Proxies are explicit proxies on LANs (see ProxySpec).
	Proxies []ProxySpec
	// Names are extra DNS entries; the node's domain resolves to its
	// external address unless overridden here.
	Names map[string]string
	// Duration is how long the call runs, on the run's clock, from the
	// start. Zero means 40 s.
	Duration time.Duration
	// Seed makes loss and jitter repeat.
	Seed uint64
	// Capture selects the packets kept in Result.Packets, each with every
	// event on its path; the zero value keeps none.
	Capture Capture
}

// LANSpec is a router and the LAN behind it.
type LANSpec struct {
	Name string
	// Parent is the LAN this one hangs off; empty means the internet.
	Parent string
	// LANPrefix is the LAN's address space; zero picks a free 10.N.0.0/24.
	LANPrefix netip.Prefix
	NAT       vnet.NAT
	Firewall  []vnet.Rule
	Uplink    vnet.Impairment
	// MTU is the uplink's MTU, fragment handling and ICMP (a VPN, a PPPoE
	// line, a tunnel); the zero value carries packets of any size.
	MTU vnet.MTU
	// IPv6 makes the LAN dual-stack: its hosts get an IPv6 address on
	// IPv6Prefix, or on a free 2001:db8:0:N::/64, routed without NAT and
	// guarded by the RFC 6092 firewall (replies only).
	IPv6       bool
	IPv6Prefix netip.Prefix
	// IPv6Only gives the LAN's hosts no IPv4 address, as mobile carriers
	// do; NAT64 makes its router a NAT64 for 64:ff9b::/96 and its resolver
	// a DNS64. Both imply IPv6.
	IPv6Only bool
	NAT64    bool
}

// NodeSpec is the media node: an SFU stand-in on pion with its embedded
// TURN relay on the same host, and HTTPS signalling on port 443.
type NodeSpec struct {
	// Name is the host's name; empty means "media".
	Name string
	// LAN is where the host sits; empty means the internet. A LAN with a
	// 1:1 NAT is a cloud VM without a public IP.
	LAN string
	// Addr is the host's address on its LAN; zero picks one.
	Addr netip.Addr
	// Config is the node's livekit.yaml: the turn: block for the relay and
	// the rtc: block for media ports, ICE-TCP and the external address.
	Config relay.Config
	// Relay replaces the built-in relay (bring your own); nil means
	// relay.New(Config).
	Relay relay.Relay
	// SinglePort muxes all UDP media on one port (rtc.udp_port) instead
	// of the port range.
	SinglePort int
	// LoadBalancer puts a layer-4 load balancer in front of the node(s)
	// for TURN/TLS, as in the seed's dedicated TURN domain set-up.
	LoadBalancer *LoadBalancerSpec
	// SecondNode adds another media node behind the same load balancer,
	// on which a client's reconnect may land.
	SecondNode bool
	Link       vnet.Impairment
	// MTU is the node's link MTU (both nodes', with SecondNode): a cloud
	// network's, such as Google Cloud's default VPC MTU of 1460 bytes. The
	// zero value carries packets of any size.
	MTU vnet.MTU
	// CredentialTTL is how long the TURN REST credentials handed to
	// clients are valid (the expiry in "expiry:user"); zero means 24 h.
	CredentialTTL time.Duration
	// IPv6 gives the node's host an IPv6 address besides its IPv4 one:
	// its peer gathers udp6 too (not with SinglePort, whose socket is
	// IPv4). Its relay stays IPv4-only.
	IPv6 bool
	// TURNByName hands out the STUN and TURN/UDP/TCP URLs with the TURN
	// domain instead of the node's IPv4 address (LiveKit hands out the
	// address), so that a DNS64 can synthesize an address for it.
	TURNByName bool
	// MintClockOffset is how far the clock of the service that mints
	// those credentials is off the relay's: -2h is a backend two hours
	// behind, whose credentials the relay finds expired as they are made.
	MintClockOffset time.Duration
}

// LoadBalancerSpec is a layer-4 load balancer host on the internet that
// terminates TLS (its certificate comes from the node's config) and
// forwards plain TCP to the relays' TLS ports.
type LoadBalancerSpec struct {
	// Port is the port it listens on: 443 or 5349.
	Port int
}

// Publish says what a client sends.
type Publish struct {
	Audio bool // Opus-sized RTP, about 32 kbit/s
	Video bool // about 1.5 Mbit/s at 30 frames a second
	Data  bool // a data channel with a message every 100 ms
	// Simulcast sends the video in three encodings (media.SimulcastLayers:
	// 180p, 360p and 720p, RIDs q, h and f), as LiveKit's SDKs publish a
	// camera; the media node forwards each subscriber the highest layer its
	// link carries. Clients of a media node only.
	Simulcast bool
}

// kinds lists the media kinds published, audio first.
func (p Publish) kinds() []string { return media.Kinds(p.Audio, p.Video) }

// ClientSpec is one participant with the connect options of a real SDK.
type ClientSpec struct {
	Name string
	// LAN is where the client sits; empty means the internet.
	LAN string
	// Link is the client's access link; the zero value means 15 ms of
	// latency each way, as real paths have.
	Link vnet.Impairment
	// ICEServers overrides the servers the node hands out. Nil means the
	// node's, as LiveKit hands them out (servers.go, clientICEServers):
	// TURN/UDP on the node's address and udp_port, and TURN/TLS at the TURN
	// domain on port 443 whatever tls_port is, when TLS is enabled; no
	// stun: URL and no TURN/TCP.
	ICEServers []webrtc.ICEServer
	// Relays are the TURN transports the client uses of those the node
	// offers: "udp", "tcp" (TURN over TCP on udp_port), "tls". Nil means
	// LiveKit's default: udp and tls.
	Relays []string
	// Policy is the ICE transport policy: all or relay.
	Policy webrtc.ICETransportPolicy
	// NetworkTypes the client gathers on; nil means UDP4 (pion's
	// default). A client with TCP4 does ICE-TCP, which pion dials through
	// the operating system, so its run uses the real clock.
	NetworkTypes []webrtc.NetworkType
	Publish      Publish
	Fallback     Fallback
	// MTU is the client's link MTU; the zero value carries packets of any
	// size. TCP announces MTU-40 as its MSS.
	MTU vnet.MTU
	// DTLSCertificate is the certificate the client presents in DTLS;
	// empty means pion's ECDSA P-256 one (mtu.go).
	DTLSCertificate DTLSCertificate
	// PMTUDiscovery is how the client's operating system marks DF on
	// UDP; the zero value is Linux's default (vnet.PMTUDiscoveryWant).
	PMTUDiscovery vnet.PMTUDiscovery
	// Proxy names the Spec.Proxies entry the client is configured with,
	// for signalling and TURN over TCP and TLS; empty means none.
	Proxy string
	// ProxyAuth is the user name and password the client gives its
	// proxy; nil means none.
	ProxyAuth *middlebox.Credentials
	// Trust names TLS-inspecting proxies whose CA the client trusts, as
	// a managed device with the enterprise root installed does.
	Trust []string
	// MDNS hides the client's host candidates behind an mDNS name
	// (NAME.local, pion's MulticastDNSModeQueryAndGather), as Chromium
	// does for a page without camera or microphone permission. No peer
	// on vnet resolves the name (pion's mDNS responder needs operating
	// system sockets), so the far end learns the client's address from
	// its checks, as peer-reflexive.
	MDNS bool
	// LibwebrtcStats labels the client's end of its selected pair as
	// libwebrtc's getStats does (libwebrtc.go, libwebrtcLocal): by the
	// address the far end saw, so a client behind a NAT reads srflx or
	// prflx where pion reads host.
	LibwebrtcStats bool
	// CongestionControl is what the client's senders adapt with: nothing
	// (the zero value, pion's defaults: video at MaxVideoBitrate whatever
	// the path) or GCC.
	CongestionControl CongestionControl
	// SRTPReplayWindow is how far behind the newest packet of a stream
	// the client's SRTP still accepts one (a retransmission a media node
	// forwards late, say); an older one is refused as a replay. Zero is
	// pion's default, 64 packets (srtp/v3 session.go); libwebrtc's is 1024
	// (pc/srtp_session.cc, policy.window_size).
	SRTPReplayWindow uint
}

// CongestionControl is a sender's congestion control.
type CongestionControl string

// Congestion controls.
const (
	// NoCongestionControl sends at a fixed bitrate, as a pion application
	// on pion's defaults does (pion registers transport-wide feedback for
	// what it receives, but stamps nothing it sends and runs no
	// estimator).
	NoCongestionControl CongestionControl = "none"
	// GCC is Google congestion control on transport-wide feedback, as
	// browsers and LiveKit's SDKs send: package gcc's estimator (after
	// libwebrtc's goog_cc), a paced video encoder following its target
	// (media.ClientInterceptors, media.Encoder, media.PacingFactor).
	GCC CongestionControl = "gcc"
)

// FallbackPolicy is what a client does when its connection fails.
type FallbackPolicy string

// Fallback policies.
const (
	// NoFallback is pion's defaults: nothing.
	NoFallback FallbackPolicy = "none"
	// ICERestart restarts ICE when ICE fails.
	ICERestart FallbackPolicy = "ice-restart"
	// TransportFallback is LiveKit's: if ICE+DTLS has not connected by a
	// deadline, or the connection goes disconnected or failed, reconnect
	// to the same node on a new peer connection preferring TCP, then
	// relay-only over TURN/TLS. On the real clock "preferring TCP" gathers
	// tcp4 beside udp4: ICE-TCP to the node, and the client's TURN servers
	// over TCP and TLS. On the fake clock there is no ICE-TCP (pion dials
	// it through the operating system), so that attempt is relay-only over
	// those TURN servers (the node hands out TURN/TLS; a client's own
	// ICEServers may add TURN/TCP): a call that only ICE-TCP could carry
	// fails there, and needs a client with tcp4 in NetworkTypes, which runs
	// on the real clock.
	TransportFallback FallbackPolicy = "transport"
	// Renominate lets the selected pair move mid-call.
	Renominate FallbackPolicy = "renomination"
	// ForceRelay connects relay-only from the start.
	ForceRelay FallbackPolicy = "force-relay"
	// LiveKit is LiveKit's JS SDK against a LiveKit node: it signals on a
	// WebSocket and resumes (or rejoins) when its peer connection fails,
	// its signal goes quiet or the node asks it to, with what the node's
	// transport ladder sends it (see harness/livekit.go and harness/sfu).
	LiveKit FallbackPolicy = "livekit"
)

// Fallback is a client's fallback policy and its deadlines.
type Fallback struct {
	// Policy is what the client does when its connection fails; empty
	// means LiveKit (the SDK's behaviour against a LiveKit node).
	Policy FallbackPolicy
	// Deadline bounds ICE+DTLS for each attempt; zero means 10 s for
	// TransportFallback and none otherwise (pion's DTLS has no timeout).
	Deadline time.Duration
	// OtherNode makes the reconnect land on the second media node, as a
	// load balancer may route it.
	OtherNode bool
}

// Trigger is the moment a fault applies.
type Trigger struct {
	// After is a delay from the start of the run or, with Event, from the
	// event.
	After time.Duration
	// Event is "" (the start), or "ice-connected" / "connected" of Client.
	Event  string
	Client string
}

// FaultKind is what a fault does.
type FaultKind string

// Fault kinds.
const (
	AddRules   FaultKind = "add-rules"   // add firewall rules to LAN
	ClearRules FaultKind = "clear-rules" // remove every rule from LAN
	CutLink    FaultKind = "cut"         // cut Target's link
	Restore    FaultKind = "restore"     // restore Target's link
	Impair     FaultKind = "impair"      // set Target's link impairment
	// Move moves Target, a client, to the LAN To ("" or "internet": a
	// public address), as a phone leaving Wi-Fi for cellular does: its
	// address changes and the old one is gone (vnet.Host.Move).
	Move FaultKind = "move"
	// Mute stops Target, a client, sending RTP until an Unmute: it goes
	// quiet while its peer connection stays up.
	Mute   FaultKind = "mute"
	Unmute FaultKind = "unmute"
	// Leave makes Target, a client or a peer, hang up: it closes its peer
	// connections while the network is up (a client tells the media node
	// first, as a LiveKit client sends a leave request), so the far end
	// receives its DTLS close_notify. It does not come back.
	Leave FaultKind = "leave"
)

// Fault changes the network while the call runs.
type Fault struct {
	Name string
	When Trigger
	Kind FaultKind
	// Target is a LAN (its router's firewall or uplink) or a host (its
	// link): a client's, a peer's, a server's, a proxy's or the node's
	// name, or a LAN's.
	Target     string
	Rules      []vnet.Rule
	Impairment vnet.Impairment
	// To is the LAN a Move fault moves Target to.
	To string
}
