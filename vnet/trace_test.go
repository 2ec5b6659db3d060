package vnet

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

var update = flag.Bool("update", false, "rewrite the generated test traces in testdata/traces")

func mustTrace(t testing.TB, text string) *Trace {
	t.Helper()
	tr, err := ParseTrace("test.trace", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// cellularTrace generates the cellular-like trace of
// testdata/traces/cellular.trace: 60 seconds of a link whose capacity
// moves as an LTE downlink's does, by this process, seeded so that it is
// the same every time:
//
//   - Time is cut into 100 ms slots. The capacity of the first slot is
//     4 Mbit/s; each next slot's is the last one's times e^x, x drawn
//     from a normal distribution of mean 0 and standard deviation 0.25
//     (a random walk in log space, as scheduling and fading make a
//     cellular link's rate wander), kept between 0.3 and 12 Mbit/s.
//   - Each slot, with probability 1%, a deep fade starts: the link carries
//     nothing for 300 to 800 ms (uniform), as in a tunnel or a handover.
//   - Within a slot the capacity is constant: an opportunity of 1504 bytes
//     falls at the millisecond in which the bytes the capacity has
//     carried since the start pass the next multiple of 1504.
func cellularTrace() []uint32 {
	const (
		slot     = 100 // ms
		duration = 60_000
	)
	rng := rand.New(rand.NewPCG(2026, 22))
	var (
		out    []uint32
		rate   = 4e6 // bit/s
		carry  float64
		fadeTo = -1
	)
	for start := 0; start < duration; start += slot {
		if start > 0 {
			rate = math.Min(12e6, math.Max(0.3e6, rate*math.Exp(rng.NormFloat64()*0.25)))
		}
		if fadeTo < start && rng.Float64() < 0.01 {
			fadeTo = start + 300 + rng.IntN(501)
		}
		for ms := start; ms < start+slot; ms++ {
			if ms < fadeTo {
				continue
			}
			carry += rate / 8 / 1000
			for carry >= TraceOpportunity {
				carry -= TraceOpportunity
				out = append(out, uint32(ms+1))
			}
		}
	}
	if out[len(out)-1] != duration {
		out = append(out, duration) // the trace lasts the full minute
	}
	return out
}

// constantTrace returns a trace of a constant rate: an opportunity
// whenever the bytes carried pass a multiple of 1504, over duration ms.
func constantTrace(bps int64, duration int) []uint32 {
	var out []uint32
	for k := int64(1); ; k++ {
		ms := (k*TraceOpportunity*8*1000 + bps - 1) / bps
		if ms > int64(duration) {
			break
		}
		out = append(out, uint32(ms))
	}
	return out
}

func formatTrace(ms []uint32) []byte {
	var b bytes.Buffer
	for _, m := range ms {
		fmt.Fprintln(&b, m)
	}
	return b.Bytes()
}

// TestGeneratedTraces checks that the traces in testdata/traces are what
// their documented generators make; -update rewrites them.
func TestGeneratedTraces(t *testing.T) {
	for name, ms := range map[string][]uint32{
		"cellular.trace":       cellularTrace(),
		"constant-2mbit.trace": constantTrace(2_000_000, 12_032),
	} {
		path := filepath.Join("testdata", "traces", name)
		want := formatTrace(ms)
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from its generator's output; run go test -run TestGeneratedTraces -update ./vnet/", path)
		}
		if _, err := LoadTrace(path); err != nil {
			t.Error(err)
		}
	}
}

func TestParseTrace(t *testing.T) {
	tr := mustTrace(t, "5\n5\n 10 \n")
	if tr.Opportunities() != 3 || tr.Duration() != 10*time.Millisecond || tr.Rate() != 3*1504*8*100 {
		t.Errorf("trace of %d opportunities over %v at %d bit/s, want 3 over 10ms at %d", tr.Opportunities(), tr.Duration(), tr.Rate(), 3*1504*8*100)
	}
	for _, tc := range []struct{ text, want string }{
		{"", "test.trace: no delivery opportunities"},
		{"0\n0\n", "test.trace: the trace lasts 0 ms"},
		{"1\n\n2\n", "test.trace:2: empty line"},
		{"1\n2\nten\n", `test.trace:3: "ten" is not a millisecond count`},
		{"1\n-2\n", `test.trace:2: "-2" is not a millisecond count`},
		{"1\n5000000000\n", `test.trace:2: "5000000000" is not a millisecond count`},
		{"5\n3\n", "test.trace:2: 3 ms comes after 5 ms"},
	} {
		if _, err := ParseTrace("test.trace", strings.NewReader(tc.text)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.text, err, tc.want)
		}
	}
	if _, err := LoadTrace(filepath.Join("testdata", "traces", "missing.trace")); err == nil || !strings.Contains(err.Error(), "missing.trace") {
		t.Errorf("missing file: error %v, want one naming it", err)
	}
}

