// Package vnet is an in-process virtual network on which pion's webrtc, ice
// and turn run unchanged.
//
// A [Network] is a tree of routers. Its root is the internet, a public address
// space; every other [Router] owns a LAN behind a NAT and a firewall and hangs
// off its parent's LAN, so double NAT is a router behind a router. Hosts attach
// to a router through a [Link] that carries the impairments: latency, jitter,
// loss, a bandwidth cap with a bounded queue, and cuts. Each [Host] implements
// pion's transport.Net, so a peer connection, an ICE agent or a TURN server is
// handed a host and uses it as it would use the operating system.
//
// Packets are forwarded on the sender's goroutine when no link on their path
// delays them, and by the network's scheduler otherwise. Time is read from the
// time package only, so a network built inside a testing/synctest bubble runs
// on the bubble's fake clock; Close ends every goroutine the network started.
//
// The package knows networks, not WebRTC. The one exception is the RFC 7983
// first-byte demultiplexing in [Classify], so that a firewall rule can say
// "drop DTLS". vnet imports nothing of the rest of icelab.
package vnet
