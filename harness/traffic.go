package harness

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/icelab/icelab/vnet"
	"github.com/icelab/icelab/vnet/traffic"
)

// TrafficKind is what a cross-traffic flow is.
type TrafficKind string

// Kinds of cross traffic, as libwebrtc's network emulation has them
// (test/network/cross_traffic.h: FakeTcpCrossTraffic, PulsedPeaksCrossTraffic).
const (
	// Download is a bulk TCP transfer from a server on the internet to
	// the host: it fills the host's downlink, and its queue.
	Download TrafficKind = "download"
	// Upload is a bulk TCP transfer from the host to a server on the
	// internet: it fills the host's uplink.
	Upload TrafficKind = "upload"
	// OnOff is UDP from a server on the internet to the host at Rate in
	// on periods of On, silent for Off between them (a game, a stream
	// buffering in bursts).
	OnOff TrafficKind = "on-off"
)

// TrafficServer is the internet host every cross-traffic flow runs to or
// from.
const TrafficServer = "cross-traffic"

// CrossTraffic is another user of a bottleneck the call shares.
type CrossTraffic struct {
	Name string
	Kind TrafficKind
	// Host is the client or peer whose host the flow runs on (a download
	// on the same laptop). LAN, set instead, places a host of the flow's
	// own on that LAN (another device of the household).
	Host, LAN string
	// At is when the flow starts; Until when it stops (zero: at the end
	// of the call).
	At, Until time.Duration
	// Rate, On and Off shape an OnOff flow: bits per second of datagrams
	// on the wire while on.
	Rate    int64
	On, Off time.Duration
}

// TrafficResult is what a cross-traffic flow carried.
type TrafficResult struct {
	Name string
	Kind TrafficKind
	// Bytes is what arrived at the receiving end; Bitrate its mean over
	// the time the flow ran.
	Bytes   int64
	Bitrate float64
	// Err says why the flow could not start or stopped early.
	Err string `json:",omitempty"`
}

// crossFlow is one running (or due) cross-traffic flow. Its fields are
// guarded by mu, which is never held across a start or a stop: a flow's
// TCP connect waits on the network, and inside a synctest bubble a
// goroutine waiting on a mutex would stop the clock.
type crossFlow struct {
	spec CrossTraffic
	host *vnet.Host // the flow's end on the call's side

	mu               sync.Mutex
	started, stopped time.Duration
	bulk             *traffic.Bulk
	onoff            *traffic.OnOff
	err              error
	done             bool // stopped, or the call ended before it started
}

// buildTraffic places the server cross traffic runs to and the hosts of
// flows on a LAN of their own.
func (r *runner) buildTraffic() error {
	if len(r.spec.Traffic) == 0 {
		return nil
	}
	server, err := r.topo.addHost(TrafficServer, "", netip.Addr{}, vnet.Impairment{})
	if err != nil {
		return fmt.Errorf("traffic: %w", err)
	}
	r.trafficServer = server
	for _, t := range r.spec.Traffic {
		f := &crossFlow{spec: t}
		if t.LAN != "" {
			h, err := r.topo.addHost(t.Name, t.LAN, netip.Addr{}, vnet.Impairment{})
			if err != nil {
				return fmt.Errorf("traffic %s: %w", t.Name, err)
			}
			f.host = h
		} else {
			h, ok := r.topo.hosts[t.Host]
			if !ok {
				return fmt.Errorf("traffic %s: no client or peer named %q", t.Name, t.Host)
			}
			f.host = h
		}
		r.traffic = append(r.traffic, f)
	}
	return nil
}

