//go:build !linux

package relay

import (
	"net"
	"net/netip"
	"time"
)

// lobby is Linux's (see lobby_linux.go); elsewhere connections are accepted
// into net.Conns at once.
type lobby struct{}

type lobbyConn struct {
	conn     net.Conn
	src      netip.Addr
	accepted time.Time
}

func newLobby(net.Listener, bool, *streamGuard) (*lobby, error) { return nil, nil }

func (*lobby) accept() (lobbyConn, error) { return lobbyConn{}, net.ErrClosed }

func (*lobby) close() {}
