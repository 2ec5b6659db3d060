package vnet

import (
	"encoding/binary"
	"errors"
	"math"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// arrival is one datagram of a stream as the receiver saw it.
type arrival struct {
	seq      int
	sent, at time.Duration // since the stream started
}

// streamSpec is a stream of datagrams of Size bytes on the wire (IPv4
// and UDP headers included), one every Gap, or Burst of them at once every
// Gap.
type streamSpec struct {
	Count int
	Size  int
	Gap   time.Duration
	Burst int
	// Drain is how long the receiver waits after the last send.
	Drain time.Duration
}

// stream sends spec's datagrams from a to b, each carrying its sequence
// number and send time, and returns what arrived, in arrival order. It
// runs inside a synctest bubble, so times are exact.
func stream(t *testing.T, a, b *UDPConn, spec streamSpec) []arrival {
	t.Helper()
	start := time.Now()
	got := make(chan []arrival)
	lastSent := make(chan time.Time, 1)
	go func() {
		var out []arrival
		buf := make([]byte, 65536)
		deadline := time.Time{}
		for {
			if deadline.IsZero() {
				select {
				case ls := <-lastSent:
					deadline = ls.Add(spec.Drain)
				default:
				}
			}
			if !deadline.IsZero() {
				_ = b.SetReadDeadline(deadline)
			} else {
				_ = b.SetReadDeadline(time.Now().Add(spec.Gap + spec.Drain))
			}
			n, _, err := b.ReadFromUDP(buf)
			if err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) && !deadline.IsZero() {
					got <- out
					return
				}
				if errors.Is(err, os.ErrDeadlineExceeded) {
					continue
				}
				t.Errorf("read: %v", err)
				got <- out
				return
			}
			if n < 12 {
				t.Errorf("short datagram of %d bytes", n)
				continue
			}
			out = append(out, arrival{
				seq:  int(binary.BigEndian.Uint32(buf)),
				sent: time.Duration(binary.BigEndian.Uint64(buf[4:])),
				at:   time.Since(start),
			})
		}
	}()
	payload := make([]byte, spec.Size-28)
	dst := net.UDPAddrFromAddrPort(addrOf(b))
	for i := 0; i < spec.Count; i++ {
		binary.BigEndian.PutUint32(payload, uint32(i))
		binary.BigEndian.PutUint64(payload[4:], uint64(time.Since(start)))
		if _, err := a.WriteToUDP(payload, dst); err != nil {
			t.Fatal(err)
		}
		if spec.Burst <= 1 || (i+1)%spec.Burst == 0 {
			time.Sleep(spec.Gap)
		}
	}
	lastSent <- time.Now()
	return <-got
}

// lossRuns returns the loss rate of a stream of count datagrams and the
// lengths of its runs of consecutive losses.
func lossRuns(count int, arrivals []arrival) (rate float64, runs []int) {
	seen := make([]bool, count)
	for _, a := range arrivals {
		seen[a.seq] = true
	}
	lost, run := 0, 0
	for _, ok := range seen {
		if !ok {
			lost++
			run++
			continue
		}
		if run > 0 {
			runs = append(runs, run)
			run = 0
		}
	}
	if run > 0 {
		runs = append(runs, run)
	}
	return float64(lost) / float64(count), runs
}

func mean(xs []int) float64 {
	sum := 0
	for _, x := range xs {
		sum += x
	}
	return float64(sum) / float64(len(xs))
}

