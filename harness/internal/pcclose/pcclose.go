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