func FuzzParseTrace(f *testing.F) {
	f.Add("5\n5\n10\n")
	f.Add("0\n")
	f.Add("1\r\n2\r\n")
	f.Add("3\n2\n")
	f.Fuzz(func(t *testing.T, text string) {
		tr, err := ParseTrace("fuzz", strings.NewReader(text))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz") {
				t.Fatalf("error %q does not name the trace", err)
			}
			return
		}
		if tr.Opportunities() == 0 || tr.Duration() <= 0 || tr.Rate() <= 0 {
			t.Fatalf("accepted a trace of %d opportunities over %v", tr.Opportunities(), tr.Duration())
		}
		s := newTraceServer(tr, 0)
		last := time.Duration(0)
		for i := 0; i < 10; i++ {
			at := s.finish(last, 1200)
			if at < last {
				t.Fatalf("a packet finished at %v, before it started at %v", at, last)
			}
			last = at
		}
	})
}

// TestTraceDeliveryTimes checks Mahimahi's rules on a small trace: a
// packet leaves at the first opportunity at or after it reaches the head
// of the queue; the bytes an opportunity has left go to the next queued
// packet; unused opportunities are lost; the trace repeats.
func TestTraceDeliveryTimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, _, ca, cb := pair(t)
		// Opportunities at 5, 5 and 10 ms, then 15, 15, 20 ms...
		if err := a.Link().ImpairDirection(Up, Impairment{Trace: mustTrace(t, "5\n5\n10\n")}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		arrived := make(chan time.Duration, 5)
		go func() {
			for i := 0; i < 5; i++ {
				if _, _, ok := recvFrom(t, cb, time.Second); !ok {
					t.Errorf("datagram %d did not arrive", i)
					break
				}
				arrived <- time.Since(start)
			}
			close(arrived)
		}()
		payload := strings.Repeat("x", 1000-28)
		for i := 0; i < 3; i++ {
			send(t, ca, payload, addrOf(cb)) // 3000 bytes: fit the two opportunities at 5 ms
		}
		time.Sleep(6 * time.Millisecond)
		send(t, ca, payload, addrOf(cb)) // the opportunity at 10 ms
		time.Sleep(5 * time.Millisecond)
		send(t, ca, payload+payload, addrOf(cb)) // 1972 bytes at 11 ms: the two at 15 ms
		var times []time.Duration
		for at := range arrived {
			times = append(times, at)
		}
		if len(times) != 5 {
			t.Fatalf("%d of 5 datagrams arrived", len(times))
		}
		want := []time.Duration{5, 5, 5, 10, 15}
		for i := range want {
			if times[i] != want[i]*time.Millisecond {
				t.Fatalf("arrival times %v, want %v ms", times, want)
			}
		}
	})
}

// TestTraceDeliversItsCapacity replays the generated traces to a sender
// that keeps the link's queue from emptying, and checks that the link
// carries the trace's capacity within 2% over a whole repetition of it.
func TestTraceDeliversItsCapacity(t *testing.T) {
	for _, name := range []string{"cellular.trace", "constant-2mbit.trace"} {
		tr, err := LoadTrace(filepath.Join("testdata", "traces", name))
		if err != nil {
			t.Fatal(err)
		}
		synctest.Test(t, func(t *testing.T) {
			_, a, _, ca, cb := pair(t)
			if err := a.Link().ImpairDirection(Up, Impairment{Trace: tr, QueuePackets: 200}); err != nil {
				t.Fatal(err)
			}
			const size = 1200 // bytes on the wire
			payload := make([]byte, size-28)
			reps := 1
			end := time.Now().Add(time.Duration(reps) * tr.Duration())
			// Keep 100 datagrams outstanding: the queue never empties.
			for i := 0; i < 100; i++ {
				send(t, ca, string(payload), addrOf(cb))
			}
			delivered := 0
			buf := make([]byte, 2048)
			for {
				_ = cb.SetReadDeadline(end)
				if _, _, err := cb.ReadFromUDP(buf); err != nil {
					break
				}
				delivered += size
				send(t, ca, string(payload), addrOf(cb))
			}
			want := float64(reps*tr.Opportunities()) * TraceOpportunity
			if got := float64(delivered); math.Abs(got-want)/want > 0.02 {
				t.Errorf("%s: %d bytes delivered over %d repetitions, want %.0f within 2%%", name, delivered, reps, want)
			} else {
				t.Logf("%s: %d bytes delivered over %d repetitions of %v, trace capacity %.0f bytes (%.2f%%)", name, delivered, reps, tr.Duration(), want, 100*(got-want)/want)
			}
		})
	}
}
