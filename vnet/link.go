package vnet

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Direction is the way a packet crosses a link: up, away from the host
// towards the internet, or down towards the host.
type Direction uint8

// Link directions.
const (
	Up Direction = iota
	Down
)

func (d Direction) String() string {
	if d == Up {
		return "up"
	}
	return "down"
}

// Impairment is what a link does to the packets that cross it one way. The
// zero value is a perfect link.
//
// A packet entering an impaired direction waits in the bottleneck's queue
// (Discipline, QueueBytes, QueuePackets, QueueDelay) for the link's
// capacity (Bandwidth or Trace) to send it, may be lost on the wire (Loss,
// LossBurst), and arrives after the wire's delay (Latency, Jitter,
// Reorder). Schedule changes all of it over time. The fields follow
// libwebrtc's network emulation (BuiltInNetworkBehaviorConfig in
// api/test/simulated_network.h: link capacity, queue length, CoDel, loss
// percent, average burst loss length, reordering), which applies them in
// the same order.
type Impairment struct {
	// Latency delays every packet by this much.
	Latency time.Duration
	// Jitter adds to each packet's delay a random extra between zero and
	// this much, chosen independently per packet, so packets reorder as
	// they do on real paths.
	Jitter time.Duration
	// Loss is the probability, from 0 to 1, that a packet is lost.
	Loss float64
	// LossBurst makes losses come in bursts whose mean length, in packets,
	// it is; the long-run loss rate stays Loss. Zero loses packets
	// independently. See loss.go for the Gilbert–Elliott model.
	LossBurst float64
	// Reorder is the fraction, from 0 to 1, of packets held back on the
	// wire by ReorderDelay more than the others, so that packets sent
	// after one overtake it (in RFC 4737's terms, it arrives reordered).
	Reorder float64
	// ReorderDelay is how long a reordered packet is held back; zero means
	// DefaultReorderDelay.
	ReorderDelay time.Duration
	// Bandwidth caps the rate in bits per second; zero is unlimited. Packets
	// wait in a queue while the link serialises earlier ones.
	Bandwidth int64
	// Trace replays a delivery-opportunity trace in Mahimahi's format
	// instead of a constant Bandwidth: the link sends packets only at the
	// trace's opportunities (trace.go). It starts when the impairment is
	// set and repeats.
	Trace *Trace
	// QueueBytes bounds the queue in bytes, the packet being sent
	// included; a packet that does not fit is dropped. It applies only
	// with a capacity (Bandwidth or Trace). With no bound given, a
	// drop-tail queue holds 64 KiB and a CoDel queue 1000 packets
	// (Linux's sch_codel limit).
	QueueBytes int
	// QueuePackets bounds the queue in packets, the one being sent
	// included.
	QueuePackets int
	// QueueDelay bounds the queue by the time the link takes to send what
	// it holds: its size in bytes is QueueDelay at the link's capacity
	// (a trace's mean rate), recomputed when a schedule changes the
	// capacity.
	QueueDelay time.Duration
	// Discipline is what the queue drops: DropTail, the zero value, drops
	// arrivals that do not fit; CoDel drops at the head as RFC 8289 does.
	Discipline Discipline
	// CoDelTarget and CoDelInterval are CoDel's target sojourn time and
	// interval; zero means RFC 8289's 5 ms and 100 ms.
	CoDelTarget, CoDelInterval time.Duration
	// Schedule changes the impairment at given times after it is set: at
	// each step the link takes the step's impairment whole. The queue's
	// packets stay queued across steps.
	Schedule *Schedule
	// Down, when set on an impairment given to Link.Impair (and so to a
	// router's uplink or a host's link), is the down direction's
	// impairment, towards the host or the LAN; the fields above are then
	// the up direction's only. Access links are rarely symmetric: a cable
	// or cellular link downloads several times faster than it uploads.
	Down *Impairment
}

// DefaultReorderDelay is how long a reordered packet is held back when
// Impairment.ReorderDelay is zero.
const DefaultReorderDelay = 10 * time.Millisecond

// Discipline is a queue discipline: what a full or standing queue drops.
type Discipline uint8

// Queue disciplines.
const (
	// DropTail drops an arriving packet that does not fit the queue.
	DropTail Discipline = iota
	// CoDel is Controlled Delay active queue management (RFC 8289): it
	// drops at the head of the queue when packets have waited longer than
	// a target for an interval, more often the longer that lasts.
	CoDel
)

func (d Discipline) String() string {
	switch d {
	case DropTail:
		return "drop-tail"
	case CoDel:
		return "codel"
	}
	return fmt.Sprintf("discipline(%d)", uint8(d))
}

