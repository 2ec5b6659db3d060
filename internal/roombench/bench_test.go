package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// childEnv, set, makes the test binary a room rather than a test run: the
// benchmark runs each room in a process of its own, so that its peak
// resident memory is that room's, and on the fake clock, which needs a
// bubble that only testing.Main can make (see harness/fakeclock).
const childEnv = "ROOMBENCH_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		main() // its flags are in os.Args
		return
	}
	os.Exit(m.Run())
}

// rooms are the sizes `make bench` measures: clients × call length.
var rooms = []struct {
	clients   int
	call      time.Duration
	simulcast bool
}{
	{2, 30 * time.Second, false},
	{2, 5 * time.Minute, false},
	{8, 30 * time.Second, false},
	{16, 30 * time.Second, false},
	// A minute of a three-person call with simulcast and GCC, the shape
	// of a LiveKit meeting: how much faster than real time it runs.
	{3, time.Minute, true},
}

// BenchmarkRoom measures what a room costs: a call of N clients through
// the media node, each publishing audio and 1.5 Mbit/s video and
// subscribing to everyone else, on the fake clock. Each iteration is a
// room in a process of its own. Beside the wall time per room (ns/op) it
// reports the CPU time per media packet delivered (at the node and at each
// subscriber), the peak resident memory per subscription, the heap
// allocations per packet, the packets delivered and how many times faster
// than real time the call ran. Larger rooms:
// go run ./internal/roombench -clients 32.
func BenchmarkRoom(b *testing.B) {
	for _, r := range rooms {
		name := fmt.Sprintf("clients=%d/call=%v", r.clients, r.call)
		if r.simulcast {
			name += "/simulcast+gcc"
		}
		b.Run(name, func(b *testing.B) {
			var f Figures
			for range b.N {
				cmd := exec.Command(os.Args[0], "-clients", fmt.Sprint(r.clients), "-duration", r.call.String(), "-json", fmt.Sprintf("-simulcast=%v", r.simulcast))
				cmd.Env = append(os.Environ(), childEnv+"=1")
				var out, errs bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &errs
				if err := cmd.Run(); err != nil {
					b.Fatalf("room of %d: %v: %s", r.clients, err, errs.String())
				}
				if err := json.Unmarshal(out.Bytes(), &f); err != nil {
					b.Fatalf("room of %d: %v in %q", r.clients, err, out.String())
				}
			}
			packets := float64(max(f.Packets, 1))
			b.ReportMetric(f.CPU*1e6/packets, "µs-cpu/pkt")
			b.ReportMetric(float64(f.PeakRSS)/1e6/float64(max(f.Subscriptions, 1)), "MB-rss/sub")
			b.ReportMetric(float64(f.PeakRSS)/1e6, "MB-rss")
			b.ReportMetric(float64(f.Allocs)/packets, "allocs/pkt")
			b.ReportMetric(float64(f.Packets), "pkts")
			b.ReportMetric(f.Call/max(f.Wall, 1e-9), "x-realtime")
		})
	}
}
