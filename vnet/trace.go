package vnet

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// TraceOpportunity is how many bytes one delivery opportunity of a trace
// carries: Mahimahi's PACKET_SIZE, the largest payload of its TUN device
// (src/frontend/link_queue.hh), an IP packet of up to 1504 bytes.
const TraceOpportunity = 1504

// maxTraceLines bounds a trace so that a hostile file cannot exhaust memory:
// 16 Mi opportunities, 4.6 hours at 10 Mbit/s.
const maxTraceLines = 1 << 24

// Trace is a recorded link's delivery opportunities in Mahimahi's format
// (mm-link, src/frontend/link_queue.cc): one line per opportunity, the
// millisecond at which the link could send one packet of up to
// TraceOpportunity bytes. Several lines may name the same millisecond;
// they never decrease. The trace repeats, each repetition lasting its last
// line's milliseconds, and starts when the impairment that holds it is set.
//
// A link replaying a trace sends its queued packets at the opportunities,
// as mm-link does: an opportunity unused by an empty queue is lost; a
// packet larger than an opportunity uses as many as it needs; bytes left
// over by the packet that finished at an opportunity go to the next queued
// packet. Cellular traces recorded by Mahimahi's authors (Winstein et al.,
// "Stochastic Forecasts Achieve High Throughput and Low Delay over Cellular
// Networks", NSDI 2013) are in this format.
type Trace struct {
	name   string
	ms     []uint32
	period time.Duration
}

// LoadTrace reads a trace from a regular file; its name is the path.
func LoadTrace(path string) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("trace %s: not a regular file", path)
	}
	return ParseTrace(path, f)
}

// ParseTrace reads a trace in Mahimahi's format; name names it in errors,
// which give the line.
func ParseTrace(name string, r io.Reader) (*Trace, error) {
	t := &Trace{name: name}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" {
			return nil, fmt.Errorf("%s:%d: empty line; every line is a millisecond count", name, line)
		}
		v, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %q is not a millisecond count (a whole number from 0 to %d)", name, line, truncate(s, 40), uint32(1<<32-1))
		}
		ms := uint32(v)
		if n := len(t.ms); n > 0 && ms < t.ms[n-1] {
			return nil, fmt.Errorf("%s:%d: %d ms comes after %d ms: the milliseconds must not decrease", name, line, ms, t.ms[n-1])
		}
		if len(t.ms) == maxTraceLines {
			return nil, fmt.Errorf("%s:%d: more than %d delivery opportunities", name, line, maxTraceLines)
		}
		t.ms = append(t.ms, ms)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s:%d: line too long", name, line+1)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(t.ms) == 0 {
		return nil, fmt.Errorf("%s: no delivery opportunities", name)
	}
	if t.ms[len(t.ms)-1] == 0 {
		return nil, fmt.Errorf("%s: the trace lasts 0 ms: its last opportunity must come after millisecond 0", name)
	}
	t.period = time.Duration(t.ms[len(t.ms)-1]) * time.Millisecond
	return t, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// Name returns the trace's name, the path it was loaded from.
func (t *Trace) Name() string { return t.name }

// Duration returns how long one repetition of the trace lasts.
func (t *Trace) Duration() time.Duration { return t.period }

// Opportunities returns how many delivery opportunities one repetition
// holds.
func (t *Trace) Opportunities() int { return len(t.ms) }

// Rate returns the trace's mean capacity in bits per second: its
// opportunities' bytes over its duration, at least 1.
func (t *Trace) Rate() int64 {
	return max(int64(float64(len(t.ms))*TraceOpportunity*8/t.period.Seconds()), 1)
}

// traceServer sends packets at a trace's delivery opportunities.
type traceServer struct {
	t      *Trace
	origin time.Duration
	// The next unused opportunity: repetition cycle, line i.
	cycle int64
	i     int
	// spare bytes are left of the opportunity at spareAt, which finished
	// the last packet.
	spare   int
	spareAt time.Duration
}

func newTraceServer(t *Trace, origin time.Duration) *traceServer {
	return &traceServer{t: t, origin: origin}
}

func (s *traceServer) rate() int64 { return s.t.Rate() }

// at returns the time of opportunity i of repetition cycle.
func (s *traceServer) at(cycle int64, i int) time.Duration {
	return s.origin + time.Duration(cycle)*s.t.period + time.Duration(s.t.ms[i])*time.Millisecond
}

func (s *traceServer) finish(start time.Duration, size int) time.Duration {
	if s.spare > 0 && s.spareAt >= start {
		if size <= s.spare {
			s.spare -= size
			return s.spareAt
		}
		size -= s.spare
	}
	s.spare = 0
	s.skipTo(start)
	for {
		at := s.at(s.cycle, s.i)
		if s.i++; s.i == len(s.t.ms) {
			s.i, s.cycle = 0, s.cycle+1
		}
		if size <= TraceOpportunity {
			s.spare, s.spareAt = TraceOpportunity-size, at
			return at
		}
		size -= TraceOpportunity
	}
}

// skipTo moves the next opportunity to the first at or after start: the
// ones before passed unused.
func (s *traceServer) skipTo(start time.Duration) {
	if s.at(s.cycle, s.i) >= start {
		return
	}
	rel := max(start-s.origin, 0)
	cycle := int64(rel / s.t.period)
	within := rel - time.Duration(cycle)*s.t.period
	i := sort.Search(len(s.t.ms), func(i int) bool { return time.Duration(s.t.ms[i])*time.Millisecond >= within })
	if i == len(s.t.ms) {
		i, cycle = 0, cycle+1
	}
	s.cycle, s.i = cycle, i
}