// TestLossModelsStatistics draws a million packets from each loss model
// and checks the long-run loss rate and the mean length of loss bursts
// against the model's: 1/(1-p) for independent losses (a run of losses
// ends with probability 1-p), the configured length for Gilbert–Elliott.
// The bounds are four standard errors of the estimates; the draws are
// seeded, so the figures are the same every run.
func TestLossModelsStatistics(t *testing.T) {
	const draws = 1_000_000
	for _, tc := range []struct {
		p, burst  float64
		wantBurst float64
	}{
		{0.02, 0, 1 / 0.98},
		{0.3, 0, 1 / 0.7},
		{0.02, 3, 3},
		{0.05, 8, 8},
		{0.3, 2, 2},
		{0.5, 1, 1},
	} {
		n, err := New(Config{Seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		// Drawn as a link draws them: per packet of a flow (draws.go).
		ld := &linkDir{seed: n.linkSeed("stats", Up)}
		flow := &packet{packetHead: packetHead{proto: UDP, src: netip.MustParseAddrPort("10.0.0.2:5000"), dst: netip.MustParseAddrPort("203.0.113.3:7882")}}
		m := newLossModel(tc.p, tc.burst)
		lost, run := 0, 0
		var runs []int
		for i := 0; i < draws; i++ {
			r, fs := ld.drawsFor(flow)
			if m.lose(&r, &fs.bad) {
				lost++
				run++
			} else if run > 0 {
				runs = append(runs, run)
				run = 0
			}
		}
		rate, burst := float64(lost)/draws, mean(runs)
		// A run's length is geometric: variance L(L-1) around mean L.
		burstErr := 4 * math.Sqrt(tc.wantBurst*(tc.wantBurst-1)/float64(len(runs)))
		// Losses come in runs, so the rate varies as the number of runs
		// does, times the mean length.
		rateErr := 4 * math.Sqrt(tc.p*(1-tc.p)*tc.wantBurst/draws)
		if math.Abs(rate-tc.p) > rateErr {
			t.Errorf("loss %v burst %v: rate %.4f, want %.4f ± %.4f", tc.p, tc.burst, rate, tc.p, rateErr)
		}
		if math.Abs(burst-tc.wantBurst) > burstErr+1e-9 {
			t.Errorf("loss %v burst %v: mean burst %.3f packets, want %.3f ± %.3f", tc.p, tc.burst, burst, tc.wantBurst, burstErr)
		}
	}
}

// TestLinkBurstLoss checks that a link with Gilbert–Elliott loss loses a
// stream's datagrams at the configured rate in bursts of the configured
// mean length, and that a link with independent loss at the same rate
// loses them one at a time.
func TestLinkBurstLoss(t *testing.T) {
	const count = 40_000
	for _, tc := range []struct {
		name      string
		im        Impairment
		wantBurst float64
	}{
		{"gilbert-elliott", Impairment{Latency: 5 * time.Millisecond, Loss: 0.05, LossBurst: 4}, 4},
		{"independent", Impairment{Latency: 5 * time.Millisecond, Loss: 0.05}, 1 / 0.95},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				_, a, _, ca, cb := pair(t)
				if err := a.Link().ImpairDirection(Up, tc.im); err != nil {
					t.Fatal(err)
				}
				// Bursts of 100 every 10 ms: the socket's buffer takes them.
				got := stream(t, ca, cb, streamSpec{Count: count, Size: 200, Gap: 10 * time.Millisecond, Burst: 100, Drain: time.Second})
				rate, runs := lossRuns(count, got)
				rateErr := 4 * math.Sqrt(0.05*0.95*tc.wantBurst/count)
				burstErr := 4 * math.Sqrt(math.Max(tc.wantBurst*(tc.wantBurst-1), 0.06)/float64(len(runs)))
				if math.Abs(rate-0.05) > rateErr {
					t.Errorf("loss rate %.4f, want 0.05 ± %.4f", rate, rateErr)
				}
				if b := mean(runs); math.Abs(b-tc.wantBurst) > burstErr {
					t.Errorf("mean loss burst %.3f packets over %d bursts, want %.3f ± %.3f", b, len(runs), tc.wantBurst, burstErr)
				}
			})
		})
	}
}

// reorderedRatio is RFC 4737's reordered packet ratio (section 4.1.1 and
// 6.1): a packet is reordered when it arrives with a sequence number
// lower than one that arrived before it.
func reorderedRatio(arrivals []arrival) float64 {
	next, reordered := 0, 0
	for _, a := range arrivals {
		if a.seq < next {
			reordered++
			continue
		}
		next = a.seq + 1
	}
	return float64(reordered) / float64(len(arrivals))
}

