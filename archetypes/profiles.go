package archetypes

import (
	"fmt"
	"sort"
	"strings"

	"github.com/icelab/icelab/harness"
	"github.com/pion/webrtc/v4"
)

// Profile is a named set of connect options: what kind of client joins.
type Profile struct {
	Name    string
	Summary string
	Source  string
	// NetworkTypes, Relays and Fallback are the harness.ClientSpec fields
	// the profile sets.
	NetworkTypes []webrtc.NetworkType
	Relays       []string
	Fallback     harness.Fallback
	// MDNS and LibwebrtcStats are the harness.ClientSpec fields: host
	// candidates hidden behind an mDNS name, and the client's end of the
	// selected pair labelled as libwebrtc's getStats labels it.
	MDNS           bool
	LibwebrtcStats bool
	// CongestionControl is the harness.ClientSpec field: how the
	// profile's senders adapt to the path.
	CongestionControl harness.CongestionControl
	// SRTPReplayWindow is the harness.ClientSpec field: how late a packet
	// the profile's receiver still accepts.
	SRTPReplayWindow uint
}

// Client returns a client spec with the profile's connect options,
// publishing audio and data.
func (p Profile) Client(name string) harness.ClientSpec {
	return harness.ClientSpec{
		Name:              name,
		NetworkTypes:      append([]webrtc.NetworkType(nil), p.NetworkTypes...),
		Relays:            append([]string(nil), p.Relays...),
		Fallback:          p.Fallback,
		MDNS:              p.MDNS,
		LibwebrtcStats:    p.LibwebrtcStats,
		CongestionControl: p.CongestionControl,
		SRTPReplayWindow:  p.SRTPReplayWindow,
		Publish:           harness.Publish{Audio: true, Data: true},
	}
}