// capacity reports whether the impairment limits the link's rate, so that
// packets queue.
func (im Impairment) capacity() bool { return im.Bandwidth > 0 || im.Trace != nil }

// delays reports whether a packet crossing a link of this impairment can
// be later than it entered.
func (im Impairment) delays() bool {
	return im.Latency > 0 || im.Jitter > 0 || im.Reorder > 0 || im.capacity()
}

// Validate reports what makes the impairment impossible: a negative
// duration, a probability outside 0 to 1, a loss rate its bursts cannot
// make, two capacities, a schedule out of order. Setting it on a link
// validates it too.
func (im Impairment) Validate() error {
	if err := im.validateStep(); err != nil {
		return err
	}
	if im.Schedule != nil {
		if err := im.Schedule.validate(); err != nil {
			return err
		}
	}
	if im.Down != nil {
		if im.Down.Down != nil {
			return errors.New("the down direction's impairment has a down direction of its own")
		}
		if err := im.Down.Validate(); err != nil {
			return fmt.Errorf("down: %w", err)
		}
	}
	return nil
}

// validateStep checks everything but the schedule.
func (im Impairment) validateStep() error {
	switch {
	case im.Latency < 0:
		return fmt.Errorf("latency %v is negative", im.Latency)
	case im.Jitter < 0:
		return fmt.Errorf("jitter %v is negative", im.Jitter)
	case !(im.Loss >= 0 && im.Loss <= 1):
		return fmt.Errorf("loss %v is not between 0 and 1", im.Loss)
	case im.Bandwidth < 0:
		return fmt.Errorf("bandwidth %d is negative", im.Bandwidth)
	case im.Bandwidth > 0 && im.Trace != nil:
		return fmt.Errorf("bandwidth %d and trace %s both set the capacity; give one", im.Bandwidth, im.Trace.Name())
	case im.QueueBytes < 0:
		return fmt.Errorf("queue size %d is negative", im.QueueBytes)
	case im.QueuePackets < 0:
		return fmt.Errorf("queue length %d packets is negative", im.QueuePackets)
	case im.QueueDelay < 0:
		return fmt.Errorf("queue delay %v is negative", im.QueueDelay)
	case !(im.Reorder >= 0 && im.Reorder <= 1):
		return fmt.Errorf("reorder %v is not between 0 and 1", im.Reorder)
	case im.ReorderDelay < 0:
		return fmt.Errorf("reorder delay %v is negative", im.ReorderDelay)
	case im.Discipline > CoDel:
		return fmt.Errorf("unknown queue discipline %d", im.Discipline)
	case im.CoDelTarget < 0 || im.CoDelInterval < 0:
		return fmt.Errorf("CoDel target %v and interval %v must not be negative", im.CoDelTarget, im.CoDelInterval)
	case im.codelTarget() >= im.codelInterval():
		return fmt.Errorf("CoDel target %v is not below its interval %v", im.codelTarget(), im.codelInterval())
	}
	return validateBurst(im.Loss, im.LossBurst)
}

// String describes the impairment the way a person would: "latency 15ms,
// loss 2% in bursts of 3, bandwidth 2 Mbit/s, queue 100 packets codel";
// "none" for a perfect link.
func (im Impairment) String() string {
	var parts []string
	add := func(format string, a ...any) { parts = append(parts, fmt.Sprintf(format, a...)) }
	if im.Latency > 0 {
		add("latency %v", im.Latency)
	}
	if im.Jitter > 0 {
		add("jitter %v", im.Jitter)
	}
	if im.Loss > 0 {
		if im.LossBurst > 0 {
			add("loss %s in bursts of %g", percent(im.Loss), im.LossBurst)
		} else {
			add("loss %s", percent(im.Loss))
		}
	}
	if im.Reorder > 0 {
		add("reorder %s by %v", percent(im.Reorder), im.reorderDelay())
	}
	if im.Bandwidth > 0 {
		add("bandwidth %s", bitrate(im.Bandwidth))
	}
	if im.Trace != nil {
		add("trace %s", im.Trace.Name())
	}
	var queue []string
	if im.QueueBytes > 0 {
		queue = append(queue, fmt.Sprintf("%d bytes", im.QueueBytes))
	}
	if im.QueuePackets > 0 {
		queue = append(queue, fmt.Sprintf("%d packets", im.QueuePackets))
	}
	if im.QueueDelay > 0 {
		queue = append(queue, im.QueueDelay.String())
	}
	if im.Discipline == CoDel {
		queue = append(queue, fmt.Sprintf("codel target %v interval %v", im.codelTarget(), im.codelInterval()))
	}
	if len(queue) > 0 {
		add("queue %s", strings.Join(queue, " "))
	}
	if im.Schedule != nil {
		add("schedule of %d steps", len(im.Schedule.Steps))
	}
	s := "none"
	if len(parts) > 0 {
		s = strings.Join(parts, ", ")
	}
	if im.Down != nil {
		s = "up " + s + "; down " + im.Down.String()
	}
	return s
}

