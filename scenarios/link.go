package scenarios

import (
	"cmp"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/icelab/icelab/vnet"
	"go.yaml.in/yaml/v3"
)

// maxTraceFile bounds a delivery-opportunity trace: some 8 million
// opportunities, a 3-hour trace of a 10 Mbit/s link.
const maxTraceFile = 64 << 20

var disciplines = []string{"drop-tail", "codel"}

// impairment reads a link: {latency, jitter, loss, loss_burst, reorder,
// reorder_delay, bandwidth, trace, queue, discipline, codel, schedule,
// down}. down gives the down direction's fields where they differ from
// the link's; a schedule belongs to the direction whose fields hold it.
func (p *parser) impairment(path string, v *yaml.Node) vnet.Impairment {
	var downNode *yaml.Node
	im, ok := p.linkDirection(path, v, vnet.Impairment{}, map[string]field{
		"down": func(_ string, v *yaml.Node) { downNode = v },
	})
	if ok && downNode != nil {
		base := im
		base.Schedule = nil
		if down, ok := p.linkDirection(join(path, "down"), downNode, base, nil); ok {
			im.Down = &down
		}
	}
	return im
}

// linkDirection reads one direction's link fields over base, with extra
// fields, and reports whether they are sound.
func (p *parser) linkDirection(path string, v *yaml.Node, base vnet.Impairment, extra map[string]field) (vnet.Impairment, bool) {
	im := base
	at := map[string]*yaml.Node{}
	fields := p.linkFields(&im, at)
	var schedNode *yaml.Node
	fields["schedule"] = func(_ string, v *yaml.Node) { schedNode = v }
	for k, f := range extra {
		fields[k] = f
	}
	if !p.fields(v, path, fields) || !p.checkLink(path, v, im, at) {
		return im, false
	}
	if schedNode != nil {
		im.Schedule = p.schedule(join(path, "schedule"), schedNode, im)
	}
	return im, true
}

// linkFields are the handlers of a link's fields but its schedule: each
// sets its part of im, records its node in at, and, as a schedule's step
// starts from the impairment before it, clears what it replaces.
func (p *parser) linkFields(im *vnet.Impairment, at map[string]*yaml.Node) map[string]field {
	seen := func(name string, v *yaml.Node) { at[name] = v }
	return map[string]field{
		"latency": func(path string, v *yaml.Node) { seen("latency", v); p.duration(v, path, true, &im.Latency) },
		"jitter":  func(path string, v *yaml.Node) { seen("jitter", v); p.duration(v, path, true, &im.Jitter) },
		"loss":    func(path string, v *yaml.Node) { seen("loss", v); p.fraction(v, path, &im.Loss) },
		"loss_burst": func(path string, v *yaml.Node) {
			seen("loss_burst", v)
			p.burstLength(v, path, &im.LossBurst)
		},
		"reorder": func(path string, v *yaml.Node) { seen("reorder", v); p.fraction(v, path, &im.Reorder) },
		"reorder_delay": func(path string, v *yaml.Node) {
			seen("reorder_delay", v)
			p.duration(v, path, false, &im.ReorderDelay)
		},
		"bandwidth": func(path string, v *yaml.Node) {
			seen("bandwidth", v)
			if v.Kind == yaml.ScalarNode && v.Value == "unlimited" {
				im.Bandwidth, im.Trace = 0, nil
				return
			}
			if p.bitrate(v, path, &im.Bandwidth) {
				im.Trace = nil
			}
		},
		"trace": func(path string, v *yaml.Node) {
			seen("trace", v)
			if tr := p.trace(path, v); tr != nil {
				im.Trace, im.Bandwidth = tr, 0
			}
		},
		"queue": func(path string, v *yaml.Node) { seen("queue", v); p.queue(path, v, im) },
		"discipline": func(path string, v *yaml.Node) {
			seen("discipline", v)
			var s string
			if p.enum(v, path, "queue discipline", disciplines, &s) {
				im.Discipline = map[string]vnet.Discipline{"drop-tail": vnet.DropTail, "codel": vnet.CoDel}[s]
			}
		},
		"codel": func(path string, v *yaml.Node) {
			seen("codel", v)
			p.fields(v, path, map[string]field{
				"target":   func(path string, v *yaml.Node) { p.duration(v, path, false, &im.CoDelTarget) },
				"interval": func(path string, v *yaml.Node) { p.duration(v, path, false, &im.CoDelInterval) },
			})
		},
	}
}