// Browser is a LiveKit JS client in Chrome: UDP and TCP candidates, the
// node's TURN/UDP and TURN/TLS servers, and the JS SDK's reconnects against
// the node's transport ladder (harness.LiveKit). Its ICE-TCP makes its runs
// use the real clock (pion dials ICE-TCP through the operating system).
//
// Like Chromium on a page without camera or microphone permission (every
// case make fidelity measured), it hides its host candidates behind an
// mDNS name (NAME.local: pion's MulticastDNSModeQueryAndGather), which
// the node, like LiveKit's (use_mdns false), cannot resolve: the node
// learns the client's address from its checks, as peer-reflexive. Its
// own end of the selected pair is reported as libwebrtc's getStats
// reports it, by the address the node saw (harness.ClientSpec
// LibwebrtcStats): host on a public address, srflx behind an
// endpoint-independent NAT, prflx behind a symmetric one and over ICE-TCP.
// A scenario's mdns: false is a page with media permission.
//
// Where it differs from a real Chromium (headless Chromium 156 against the
// same topologies in Linux network namespaces: make fidelity, README
// "Fidelity"):
//   - Chromium's label races its own gathering: before its srflx
//     candidate arrives it reads prflx where this profile reads srflx,
//     and on a public address it sometimes reads srflx (its host
//     candidate's mDNS name registers after the srflx candidate). pion
//     itself labels its end host; the srflx/prflx label is the harness's,
//     from the NAT's mapping behaviour (Chromium gathers srflx on the host
//     socket, pion on a socket of its own).
//   - No peer on vnet resolves an mDNS name: pion's responder needs
//     operating system sockets (pion/mdns v2.2.2 server.go:466,484 opens
//     its unicast sockets with net.ListenUDP, :514 asks the operating
//     system for the interface's addresses, :556 joins the group through
//     x/net's ipv4.PacketConn, which has no socket options on a vnet
//     socket, and :583 gives up; ice v4.4.9 agent.go:500-512 keeps the
//     mode and only logs the failure). Two browsers on one LAN, which Chromium connects
//     host to host by resolving each other's names, here learn each
//     other from checks. On vnet that failed start opens, and leaves to
//     the garbage collector, two operating system UDP sockets per peer
//     connection, and the agent's group socket on vnet stays open until
//     the host closes (ice v4.4.9 mdns.go createMulticastDNS does not close
//     it when mdns.Server fails).
//   - pion's active ICE-TCP candidates carry the host's address (ice
//     v4.4.9 agent.go:1128-1134 ignores the mDNS mode) and are trickled;
//     Chromium hides and does not trickle them. The node ignores active
//     candidates, so only the client's candidate list shows it.
//   - Chromium connects over TURN/TLS some 0.4 s after it starts, with the
//     server 10 ms away (its port allocator starts UDP, relays and TCP
//     some 50 ms apart, basic_port_allocator.cc), where this profile takes
//     1.85 s more: pion waits 2 s before accepting a relay pair, and its
//     controlling agent nominates once (renomination is off by default),
//     so without the wait it would stay on a relay pair that Chromium
//     leaves when a direct one succeeds. Chromium may connect directly
//     before it has any relay candidate. With UDP dropped and the relay at
//     no distance Chromium connects over TURN/TLS and switches to ICE/TCP
//     a fraction of a second later, once its TCP phase has run; this
//     profile connects on ICE/TCP at once: the same pair carries the call
//     (make fidelity compares the pair each settles on).
func Browser() Profile {
	return Profile{
		Name:         "browser",
		Summary:      "LiveKit JS in Chrome: UDP+TCP candidates, host ones behind mDNS names, TURN/UDP and TURN/TLS, the SDK's resumes and LiveKit's transport ladder",
		Source:       "Chrome gathers UDP and TCP host candidates (RFC 6544), hidden behind mDNS names without media permission (draft-ietf-mmusic-mdns-ice-candidates), its local candidate labelled as libwebrtc's Connection::MaybeUpdateLocalCandidate does; LiveKit hands out turn:…?transport=udp and turns: URLs; client-sdk-js 2.21 RTCEngine; livekit/livekit pkg/rtc/transportmanager.go",
		NetworkTypes: []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4},
		Relays:       []string{"udp", "tls"},
		Fallback:     harness.Fallback{Policy: harness.LiveKit},
		// Every Chromium case measured (make fidelity) was a page without
		// camera or microphone permission, as a LiveKit page is until it
		// asks: host candidates hidden. mdns: false in a scenario file is
		// a page with permission (Chromium then signals host addresses).
		MDNS:           true,
		LibwebrtcStats: true,
		// Chrome's senders run GCC on transport-wide feedback (libwebrtc
		// modules/congestion_controller/goog_cc), the encoder following
		// the estimate.
		CongestionControl: harness.GCC,
		// libwebrtc's SRTP accepts a packet up to 1024 behind the newest
		// (pc/srtp_session.cc, policy.window_size = 1024), pion's 64: a
		// retransmission the node forwards late still reaches Chrome.
		SRTPReplayWindow: 1024,
	}
}

// Pion is a Go SDK on pion's defaults: UDP candidates only, the TURN
// servers LiveKit hands out, no fallback.
func Pion() Profile {
	return Profile{
		Name:     "pion",
		Summary:  "Go SDK on pion defaults: UDP candidates only, TURN/UDP and TURN/TLS, no fallback",
		Source:   "pion/webrtc SettingEngine default network types (UDP4, UDP6); server-sdk-go uses the join response's ICE servers",
		Relays:   []string{"udp", "tls"},
		Fallback: harness.Fallback{Policy: harness.NoFallback},
		// pion's defaults answer transport-wide feedback but run no
		// estimator: an application sends what it sends.
		CongestionControl: harness.NoCongestionControl,
	}
}

// Profiles returns every profile, browser first.
func Profiles() []Profile { return []Profile{Browser(), Pion()} }

// ProfileNames lists the profile names, sorted.
func ProfileNames() []string {
	var names []string
	for _, p := range Profiles() {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	return names
}

// LookupProfile returns the named profile; the error lists the known ones.
func LookupProfile(name string) (Profile, error) {
	for _, p := range Profiles() {
		if p.Name == name {
			return p, nil
		}
	}
	return Profile{}, fmt.Errorf("unknown profile %q; known: %s", name, strings.Join(ProfileNames(), ", "))
}

// SelectProfiles returns the named profiles; an empty list selects all.
func SelectProfiles(names []string) ([]Profile, error) {
	if len(names) == 0 {
		return Profiles(), nil
	}
	out := make([]Profile, 0, len(names))
	for _, n := range names {
		p, err := LookupProfile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