func percent(f float64) string { return fmt.Sprintf("%g%%", math.Round(f*1e6)/1e4) }

func bitrate(bps int64) string {
	switch {
	case bps >= 1e6 && bps%1e3 == 0:
		return fmt.Sprintf("%g Mbit/s", float64(bps)/1e6)
	case bps >= 1e3:
		return fmt.Sprintf("%g kbit/s", float64(bps)/1e3)
	}
	return fmt.Sprintf("%d bit/s", bps)
}

func (im Impairment) reorderDelay() time.Duration {
	if im.ReorderDelay > 0 {
		return im.ReorderDelay
	}
	return DefaultReorderDelay
}

// Link joins a host's interface, or a router's WAN side, to the router above
// it. Impairments and cuts belong to links, so one host's bad Wi-Fi does not
// slow its neighbours. Each direction of a link runs on its own (linkdir.go).
//
// Each direction's lock and runner state are written by the goroutines of
// that direction, so each direction starts a cache line of its own, and
// keeps in its first line what a packet reads of the link (see linkDir).
type Link struct {
	name string
	net  *Network
	_    [cacheLine - 24]byte
	dirs [2]linkDir // each holds the MTU, in mtu.go
}

// cacheLine is the size of a CPU cache line, to which hot structures that
// goroutines on different cores write are padded.
const cacheLine = 64

func newLink(n *Network, name string) *Link {
	l := &Link{name: name, net: n}
	for d := range l.dirs {
		l.dirs[d].init(l, Direction(d))
	}
	return l
}

// Name returns the link's name, such as "alice-eth0" or "office-wan".
func (l *Link) Name() string { return l.name }

// Impair sets the impairment of both directions: im, or, when im.Down is
// set, im's own fields up and im.Down down.
func (l *Link) Impair(im Impairment) error {
	if err := im.Validate(); err != nil {
		return fmt.Errorf("link %s: %w", l.name, err)
	}
	up := im
	up.Down = nil
	down := up
	if im.Down != nil {
		down = *im.Down
	}
	l.dirs[Up].impair(up)
	l.dirs[Down].impair(down)
	return nil
}

// ImpairDirection sets the impairment of one direction. Packets already
// queued or in flight keep the times they were given; a schedule's steps
// count from now.
func (l *Link) ImpairDirection(d Direction, im Impairment) error {
	if im.Down != nil {
		return fmt.Errorf("link %s: an impairment with a down direction is set on both directions at once (Impair)", l.name)
	}
	if err := im.Validate(); err != nil {
		return fmt.Errorf("link %s: %w", l.name, err)
	}
	l.dirs[d].impair(im)
	return nil
}

// Impairment returns the impairment of one direction, as it was set.
func (l *Link) Impairment(d Direction) Impairment { return l.dirs[d].impairment() }

// Cut makes the link drop everything, including packets queued or in
// flight, until Restore.
func (l *Link) Cut() {
	for d := range l.dirs {
		l.dirs[d].setCut(true)
	}
}

// Restore ends a cut.
func (l *Link) Restore() {
	for d := range l.dirs {
		l.dirs[d].setCut(false)
	}
}

// IsCut reports whether the link is cut.
func (l *Link) IsCut() bool { return l.dirs[Up].isCut() }

// send carries pkt across the link in direction d and hands it to next,
// now or after the link's delay. It takes ownership of pkt.
func (l *Link) send(d Direction, pkt *packet, next hop) {
	if l.checkMTU(d, pkt, next) {
		return
	}
	l.dirs[d].send(pkt, next)
}

// hop is where a link hands the packets that cross it: a router taking
// them from its LAN or from its WAN side, or a host. It is a value, so
// that a queued packet remembers it without an allocation.
type hop struct {
	router *Router
	host   *Host
	wan    bool // router takes the packet from its parent
}

func toLAN(r *Router) hop { return hop{router: r} }
func toWAN(r *Router) hop { return hop{router: r, wan: true} }
func toHost(h *Host) hop  { return hop{host: h} }
func (h hop) take(p *packet) {
	switch {
	case h.host != nil:
		h.host.deliver(p)
	case h.wan:
		h.router.fromWAN(p)
	default:
		h.router.fromLAN(p)
	}
}