// checkLink reports what a link's fields mean nothing, or nothing
// possible, together, at the field responsible. It reports whether the
// link is sound.
func (p *parser) checkLink(path string, v *yaml.Node, im vnet.Impairment, at map[string]*yaml.Node) bool {
	errs := len(p.errs)
	fail := func(field, format string, args ...any) {
		n, where := at[field], join(path, field)
		if n == nil {
			n, where = v, path
		}
		p.errorf(n, where, format, args...)
	}
	if im.Latency > time.Minute || im.Jitter > time.Minute || im.ReorderDelay > time.Minute {
		p.errorf(v, path, "latency, jitter and reorder delay above a minute are not a network, they are an outage; use a cut fault")
	}
	// A queue given without a capacity to wait for is a mistake; one a
	// schedule's step keeps after lifting the capacity is just idle.
	capacity := im.Bandwidth > 0 || im.Trace != nil
	switch {
	case !capacity && at["queue"] != nil:
		fail("queue", "a queue applies only with a bandwidth or a trace to wait for")
	case !capacity && at["discipline"] != nil && im.Discipline == vnet.CoDel:
		fail("discipline", "a queue discipline applies only with a bandwidth or a trace to wait for")
	}
	if at["codel"] != nil && im.Discipline != vnet.CoDel {
		fail("codel", "codel tunes a CoDel queue; add discipline: codel")
	}
	if target, interval := cmp.Or(im.CoDelTarget, 5*time.Millisecond), cmp.Or(im.CoDelInterval, 100*time.Millisecond); target >= interval {
		fail("codel", "target %v is not below interval %v; RFC 8289 sets it at 5%% to 10%% of the interval", target, interval)
	}
	if im.LossBurst > 0 && im.Loss == 0 {
		fail("loss_burst", "a loss burst length needs a loss rate (loss)")
	}
	if im.ReorderDelay > 0 && im.Reorder == 0 {
		fail("reorder_delay", "a reorder delay needs a reorder rate (reorder)")
	}
	if len(p.errs) > errs {
		return false
	}
	im.Schedule = nil // checked step by step
	if err := im.Validate(); err != nil {
		field := ""
		if strings.Contains(err.Error(), "burst") {
			field = "loss_burst"
		}
		fail(field, "%v", err)
		return false
	}
	return true
}

// burstLength reads a mean loss burst length in packets, at least 1.
func (p *parser) burstLength(v *yaml.Node, path string, dst *float64) {
	if !p.scalar(v, path, "a mean burst length in packets, like 3") {
		return
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v.Value), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 1 || f > 1e6 {
		p.errorf(v, path, "want a mean burst length in packets from 1 to 1000000, like 3, got %q", v.Value)
		return
	}
	*dst = f
}

