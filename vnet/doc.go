// Package vnet is an in-process virtual network on which pion's webrtc, ice
// and turn run unchanged.
//
// A [Network] is a tree of routers. Its root is the internet, a public address
// space; every other [Router] owns a LAN behind a NAT and a firewall and hangs
// off its parent's LAN, so double NAT is a router behind a router. Hosts attach
// to a router through a [Link] that carries the impairments ([Impairment]),
// per direction, as the field's links have them: a capacity (a rate, or a
// delivery-opportunity [Trace] in Mahimahi's format) behind a queue sized in
// packets, bytes or time and run drop-tail or CoDel (RFC 8289); independent or
// burst loss (Gilbert–Elliott); latency, jitter and reordering; a [Schedule]
// of changes over a call; and cuts. Each [Host] implements
// pion's transport.Net, so a peer connection, an ICE agent or a TURN server is
// handed a host and uses it as it would use the operating system.
//
// A link may have an MTU ([Link.SetMTU]; none by default), checked where a
// packet enters the link as at a router's egress interface. Hosts send as
// Linux does ([PMTUDiscovery]): DF set, so an oversize packet is dropped
// and its sender told the MTU by an ICMP "fragmentation needed" (RFC 1191)
// unless the link suppresses it, a path MTU black hole (RFC 2923); a host
// then fragments datagrams larger than the learned path MTU, and TCP, which
// announces MTU-40 as its MSS, lowers its segment size. Fragments cross
// NATs and firewalls one by one (a rule may drop them, [DropFragments]) and
// are reassembled at the destination within [ReassemblyTimeout].
//
// Packets are forwarded on the sender's goroutine when no link on their path
// delays them; a link direction that delays packets hands them on from its own
// goroutine, without an allocation per packet (linkdir.go). Time is read from
// the time package only, so a network built inside a testing/synctest bubble
// runs on the bubble's fake clock; Close ends every goroutine the network
// started.
//
// Taps observe packets ([Network.Tap]); a tap may ask for some verdicts only
// ([Network.TapVerdicts]), and an event no tap wants is never built.
//
// Hosts, routers and LANs carry IPv6 as well as IPv4 when asked: dual-stack
// and IPv6-only LANs, "udp6" and "tcp6" sockets, dual-stack wildcard
// sockets, AAAA names, the RFC 6092 firewall of an IPv6 LAN, and NAT64 with
// DNS64 (RFC 6146, 6147) for an IPv6-only LAN; see ipv6.go.
//
// The package knows networks, not WebRTC. The one exception is the RFC 7983
// first-byte demultiplexing in [Classify], so that a firewall rule can say
// "drop DTLS". vnet imports nothing of the rest of icelab.
//
// # Which pion
//
// pion's transport.Net interface exists in three generations whose method
// sets are the same but whose types live in different packages, so a host
// satisfies one generation's interface only. A *Host is a
// github.com/pion/transport/v5 Net: hand it to pion webrtc v4.2.21 and later
// (SettingEngine.SetNet), ice v4.4, turn/v5 and stun/v4. For older pion in the
// same build, wrap the host:
//
//   - [github.com/icelab/icelab/vnet/transportv4].Net(host) for transport/v4:
//     webrtc v4.2.2 to v4.2.20, LiveKit's server and Go SDK today, turn/v4
//     from v4.1.4;
//   - [github.com/icelab/icelab/vnet/transportv3].Net(host) for transport/v3:
//     webrtc v4.2.1 and earlier v4 releases, turn/v4 up to v4.1.3, turn/v3.
//
// All three views share the host's sockets, NAT mappings and firewall state:
// a TURN server on transport/v3 and a peer on transport/v5 can talk across the
// same network.
package vnet