// TestLinkReorderRate checks that a link reorders the configured fraction
// of a stream, measured as RFC 4737's reordered ratio, and that a held
// packet arrives exactly ReorderDelay late; without Reorder it keeps the
// order.
func TestLinkReorderRate(t *testing.T) {
	const count = 10_000
	for _, rate := range []float64{0, 0.01, 0.1} {
		synctest.Test(t, func(t *testing.T) {
			_, a, _, ca, cb := pair(t)
			im := Impairment{Latency: 20 * time.Millisecond, Reorder: rate, ReorderDelay: 5 * time.Millisecond}
			if err := a.Link().ImpairDirection(Up, im); err != nil {
				t.Fatal(err)
			}
			// Datagrams 1 ms apart: a packet held 5 ms arrives after the
			// next four, so each held one counts once.
			got := stream(t, ca, cb, streamSpec{Count: count, Size: 200, Gap: time.Millisecond, Drain: time.Second})
			if len(got) != count {
				t.Fatalf("reorder %v: %d of %d arrived", rate, len(got), count)
			}
			ratio := reorderedRatio(got)
			bound := 4 * math.Sqrt(rate*(1-rate)/count)
			if math.Abs(ratio-rate) > bound {
				t.Errorf("reorder %v: reordered ratio %.4f, want %v ± %.4f", rate, ratio, rate, bound)
			}
			for _, g := range got {
				if d := g.at - g.sent; d != 20*time.Millisecond && d != 25*time.Millisecond {
					t.Fatalf("reorder %v: datagram %d took %v, want 20ms or 25ms held", rate, g.seq, d)
				}
			}
		})
	}
}

// TestQueueLimits checks a queue sized in packets, bytes and time: a
// burst of 20 datagrams of 1000 bytes on a 1 Mbit/s link (8 ms each)
// keeps as many as fit, the one being sent counted, and they leave 8 ms
// apart.
func TestQueueLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		im   Impairment
		want int
	}{
		{"packets", Impairment{Bandwidth: 1_000_000, QueuePackets: 5}, 5},
		{"bytes", Impairment{Bandwidth: 1_000_000, QueueBytes: 7_500}, 7},
		{"time", Impairment{Bandwidth: 1_000_000, QueueDelay: 50 * time.Millisecond}, 6}, // 6250 bytes
		{"tightest", Impairment{Bandwidth: 1_000_000, QueuePackets: 9, QueueBytes: 3_000, QueueDelay: time.Second}, 3},
		{"below one packet", Impairment{Bandwidth: 1_000_000, QueueDelay: time.Millisecond}, 1},
		{"default drop-tail", Impairment{Bandwidth: 1_000_000}, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n, a, _, ca, cb := pair(t)
				if err := a.Link().ImpairDirection(Up, tc.im); err != nil {
					t.Fatal(err)
				}
				full := record(t, n, func(e Event) bool { return e.Reason == "link queue full" })
				got := stream(t, ca, cb, streamSpec{Count: 20, Size: 1000, Gap: 0, Drain: time.Second})
				if len(got) != tc.want {
					t.Fatalf("%d of a 20-datagram burst passed, want %d", len(got), tc.want)
				}
				if drops := len(full.list()); drops != 20-tc.want {
					t.Errorf("%d drops for a full queue, want %d", drops, 20-tc.want)
				}
				for i, g := range got {
					if want := time.Duration(i+1) * 8 * time.Millisecond; g.at != want {
						t.Errorf("datagram %d arrived at %v, want %v", i, g.at, want)
					}
				}
			})
		})
	}
}

