package relay

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// streamGuard keeps TCP and TLS clients from holding the relay's descriptors
// and memory without using them: deadlines for the TLS handshake, the first
// frame and the allocation (turn.tls_handshake_timeout, first_frame_timeout,
// unallocated_timeout), and a cap on the connections open at once from one
// IP address (turn.max_connections_per_source). coturn closes a session
// without an allocation after --max-allocate-timeout, 60 s by default
// (coturn 4.6.1 src/server/ns_turn_server.c:4741-4749,
// client_to_be_allocated_timeout_handler); pion/turn bounds the TLS handshake
// at 10 s (turn v5.1.3 server.go:182), a bound the relay's gate would
// otherwise bypass.
//
// It counts what it closes and refuses, and logs it at most once per
// reason every logEvery, with the number of events the line stands for.
type streamGuard struct {
	handshake, firstFrame, unallocated time.Duration
	perSource                          int
	st                                 *collector

	// release runs once a flood drained (see WithReleaseMemory); nil for none.
	release func()

	mu          sync.Mutex
	sources     map[netip.Addr]int
	peakSources int
	open        int
	// peak is the most connections open since the flood began, and
	// releasedAt the open count at which memory was released during it.
	peak, releasedAt int
	logged           map[string]*logRate
}

// floodFloor is the smallest peak of open connections after whose draining
// the guard releases memory: a few hundred connections hold a few MiB.
const floodFloor = 1000

// The stages at which a stream connection's deadline can pass.
const (
	deadlineHandshake   = "tls handshake"
	deadlineFirstFrame  = "first frame"
	deadlineUnallocated = "no allocation"
)

// logEvery bounds how often the guard logs one kind of event.
const logEvery = 10 * time.Second

type logRate struct {
	last       time.Time
	suppressed int
}

func newStreamGuard(t TURNConfig, st *collector) *streamGuard {
	return &streamGuard{
		handshake: t.TLSHandshakeTimeout, firstFrame: t.FirstFrameTimeout, unallocated: t.UnallocatedTimeout,
		perSource: t.MaxConnectionsPerSource, st: st,
		sources: map[netip.Addr]int{}, logged: map[string]*logRate{},
	}
}

// enter counts a connection from src in, or refuses it when src has
// perSource open already.
func (g *streamGuard) enter(src netip.Addr, remote net.Addr) bool {
	g.mu.Lock()
	if g.perSource > 0 && g.sources[src] >= g.perSource {
		g.mu.Unlock()
		g.st.streamsRefused.Add(1)
		g.st.notify()
		g.logf("refused", "connection refused", "client", addrString(remote),
			"reason", "turn.max_connections_per_source reached", "max_connections_per_source", g.perSource)
		return false
	}
	g.sources[src]++
	g.peakSources = max(g.peakSources, len(g.sources))
	g.open++
	g.peak = max(g.peak, g.open)
	g.st.streamsOpen.Store(int64(g.open))
	g.mu.Unlock()
	g.st.notify()
	return true
}

// leave counts a connection from src out.
func (g *streamGuard) leave(src netip.Addr) {
	g.mu.Lock()
	if g.sources[src]--; g.sources[src] <= 0 {
		delete(g.sources, src)
		if len(g.sources) == 0 && g.peakSources > 1024 { // a Go map keeps its size
			g.sources, g.peakSources = map[netip.Addr]int{}, 0
		}
	}
	g.open--
	g.st.streamsOpen.Store(int64(g.open))
	// Release once a quarter of the flood is left and again when it is
	// all but gone, then forget the flood.
	drained, peak, open := false, g.peak, g.open
	if g.release != nil && g.peak >= floodFloor {
		switch {
		case g.open <= g.peak/100:
			drained, g.peak, g.releasedAt = true, g.open, 0
		case g.open <= g.peak/4 && g.releasedAt == 0:
			drained, g.releasedAt = true, g.open
		}
	}
	g.mu.Unlock()
	g.st.notify()
	if drained {
		g.st.log.Info("connections drained; releasing memory", "peak", peak, "open", open)
		go g.release()
	}
}

// timedOut counts and logs a connection closed at a deadline.
func (g *streamGuard) timedOut(stage string, remote net.Addr, after time.Duration) {
	key := ""
	switch stage {
	case deadlineHandshake:
		g.st.handshakeTimeouts.Add(1)
		key = "turn.tls_handshake_timeout"
	case deadlineFirstFrame:
		g.st.firstFrameTimeouts.Add(1)
		key = "turn.first_frame_timeout"
	default:
		g.st.unallocatedTimeouts.Add(1)
		key = "turn.unallocated_timeout"
	}
	g.st.notify()
	g.logf(stage, "connection closed at its deadline", "client", addrString(remote), "stage", stage,
		"after", after.Round(time.Millisecond), "deadline", key)
}

// logf logs a warning of kind unless one was logged less than logEvery ago;
// the next line says how many it stood for.
func (g *streamGuard) logf(kind, msg string, args ...any) {
	now := time.Now()
	g.mu.Lock()
	r := g.logged[kind]
	if r == nil {
		r = &logRate{}
		g.logged[kind] = r
	}
	if !r.last.IsZero() && now.Sub(r.last) < logEvery {
		r.suppressed++
		g.mu.Unlock()
		return
	}
	more := r.suppressed
	r.last, r.suppressed = now, 0
	g.mu.Unlock()
	if more > 0 {
		args = append(args, "also_since_last_line", more)
	}
	g.st.log.Warn(msg, args...)
}
