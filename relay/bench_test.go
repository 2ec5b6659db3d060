package relay

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchFlow is one client sending through one allocation to one peer.
type benchFlow struct {
	alloc net.PacketConn
	peer  net.PacketConn
	got   atomic.Int64
}

func newBenchFlow(b *testing.B, s *Server) *benchFlow {
	b.Helper()
	c := dialTURN(b, UDP, addrOf(b, s, UDP), testUser, testPass, nil)
	f := &benchFlow{alloc: allocate(b, c), peer: newPeer(b)}
	// Warm up: permission, channel binding, and one datagram each way.
	roundTrip(b, f.alloc, f.peer, "warm-up", "warm-up")
	return f
}

// run sends n datagrams of size bytes from the client to the peer, keeping at
// most window in flight (a lost datagram frees its slot after a short wait), and
// returns how many arrived. The windows keep the relay's UDP socket buffer from
// overflowing, so the figure is throughput, not the kernel's drop rate.
func (f *benchFlow) run(b *testing.B, n, size, window int) int64 {
	f.got.Store(0)
	credits := make(chan struct{}, window)
	for range window {
		credits <- struct{}{}
	}
	done := make(chan struct{})
	var sent atomic.Bool
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for f.got.Load() < int64(n) {
			_ = f.peer.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if _, _, err := f.peer.ReadFrom(buf); err != nil {
				if sent.Load() {
					return // the rest was lost
				}
				continue // the sender is still going (or stalled): keep reading
			}
			f.got.Add(1)
			select {
			case credits <- struct{}{}:
			default:
			}
		}
	}()
	payload := make([]byte, size)
	to := f.peer.LocalAddr()
	lost := time.NewTimer(time.Hour)
	for i := 0; i < n; i++ {
		select {
		case <-credits:
		default:
			lost.Reset(20 * time.Millisecond)
			select {
			case <-credits:
				lost.Stop()
			case <-lost.C: // the window's datagrams were lost: start a fresh window
				for range window - 1 {
					select {
					case credits <- struct{}{}:
					default:
					}
				}
			}
		}
		if _, err := f.alloc.WriteTo(payload, to); err != nil {
			b.Errorf("write: %v", err)
			break
		}
	}
	sent.Store(true)
	<-done
	return f.got.Load()
}

func benchServer(b *testing.B) *Server {
	cfg := testConfig()
	cfg.TURN.UserQuota = 0
	return startServer(b, cfg)
}

func report(b *testing.B, sent int, got int64, elapsed time.Duration) {
	b.ReportMetric(float64(got)/elapsed.Seconds(), "pkt/s")
	b.ReportMetric(100*float64(int64(sent)-got)/float64(sent), "%lost")
}

// BenchmarkRelayOneAllocation measures client-to-peer datagrams (1200 bytes,
// ChannelData) relayed per second through one allocation on loopback.
func BenchmarkRelayOneAllocation(b *testing.B) {
	s := benchServer(b)
	f := newBenchFlow(b, s)
	b.SetBytes(1200)
	b.ResetTimer()
	start := time.Now()
	got := f.run(b, b.N, 1200, 64)
	report(b, b.N, got, time.Since(start))
}

// BenchmarkRelay50Allocations measures the same across 50 concurrent
// allocations (50 clients, 50 peers), b.N datagrams in total.
func BenchmarkRelay50Allocations(b *testing.B) {
	const flows = 50
	s := benchServer(b)
	fs := make([]*benchFlow, flows)
	for i := range fs {
		fs[i] = newBenchFlow(b, s)
	}
	runFlows(b, fs, 4)
}

// runFlows splits b.N datagrams over the flows, runs them at once with
// window datagrams in flight each, and reports the rate.
func runFlows(b *testing.B, fs []*benchFlow, window int) {
	per := max(b.N/len(fs), 1)
	b.SetBytes(1200)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	var got atomic.Int64
	for _, f := range fs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got.Add(f.run(b, per, 1200, window))
		}()
	}
	wg.Wait()
	report(b, per*len(fs), got.Load(), time.Since(start))
}