// TestCoDelHoldsTarget runs a bulk TCP transfer (vnet's Reno with SACK)
// through a 5 Mbit/s bottleneck with a queue of 1000 packets, beside a
// probe of small datagrams that measures how long packets wait in the
// queue. A drop-tail queue fills until TCP's receive window stops it, a
// standing queue of about 400 ms; CoDel (RFC 8289) drops at the head so
// that the queue keeps falling back within its 5 ms target, and the
// transfer still keeps the link mostly busy.
func TestCoDelHoldsTarget(t *testing.T) {
	const (
		capacity = 5_000_000
		latency  = 20 * time.Millisecond
		run      = 25 * time.Second
		warmup   = 5 * time.Second
	)
	for _, disc := range []Discipline{DropTail, CoDel} {
		synctest.Test(t, func(t *testing.T) {
			n := newTestNetwork(t)
			srv, cli := mustHost(t, n.Internet(), "server"), mustHost(t, n.Internet(), "client")
			for _, h := range []*Host{srv, cli} {
				if err := h.Link().SetMTU(MTU{Size: 1500}); err != nil {
					t.Fatal(err)
				}
			}
			im := Impairment{Latency: latency, Bandwidth: capacity, QueuePackets: 1000, Discipline: disc}
			if err := srv.Link().ImpairDirection(Up, im); err != nil {
				t.Fatal(err)
			}
			c, s := tcpPair(t, cli, srv, 80)
			start := time.Now()
			_ = s.SetWriteDeadline(start.Add(run))
			go func() {
				buf := make([]byte, 64<<10)
				for {
					if _, err := s.Write(buf); err != nil {
						return
					}
				}
			}()
			received := make(chan int64)
			go func() {
				var total int64
				buf := make([]byte, 64<<10)
				for {
					k, err := c.Read(buf)
					if time.Since(start) >= warmup {
						total += int64(k)
					}
					if err != nil || time.Since(start) >= run {
						received <- total
						return
					}
				}
			}()
			// A 100-byte probe every 10 ms: ten per CoDel interval.
			probe := stream(t, listenOn(t, srv, 7), listenOn(t, cli, 7), streamSpec{
				Count: int(run / (10 * time.Millisecond)), Size: 100, Gap: 10 * time.Millisecond, Drain: 5 * time.Second,
			})
			goodput := float64(<-received) * 8 / (run - warmup).Seconds()
			// What CoDel controls is the standing queue: the least any
			// packet waits in an interval (RFC 8289 section 3.2). A probe
			// also waits for the packet being sent when it arrives.
			mtuTime := time.Duration(1500 * 8 * int64(time.Second) / capacity)
			least := map[time.Duration]time.Duration{}
			var waits []time.Duration
			for _, g := range probe {
				if g.sent < warmup {
					continue
				}
				w := g.at - g.sent - latency
				waits = append(waits, w)
				k := g.sent / defaultCoDelInterval
				if m, ok := least[k]; !ok || w < m {
					least[k] = w
				}
			}
			// CoDel lets a queue stand above target for an interval before
			// it drops, and TCP answers a drop a round trip later: the
			// queue must fall back within target in every span of two
			// intervals (200 ms, five round trips here).
			first, last := warmup/defaultCoDelInterval, (run-defaultCoDelInterval)/defaultCoDelInterval
			spans, held := 0, 0
			for k := first; k < last; k++ {
				a, okA := least[k]
				b, okB := least[k+1]
				if !okA || !okB {
					continue // no probe arrived in an interval: not a span to judge
				}
				spans++
				if min(a, b) <= defaultCoDelTarget+mtuTime {
					held++
				}
			}
			if spans < 100 {
				t.Fatalf("%v: probes in %d intervals after the warm-up, want at least 100", disc, len(least))
			}
			slices.Sort(waits)
			median, heldShare := waits[len(waits)/2], float64(held)/float64(spans)
			t.Logf("%v: probes waited %v (median), %v (max); the queue fell within target in %.0f%% of 200 ms spans; transfer %.2f Mbit/s",
				disc, median, waits[len(waits)-1], heldShare*100, goodput/1e6)
			// Reno halves its window at each loss. Over a queue as long
			// as the path (50 KB here) it keeps the link busy; over
			// CoDel's 5 ms it falls below the path's capacity after each
			// halving, so one flow alone fills some 80% of the link.
			want := 0.9
			if disc == CoDel {
				want = 0.75
			}
			if goodput < want*capacity {
				t.Errorf("%v: transfer ran at %.2f Mbit/s, want at least %.0f%% of the %.1f Mbit/s link", disc, goodput/1e6, want*100, capacity/1e6)
			}
			switch disc {
			case DropTail:
				// TCP's 256 KiB receive window, less what the path holds,
				// stands in the queue: some 370 ms at 5 Mbit/s.
				if median < 200*time.Millisecond || heldShare > 0 {
					t.Errorf("drop-tail: probes waited %v (median), the queue fell within target in %.0f%% of spans; want the standing queue of a full receive window", median, heldShare*100)
				}
			case CoDel:
				if heldShare < 0.95 || median > 4*defaultCoDelTarget {
					t.Errorf("codel: the queue fell within the %v target (and one packet being sent) in %.0f%% of 200 ms spans, want 95%%; median wait %v, want within 4 times the target", defaultCoDelTarget, heldShare*100, median)
				}
			}
		})
	}
}

