// Command roombench measures what a room costs icelab: a call of N clients
// through the media node, each publishing Opus-sized audio and 1.5 Mbit/s
// video and subscribing to everyone else, run on the fake clock. It prints,
// per room, the wall time, the CPU time per media packet delivered (each
// packet counted once where it arrived: at the node, and at each
// subscriber) and the peak resident memory per subscription, beside the
// same figures for a two-client call, the baseline a room's cost grows
// from. One room per process, so that the peak memory is that room's:
//
//	go run ./internal/roombench -clients 16 -duration 30s
//
// It knows harness specs and results; `make bench` runs it for a few sizes.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/icelab/icelab/harness/fakeclock"
	"github.com/icelab/icelab/relay"
	"github.com/icelab/icelab/relay/pki"
	"github.com/icelab/icelab/reports"
)

func main() {
	clients := flag.Int("clients", 8, "participants in the room")
	duration := flag.Duration("duration", 30*time.Second, "the call's length, on the fake clock")
	video := flag.Bool("video", true, "every client publishes video as well as audio")
	cameras := flag.Int("cameras", -1, "only this many clients publish video (the rest audio only); -1: as -video says")
	simulcast := flag.Bool("simulcast", false, "video in three simulcast layers, every client's senders under GCC (as LiveKit's browser clients publish)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file")
	memProfile := flag.String("memprofile", "", "write a heap profile of the call at its largest live heap to this file")
	asJSON := flag.Bool("json", false, "print the figures as one JSON object (what the room benchmark reads)")
	out := flag.String("out", "", "also write the run's reports (results.json, report.html, ...) to this directory, and print their sizes")
	flag.Parse()
	profiles = struct{ cpu, mem string }{*cpuProfile, *memProfile}
	reportDir = *out
	jsonOut = *asJSON
	fakeclock.Main(func(r *fakeclock.Runner) int {
		cams := *cameras
		if cams < 0 {
			cams = 0
			if *video {
				cams = *clients
			}
		}
		if err := run(r, *clients, *duration, cams, *simulcast); err != nil {
			fmt.Fprintln(os.Stderr, "roombench:", err)
			return 1
		}
		return 0
	})
}

// room is a call of n clients on the open internet, all publishing audio,
// the first cameras of them video too, in simulcast layers under GCC if
// simulcast says so.
func room(n int, d time.Duration, cameras int, simulcast bool) (harness.Spec, error) {
	ca, err := pki.NewCA("roombench CA")
	if err != nil {
		return harness.Spec{}, err
	}
	leaf, err := ca.Valid("turn.example.com")
	if err != nil {
		return harness.Spec{}, err
	}
	cfg := relay.DefaultConfig()
	cfg.TURN.Domain, cfg.TURN.TLSPort, cfg.TURN.Certificate = "turn.example.com", 443, &leaf.Certificate
	cfg.Keys = map[string]string{"devkey": "devsecret"}
	spec := harness.Spec{Name: fmt.Sprintf("room of %d", n), Node: harness.NodeSpec{Config: cfg}, Duration: d}
	for i := range n {
		c := harness.ClientSpec{Name: "c" + strconv.Itoa(i), Publish: harness.Publish{Audio: true, Video: i < cameras}}
		if simulcast {
			c.CongestionControl, c.Publish.Simulcast = harness.GCC, c.Publish.Video
		}
		spec.Clients = append(spec.Clients, c)
	}
	return spec, nil
}