// queue reads a queue size: bytes (65536, or "64 KiB" style "65536
// bytes"), packets ("100 packets") or the time the link takes to send it
// ("200ms").
func (p *parser) queue(path string, v *yaml.Node, im *vnet.Impairment) {
	const want = `a queue size: bytes (65536), packets ("100 packets") or time at the link's rate ("200ms")`
	if !p.scalar(v, path, want) {
		return
	}
	s := strings.TrimSpace(v.Value)
	im.QueueBytes, im.QueuePackets, im.QueueDelay = 0, 0, 0
	num, unit, _ := strings.Cut(s, " ")
	unit = strings.TrimSpace(unit)
	n, err := strconv.ParseInt(strings.ReplaceAll(num, "_", ""), 10, 64)
	switch {
	case err == nil && (unit == "" || unit == "bytes" || unit == "packets"):
		if n < 1 || n > 1<<30 {
			p.errorf(v, path, "%d is out of range 1..%d", n, 1<<30)
			return
		}
		if unit == "packets" {
			im.QueuePackets = int(n)
		} else {
			im.QueueBytes = int(n)
		}
	default:
		d, derr := time.ParseDuration(s)
		switch {
		case derr != nil:
			p.errorf(v, path, "%q is not %s", v.Value, want)
		case d <= 0 || d > time.Minute:
			p.errorf(v, path, "%s is not a queue's time, more than 0 and at most a minute", s)
		default:
			im.QueueDelay = d
		}
	}
}

// trace loads the delivery-opportunity trace at a path relative to the
// scenario file; a trace named twice is read once.
func (p *parser) trace(path string, v *yaml.Node) *vnet.Trace {
	var name string
	if !p.str(v, path, &name) {
		return nil
	}
	if strings.TrimSpace(name) == "" {
		p.errorf(v, path, "empty; want the path of a trace file in Mahimahi's format, relative to this file")
		return nil
	}
	file := p.relPath(name)
	if tr, ok := p.traces[file]; ok {
		return tr
	}
	fi, err := os.Stat(file)
	switch {
	case err != nil:
		p.errorf(v, path, "trace %s: %v", name, err)
		return nil
	case !fi.Mode().IsRegular():
		p.errorf(v, path, "trace %s: not a regular file", name)
		return nil
	case fi.Size() > maxTraceFile:
		p.errorf(v, path, "trace %s: larger than %d bytes", name, maxTraceFile)
		return nil
	}
	tr, err := vnet.LoadTrace(file)
	if err != nil {
		p.errorf(v, path, "%v", err)
		return nil
	}
	if p.traces == nil {
		p.traces = map[string]*vnet.Trace{}
	}
	p.traces[file] = tr
	return tr
}

// schedule reads a link's schedule: a list of steps {at, and the link
// fields that change then}. Each step starts from the impairment before it.
func (p *parser) schedule(path string, v *yaml.Node, base vnet.Impairment) *vnet.Schedule {
	if v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
		p.errorf(v, path, "empty; want a list of steps like {at: 10s, bandwidth: 500kbps}")
		return nil
	}
	s := &vnet.Schedule{}
	cur, last := base, time.Duration(-1)
	cur.Schedule = nil
	p.list(v, path, func(path string, _ int, v *yaml.Node) {
		step := vnet.Step{Impairment: cur}
		at := map[string]*yaml.Node{}
		fields := p.linkFields(&step.Impairment, at)
		var atNode *yaml.Node
		fields["at"] = func(path string, v *yaml.Node) {
			if p.duration(v, path, true, &step.At) {
				atNode = v
			}
		}
		if !p.fields(v, path, fields) {
			return
		}
		switch {
		case atNode == nil:
			if _, has := fieldNode(v, "at"); !has {
				p.errorf(v, join(path, "at"), "missing; want when the step takes effect, like 10s")
			}
			return
		case step.At < last:
			p.errorf(atNode, join(path, "at"), "%v comes before the step above's %v; steps go in time order", step.At, last)
			return
		case step.At > p.runLength():
			p.errorf(atNode, join(path, "at"), "%v is after the run's end at %v", step.At, p.runLength())
			return
		}
		if len(at) == 0 {
			p.errorf(v, path, "a step at %v that changes nothing; give the fields it changes, like bandwidth: 500kbps", step.At)
			return
		}
		if !p.checkLink(path, v, step.Impairment, at) {
			return
		}
		s.Steps = append(s.Steps, step)
		cur, last = step.Impairment, step.At
	})
	if len(s.Steps) == 0 {
		return nil
	}
	return s
}