// TestCoDelControlLaw feeds CoDel a queue that never drains below target
// and checks its drops against RFC 8289: none until sojourn times have
// been above target for an interval, then drops spaced interval/sqrt(n)
// apart, n counting the drops; and, re-entering soon after leaving the
// dropping state, it resumes from the count that last controlled the queue.
func TestCoDelControlLaw(t *testing.T) {
	const (
		target   = 5 * time.Millisecond
		interval = 100 * time.Millisecond
		tick     = time.Millisecond
	)
	c := newCoDel(target, interval)
	var q fifo
	var drops []time.Duration
	d := dropFunc(func(_ qentry, at time.Duration) { drops = append(drops, at) })
	// One 1000-byte packet arrives and one leaves every tick; the queue
	// holds 50 of them, so each leaves 50 ms after it came.
	var now time.Duration
	for i := 0; i < 50; i++ {
		q.push(qentry{pkt: &packet{packetHead: packetHead{proto: UDP, payload: make([]byte, 972)}}, arrived: time.Duration(i-50) * tick})
	}
	for ; now < time.Second; now += tick {
		q.push(qentry{pkt: &packet{packetHead: packetHead{proto: UDP, payload: make([]byte, 972)}}, arrived: now - 50*tick})
		c.dequeue(&q, now, d)
	}
	if len(drops) < 10 {
		t.Fatalf("%d drops in a second of a 50 ms standing queue, want many", len(drops))
	}
	if drops[0] != interval {
		t.Errorf("first drop at %v, want one interval after sojourn times went above target, %v", drops[0], interval)
	}
	// Each drop is due interval/sqrt(n) after the last was due, n the
	// drops so far; a dequeue at the first tick on or after that time
	// makes it.
	due := drops[0]
	for k := 1; k < len(drops); k++ {
		due += time.Duration(float64(interval) / math.Sqrt(float64(k)))
		if want := (due + tick - 1) / tick * tick; drops[k] != want {
			t.Fatalf("drop %d at %v, want %v: interval/sqrt(%d) after the last was due", k+1, drops[k], want, k)
		}
	}
	count := c.count
	// The queue drains below target: CoDel leaves the dropping state.
	for q.len() > 1 {
		q.pop()
	}
	now += tick
	c.dequeue(&q, now, d)
	if c.dropping {
		t.Fatal("still dropping once the queue drained")
	}
	// It builds again at once: re-entering, CoDel starts from the drops
	// since it last entered (Linux's variant, RFC 8289 section 5.5).
	for i := 0; i < 200; i++ {
		q.push(qentry{pkt: &packet{packetHead: packetHead{proto: UDP, payload: make([]byte, 972)}}, arrived: now})
	}
	before := len(drops)
	for end := now + 2*interval; now < end && len(drops) == before; now += tick {
		q.push(qentry{pkt: &packet{packetHead: packetHead{proto: UDP, payload: make([]byte, 972)}}, arrived: now - 50*tick})
		c.dequeue(&q, now, d)
	}
	if !c.dropping || c.count != count-1 {
		t.Errorf("re-entered with count %d (dropping %t), want %d, the drops of the last episode", c.count, c.dropping, count-1)
	}
}

type dropFunc func(e qentry, at time.Duration)

func (f dropFunc) aqmDrop(e qentry, at time.Duration, _ string) { f(e, at) }