func run(r *fakeclock.Runner, n int, d time.Duration, cameras int, simulcast bool) error {
	spec, err := room(n, d, cameras, simulcast)
	if err != nil {
		return err
	}
	if profiles.cpu != "" {
		f, err := os.Create(profiles.cpu)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	stopWatch := watchHeap(profiles.mem)
	before, allocsBefore := cpu(), allocs()
	start := time.Now()
	var res harness.Result
	r.Run([]harness.Spec{spec}, 1, nil, func(_ int, got harness.Result) { res = got })
	wall := time.Since(start)
	used, allocated := cpu()-before, allocs()-allocsBefore
	if err := stopWatch(); err != nil {
		return err
	}
	if res.Err != "" {
		return fmt.Errorf("%s: %s", spec.Name, res.Err)
	}
	var packets uint64
	subs := 0
	for _, c := range res.Clients {
		for _, m := range c.Media {
			if m.Quality != nil {
				packets += m.Packets
			}
			if m.Direction == "received" && m.Kind != "data" {
				subs++
			}
		}
	}
	if reportDir != "" {
		if err := writeReports(reportDir, res); err != nil {
			return err
		}
	}
	rss := peakRSS()
	perSub := 0.0
	if subs > 0 {
		perSub = float64(rss) / float64(subs)
	}
	if jsonOut {
		return json.NewEncoder(os.Stdout).Encode(Figures{Clients: n, Call: d.Seconds(), Wall: wall.Seconds(), CPU: used.Seconds(),
			Packets: packets, Subscriptions: subs, PeakRSS: rss, PeakLive: peak.live, Allocs: allocated})
	}
	fmt.Printf("clients %d (%d with video), %v of call: wall %v (%.0f times real time), CPU %v, %d media packets delivered, %.2f µs CPU per packet, peak RSS %.0f MB, %d subscriptions, %.2f MB per subscription\n",
		n, cameras, d, wall.Round(10*time.Millisecond), d.Seconds()/wall.Seconds(), used.Round(10*time.Millisecond), packets,
		float64(used.Microseconds())/float64(max(packets, 1)), float64(rss)/1e6, subs, perSub/1e6)
	fmt.Printf("peak live heap %.0f MB, goroutine stacks %.0f MB, %d goroutines, %.1f heap allocations per packet\n",
		float64(peak.live)/1e6, float64(peak.stacks)/1e6, peak.goroutines, float64(allocated)/float64(max(packets, 1)))
	return nil
}

// Figures are what -json prints: one room's cost.
type Figures struct {
	Clients       int     `json:"clients"`
	Call          float64 `json:"call_s"` // the call's length, fake clock
	Wall          float64 `json:"wall_s"`
	CPU           float64 `json:"cpu_s"` // user and system
	Packets       uint64  `json:"packets"`
	Subscriptions int     `json:"subscriptions"`
	PeakRSS       uint64  `json:"peak_rss_bytes"`
	PeakLive      uint64  `json:"peak_live_heap_bytes"`
	Allocs        uint64  `json:"heap_allocs"`
}

// jsonOut prints the figures as one JSON object instead of sentences.
var jsonOut bool

// reportDir is where to write the run's reports, if anywhere.
var reportDir string

// writeReports writes the run's reports to dir and prints their sizes.
func writeReports(dir string, res harness.Result) error {
	if err := reports.Write(dir, reports.Suite{Runs: []reports.Run{{Result: res}}, Wall: res.Wall}); err != nil {
		return err
	}
	for _, name := range []string{reports.JSONFile, reports.HTMLFile, reports.MarkdownFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		fmt.Printf("%s: %d bytes\n", name, fi.Size())
	}
	return nil
}

// profiles are the profiles to write, if any.
var profiles struct{ cpu, mem string }

// watchHeap keeps the peaks of the live heap, the goroutine stacks and
// the goroutines, and, when path is set, writes a heap profile to path each time the
// live heap (as the last garbage collection found it) grows by a tenth
// over the last one written, so that the profile shows the call at its
// largest, not after its teardown. It polls on the machine's clock,
// outside the run's bubble; stop ends it and returns the first error.
func watchHeap(path string) (stop func() error) {
	done, ended := make(chan struct{}), make(chan error, 1)
	go func() {
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}, {Name: "/sched/goroutines:goroutines"}}
		var written uint64
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				ended <- nil
				return
			case <-tick.C:
			}
			metrics.Read(sample)
			peak.live = max(peak.live, sample[0].Value.Uint64())
			peak.stacks = max(peak.stacks, sample[1].Value.Uint64())
			peak.goroutines = max(peak.goroutines, sample[2].Value.Uint64())
			if live := sample[0].Value.Uint64(); path != "" && live > written+written/10 {
				if err := writeHeap(path); err != nil {
					ended <- err
					return
				}
				written = live
			}
		}
	}()
	return func() error {
		close(done)
		return <-ended
	}
}

// peak is the largest live heap, goroutine stacks and goroutines
// watchHeap saw, polling every 100 ms.
var peak struct{ live, stacks, goroutines uint64 }

// writeHeap writes a heap profile (in use at the last garbage collection,
// and what the call allocated so far).
func writeHeap(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("allocs").WriteTo(f, 0)
}

// allocs is how many heap objects the process has allocated so far.
func allocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// cpu is the process's user and system time so far.
func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS is the process's peak resident set, in bytes (VmHWM).
func peakRSS() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}
