// Package pcclose closes pion peer connections without running into the
// lock pion's SCTP transport holds across a timed wait.
//
// webrtc v4.2.26's SCTPTransport.Stop (sctptransport.go:247-259) holds the
// transport's lock while sctp v1.12.0's Association.Abort waits up to
// 200 ms for its ABORT to go out (association.go:1140-1151), and the
// transport's accept loop, woken by the association ending, waits for the
// same lock to read its close handler (acceptDataChannels -> onClose,
// sctptransport.go:299, 397). When the association has already ended — the
// remote aborted first, or the network is gone — the ABORT is never
// written, Abort needs its timer, and inside a testing/synctest bubble a
// goroutine waiting on a mutex is not durably blocked: the fake clock never
// reaches the 200 ms and the bubble hangs (found in 1,000 calls where a
// participant hangs up: about 1 in 70 hung). Close ends the association
// first, by stopping the DTLS transport under it, and lets the accept loop
// finish before pion's own close takes the lock.
//
// It knows pion's peer connection and nothing of the harness.
package pcclose

import (
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// acceptLoopWait bounds the wait for the SCTP accept loop to end: it ends
// as soon as it runs, and a missed close signal (the association ended
// before the handler was set) costs this much, on a timer, which a synctest
// bubble's clock can reach.
const acceptLoopWait = time.Second

// Close closes pc, gracefully (waiting for pion's goroutines) or not, after
// ending its SCTP association and the accept loop that waits on it.
func Close(pc *webrtc.PeerConnection, graceful bool) error {
	if s := pc.SCTP(); s != nil && s.State() == webrtc.SCTPTransportStateConnected {
		ended := make(chan struct{})
		var once sync.Once
		s.OnClose(func(error) { once.Do(func() { close(ended) }) })
		_ = s.Transport().Stop()
		t := time.NewTimer(acceptLoopWait)
		select {
		case <-ended:
		case <-t.C:
		}
		t.Stop()
	}
	if graceful {
		return pc.GracefulClose()
	}
	return pc.Close()
}

// Guard keeps GetStats and Close of one peer connection apart: webrtc
// v4.2.26's close clears the connection's stats getter
// (peerconnection.go:2886) outside the lock under which GetStats reads it
// (:3056), so a report taken on one goroutine while another closes the
// connection is a data race (the race detector found one in CI: a
// disconnected attempt's report against the next attempt closing it). Its
// waits are on channels, which a testing/synctest bubble counts as durably
// blocked, where a goroutine waiting on a mutex is not. The zero Guard is
// ready to use.
type Guard struct {
	mu    sync.Mutex
	turns map[*webrtc.PeerConnection]chan struct{}
	shut  map[*webrtc.PeerConnection]bool
}

// turn returns pc's token: whoever holds it may call GetStats or Close.
func (g *Guard) turn(pc *webrtc.PeerConnection) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.turns == nil {
		g.turns = map[*webrtc.PeerConnection]chan struct{}{}
		g.shut = map[*webrtc.PeerConnection]bool{}
	}
	t := g.turns[pc]
	if t == nil {
		t = make(chan struct{}, 1)
		g.turns[pc] = t
	}
	return t
}

// Stats returns pc's stats report, or nil once Close has closed it.
func (g *Guard) Stats(pc *webrtc.PeerConnection) webrtc.StatsReport {
	t := g.turn(pc)
	t <- struct{}{}
	defer func() { <-t }()
	g.mu.Lock()
	shut := g.shut[pc]
	g.mu.Unlock()
	if shut {
		return nil
	}
	return pc.GetStats()
}

// Close closes pc as the package's Close does, never while Stats reads it.
func (g *Guard) Close(pc *webrtc.PeerConnection, graceful bool) error {
	t := g.turn(pc)
	t <- struct{}{}
	defer func() { <-t }()
	g.mu.Lock()
	g.shut[pc] = true
	g.mu.Unlock()
	return Close(pc, graceful)
}