// TestScheduleSteps checks that a schedule's steps take effect at their
// times: latency, capacity and loss.
func TestScheduleSteps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, _, ca, cb := pair(t)
		sched := &Schedule{Steps: []Step{
			{At: time.Second, Impairment: Impairment{Latency: 50 * time.Millisecond}},
			{At: 2 * time.Second, Impairment: Impairment{Latency: 50 * time.Millisecond, Bandwidth: 400_000, QueuePackets: 1000}},
			{At: 3 * time.Second, Impairment: Impairment{Latency: 50 * time.Millisecond, Loss: 1}},
			{At: 4 * time.Second},
		}}
		if err := a.Link().ImpairDirection(Up, Impairment{Latency: 10 * time.Millisecond, Schedule: sched}); err != nil {
			t.Fatal(err)
		}
		// 1000-byte datagrams every 10 ms: 800 kbit/s.
		got := stream(t, ca, cb, streamSpec{Count: 500, Size: 1000, Gap: 10 * time.Millisecond, Drain: 10 * time.Second})
		bySeq := map[int]arrival{}
		for _, g := range got {
			bySeq[g.seq] = g
		}
		for seq := 0; seq < 500; seq++ {
			g, ok := bySeq[seq]
			sent := time.Duration(seq) * 10 * time.Millisecond
			switch {
			case sent < time.Second:
				if !ok || g.at-g.sent != 10*time.Millisecond {
					t.Fatalf("datagram %d sent at %v: took %v (arrived %v), want 10ms", seq, sent, g.at-g.sent, ok)
				}
			case sent < 2*time.Second:
				if !ok || g.at-g.sent != 50*time.Millisecond {
					t.Fatalf("datagram %d sent at %v: took %v (arrived %v), want 50ms", seq, sent, g.at-g.sent, ok)
				}
			case sent < 3*time.Second:
				// 400 kbit/s: 20 ms per datagram for one every 10 ms; the
				// queue grows by one datagram every 20 ms. Those still
				// queued at 3 s leave on the wire of the next step, which
				// loses everything.
				k := int((sent - 2*time.Second) / (10 * time.Millisecond))
				want := 50*time.Millisecond + time.Duration(k+1)*20*time.Millisecond - time.Duration(k)*10*time.Millisecond
				if sent+want-50*time.Millisecond > 3*time.Second {
					if ok {
						t.Fatalf("datagram %d sent at %v left the queue after 3 s and arrived across 100%% loss", seq, sent)
					}
					continue
				}
				if !ok || g.at-g.sent != want {
					t.Fatalf("datagram %d sent at %v, %d into the capacity step: took %v (arrived %v), want %v", seq, sent, k, g.at-g.sent, ok, want)
				}
			case sent < 4*time.Second:
				if ok {
					t.Fatalf("datagram %d sent at %v arrived during the step of 100%% loss", seq, sent)
				}
			default:
				if !ok || g.at != g.sent {
					t.Fatalf("datagram %d sent at %v: took %v (arrived %v), want a perfect link", seq, sent, g.at-g.sent, ok)
				}
			}
		}
	})
}

// TestCutDropsQueuedPackets checks that a cut loses what waits in the
// queue and what is on the wire, with its reason.
func TestCutDropsQueuedPackets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, a, _, ca, cb := pair(t)
		_ = a.Link().ImpairDirection(Up, Impairment{Latency: 100 * time.Millisecond, Bandwidth: 1_000_000})
		cuts := record(t, n, func(e Event) bool { return e.Reason == "link cut" })
		for i := 0; i < 10; i++ {
			send(t, ca, strings.Repeat("x", 972), addrOf(cb)) // 1000 bytes: 8 ms each
		}
		time.Sleep(50 * time.Millisecond) // 6 sent to the wire, 4 queued
		a.Link().Cut()
		if msg, _, ok := recvFrom(t, cb, time.Second); ok {
			t.Fatalf("%d bytes arrived across a cut", len(msg))
		}
		if got := len(cuts.list()); got != 10 {
			t.Errorf("%d packets lost to the cut, want 10", got)
		}
		a.Link().Restore()
		send(t, ca, "after", addrOf(cb))
		if msg, _, ok := recvFrom(t, cb, time.Second); !ok || msg != "after" {
			t.Fatalf("after restore: %q, %v", msg, ok)
		}
	})
}

// TestLinkLossIsPerLink checks that what one link loses depends on its own
// traffic only: the same stream loses the same datagrams whether or not
// another link carries traffic meanwhile.
func TestLinkLossIsPerLink(t *testing.T) {
	lostWith := func(other bool) []int {
		var lost []int
		synctest.Test(t, func(t *testing.T) {
			n, a, _, ca, cb := pair(t)
			_ = a.Link().ImpairDirection(Up, Impairment{Loss: 0.2})
			c, d := mustHost(t, n.Internet(), "c"), mustHost(t, n.Internet(), "d")
			_ = c.Link().ImpairDirection(Up, Impairment{Loss: 0.5})
			cc, cd := listenOn(t, c, 1), listenOn(t, d, 2)
			if other {
				for i := 0; i < 100; i++ {
					send(t, cc, "noise", addrOf(cd))
				}
			}
			got := stream(t, ca, cb, streamSpec{Count: 200, Size: 100, Gap: time.Millisecond, Drain: time.Second})
			seen := map[int]bool{}
			for _, g := range got {
				seen[g.seq] = true
			}
			for i := 0; i < 200; i++ {
				if !seen[i] {
					lost = append(lost, i)
				}
			}
		})
		return lost
	}
	alone, beside := lostWith(false), lostWith(true)
	if len(alone) == 0 || !slices.Equal(alone, beside) {
		t.Errorf("datagrams lost alone %v, beside other traffic %v; want the same, some", alone, beside)
	}
}

