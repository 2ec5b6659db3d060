// Package relay is icelab's TURN relay: pion/turn configured from the turn: and
// rtc: blocks of a LiveKit livekit.yaml, with production defaults (authentication
// required, no relaying to internal addresses, per-user allocation quota) and
// counters a test can read. It runs on any pion transport.Net: a virtual host of
// icelab's vnet or the machine's loopback through stdnet.
//
// The package knows TURN and TLS; it knows nothing of scenarios, peers or the
// virtual network's internals.
package relay

import (
	"context"
	"fmt"
	"net"

	"github.com/pion/transport/v5"
)

// Relay is a TURN server that a harness can start on a network. *Server is the
// built-in implementation; a test may bring its own.
type Relay interface {
	// Start binds the relay's listeners on n and serves until Close or until
	// ctx is done.
	Start(ctx context.Context, n transport.Net) error
	// Addrs lists the bound listeners; valid after Start.
	Addrs() []ListenAddr
	// Stats returns a snapshot of the relay's counters.
	Stats() Stats
	// Close stops the relay and releases everything it holds.
	Close() error
}

// Transport names how a client reaches a relay listener.
type Transport string

// The listener transports.
const (
	UDP Transport = "udp"
	TCP Transport = "tcp"
	TLS Transport = "tls"
)

// ListenAddr is one listener of a relay.
type ListenAddr struct {
	Transport Transport
	// Addr is the bound local address (*net.UDPAddr or *net.TCPAddr).
	Addr net.Addr
}

// URL is the ICE server URL a client uses to reach this listener under host
// (a name or IP), e.g. "turn:10.0.0.1:3478?transport=udp" or
// "turns:turn.example.com:5349?transport=tcp".
func (l ListenAddr) URL(host string) string {
	port := 0
	switch a := l.Addr.(type) {
	case *net.UDPAddr:
		port = a.Port
	case *net.TCPAddr:
		port = a.Port
	}
	hp := net.JoinHostPort(host, fmt.Sprint(port))
	switch l.Transport {
	case TLS:
		return "turns:" + hp + "?transport=tcp"
	case TCP:
		return "turn:" + hp + "?transport=tcp"
	default:
		return "turn:" + hp + "?transport=udp"
	}
}

var _ Relay = (*Server)(nil)