// startTraffic arms each flow's start and stop.
func (r *runner) startTraffic(ctx context.Context) {
	for i, f := range r.traffic {
		port := 8000 + i
		start := func() {
			f.mu.Lock()
			if f.done || ctx.Err() != nil {
				f.mu.Unlock()
				return
			}
			f.started = r.rs.since()
			f.mu.Unlock()
			var (
				bulk  *traffic.Bulk
				onoff *traffic.OnOff
				err   error
			)
			switch f.spec.Kind {
			case Download:
				bulk, err = traffic.StartBulk(ctx, traffic.BulkConfig{Server: r.trafficServer, Client: f.host, Port: port})
			case Upload:
				bulk, err = traffic.StartBulk(ctx, traffic.BulkConfig{Server: r.trafficServer, Client: f.host, Port: port, Upload: true})
			case OnOff:
				onoff, err = traffic.StartOnOff(ctx, traffic.OnOffConfig{From: r.trafficServer, To: f.host, Port: port,
					Rate: f.spec.Rate, On: f.spec.On, Off: f.spec.Off})
			}
			f.mu.Lock()
			f.bulk, f.onoff, f.err = bulk, onoff, err
			late := f.done // the call, or the flow, ended while it connected
			f.mu.Unlock()
			if late {
				stopGenerators(bulk, onoff)
			}
			what := fmt.Sprintf("%s starts", f.spec.Kind)
			if err != nil {
				what = fmt.Sprintf("%s failed: %v", f.spec.Kind, err)
			}
			r.mu.Lock()
			r.rs.fault(f.spec.Name, what)
			r.mu.Unlock()
		}
		r.mu.Lock()
		r.timers = append(r.timers, time.AfterFunc(f.spec.At, start))
		if f.spec.Until > 0 {
			r.timers = append(r.timers, time.AfterFunc(f.spec.Until, func() {
				if r.stopFlow(f) {
					r.mu.Lock()
					r.rs.fault(f.spec.Name, fmt.Sprintf("%s stops", f.spec.Kind))
					r.mu.Unlock()
				}
			}))
		}
		r.mu.Unlock()
	}
}

// stopFlow stops a flow once; it reports whether the flow was running.
func (r *runner) stopFlow(f *crossFlow) bool {
	f.mu.Lock()
	if f.done {
		f.mu.Unlock()
		return false
	}
	f.done = true
	f.stopped = r.rs.since()
	bulk, onoff := f.bulk, f.onoff
	f.mu.Unlock()
	stopGenerators(bulk, onoff)
	return bulk != nil || onoff != nil
}

func stopGenerators(bulk *traffic.Bulk, onoff *traffic.OnOff) {
	if bulk != nil {
		_ = bulk.Stop()
	}
	if onoff != nil {
		_ = onoff.Stop()
	}
}

// trafficResults stops every flow still running and says what each
// carried.
func (r *runner) trafficResults() []TrafficResult {
	var out []TrafficResult
	for _, f := range r.traffic {
		r.stopFlow(f)
		f.mu.Lock()
		tr := TrafficResult{Name: f.spec.Name, Kind: f.spec.Kind}
		switch {
		case f.bulk != nil:
			tr.Bytes = f.bulk.Received()
		case f.onoff != nil:
			_, tr.Bytes = f.onoff.Received()
		}
		if f.err != nil {
			tr.Err = f.err.Error()
		}
		if d := f.stopped - f.started; d > 0 && (f.bulk != nil || f.onoff != nil) {
			tr.Bitrate = float64(tr.Bytes*8) / d.Seconds()
		}
		f.mu.Unlock()
		out = append(out, tr)
	}
	return out
}

// validateTraffic checks the cross traffic: names of its own, a host that
// is a client or peer (clients) or a LAN that is defined (names), a kind,
// and times and shapes that make sense.
func (s Spec) validateTraffic(names, clients map[string]bool) error {
	seen := map[string]bool{}
	for i, t := range s.Traffic {
		where := fmt.Sprintf("traffic[%d]", i)
		switch {
		case t.Name == "":
			return fmt.Errorf("%s: a name is required", where)
		case seen[t.Name] || names[t.Name] || clients[t.Name] || t.Name == TrafficServer:
			return fmt.Errorf("%s: name %q is taken", where, t.Name)
		case (t.Host == "") == (t.LAN == ""):
			return fmt.Errorf("traffic %s: give a host (a client or peer) or a lan, not both", t.Name)
		case t.Host != "" && !clients[t.Host]:
			return fmt.Errorf("traffic %s: %q is not a client or peer", t.Name, t.Host)
		case t.LAN != "" && !names[t.LAN]:
			return fmt.Errorf("traffic %s: lan %q is not defined", t.Name, t.LAN)
		case t.At < 0 || t.Until < 0 || (t.Until > 0 && t.Until <= t.At):
			return fmt.Errorf("traffic %s: until (%v) must come after at (%v)", t.Name, t.Until, t.At)
		}
		switch t.Kind {
		case Download, Upload:
		case OnOff:
			if t.Rate <= 0 || t.On <= 0 || t.Off < 0 {
				return fmt.Errorf("traffic %s: on-off needs a rate and an on period (rate %d, on %v, off %v)", t.Name, t.Rate, t.On, t.Off)
			}
		default:
			return fmt.Errorf("traffic %s: unknown kind %q (want download, upload or on-off)", t.Name, t.Kind)
		}
		seen[t.Name] = true
	}
	return nil
}