// TestLinkDirections checks an impairment with a down direction of its
// own: an asymmetric access link.
func TestLinkDirections(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, _, ca, cb := pair(t)
		im := Impairment{Latency: 10 * time.Millisecond, Down: &Impairment{Latency: 50 * time.Millisecond}}
		if err := a.Link().Impair(im); err != nil {
			t.Fatal(err)
		}
		if up, down := a.Link().Impairment(Up), a.Link().Impairment(Down); up.Latency != 10*time.Millisecond || up.Down != nil || down.Latency != 50*time.Millisecond {
			t.Fatalf("up %v, down %v", up, down)
		}
		start := time.Now()
		send(t, ca, "up", addrOf(cb))
		if _, _, ok := recvFrom(t, cb, time.Second); !ok || time.Since(start) != 10*time.Millisecond {
			t.Fatalf("up took %v (arrived %t), want 10ms", time.Since(start), ok)
		}
		start = time.Now()
		send(t, cb, "down", addrOf(ca))
		if _, _, ok := recvFrom(t, ca, time.Second); !ok || time.Since(start) != 50*time.Millisecond {
			t.Fatalf("down took %v (arrived %t), want 50ms", time.Since(start), ok)
		}
		if err := a.Link().ImpairDirection(Up, im); err == nil {
			t.Error("ImpairDirection took an impairment with a down direction")
		}
		if got := im.String(); got != "up latency 10ms; down latency 50ms" {
			t.Errorf("String() = %q", got)
		}
	})
}

func TestImpairmentValidation(t *testing.T) {
	tr := mustTrace(t, "1\n2\n")
	for _, tc := range []struct {
		im   Impairment
		want string
	}{
		{Impairment{Loss: 0.2, LossBurst: 0.5}, "below one packet"},
		{Impairment{Loss: 0.8, LossBurst: 2}, "needs bursts of at least 4"},
		{Impairment{Loss: 1, LossBurst: 2}, "endless burst"},
		{Impairment{Reorder: 1.5}, "reorder 1.5 is not between 0 and 1"},
		{Impairment{Bandwidth: 1000, Trace: tr}, "give one"},
		{Impairment{QueuePackets: -1}, "negative"},
		{Impairment{Discipline: 9}, "unknown queue discipline"},
		{Impairment{Schedule: &Schedule{Steps: []Step{{At: 2 * time.Second}, {At: time.Second}}}}, "in time order"},
		{Impairment{Schedule: &Schedule{Steps: []Step{{At: time.Second, Impairment: Impairment{Loss: 3}}}}}, "step 1 at 1s: loss 3"},
		{Impairment{Schedule: &Schedule{Steps: []Step{{Impairment: Impairment{Schedule: &Schedule{}}}}}}, "schedule of its own"},
		{Impairment{Down: &Impairment{Loss: 2}}, "down: loss 2"},
		{Impairment{Down: &Impairment{Down: &Impairment{}}}, "down direction of its own"},
	} {
		if err := tc.im.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one containing %q", tc.im, err, tc.want)
		}
	}
	if err := (Impairment{Loss: 0.5, LossBurst: 1, Trace: tr, QueueDelay: time.Second, Discipline: CoDel}).Validate(); err != nil {
		t.Errorf("valid impairment refused: %v", err)
	}
}

func TestImpairmentString(t *testing.T) {
	for _, tc := range []struct {
		im   Impairment
		want string
	}{
		{Impairment{}, "none"},
		{Impairment{Latency: 15 * time.Millisecond, Loss: 0.02, LossBurst: 3}, "latency 15ms, loss 2% in bursts of 3"},
		{Impairment{Bandwidth: 2_500_000, QueuePackets: 100, Discipline: CoDel}, "bandwidth 2.5 Mbit/s, queue 100 packets codel target 5ms interval 100ms"},
		{Impairment{Reorder: 0.01, Schedule: &Schedule{Steps: make([]Step, 2)}}, "reorder 1% by 10ms, schedule of 2 steps"},
	} {
		if got := tc.im.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}
