package vnet

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Action is what a firewall rule does with the packets it matches.
type Action uint8

// Firewall actions.
const (
	// Accept lets the packet through.
	Accept Action = iota + 1
	// Drop discards the packet silently: the sender learns nothing.
	Drop
	// Reject discards the packet and tells the sender: ICMP port
	// unreachable for UDP, a reset for TCP.
	Reject
)

func (a Action) String() string {
	switch a {
	case Accept:
		return "accept"
	case Drop:
		return "drop"
	case Reject:
		return "reject"
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// Flow is the direction of a packet through a firewall.
type Flow uint8

// Firewall directions. AnyDirection matches both.
const (
	AnyDirection Flow = iota
	Outbound          // from the LAN towards the internet
	Inbound           // from the internet into the LAN
)

func (f Flow) String() string {
	switch f {
	case Outbound:
		return "outbound"
	case Inbound:
		return "inbound"
	}
	return "any"
}

// ConnState is a rule's condition on the connection-tracking state of the
// packet's flow.
type ConnState uint8

// Connection states. A flow is established in the direction opposite to the
// one that started it: replies are established, first packets are new. As
// in netfilter, a flow starts with the first packet the firewall accepts: a
// dropped packet leaves no state, so when both ends send at once (ICE
// checks), the packet let out opens the flow and the other end's next
// packet is a reply.
const (
	AnyState ConnState = iota
	StateNew
	StateEstablished
)

// PortRange is an inclusive range of ports; the zero value matches every
// port.
type PortRange struct{ Min, Max uint16 }

// Port is the range holding the single port p.
func Port(p uint16) PortRange { return PortRange{p, p} }

func (r PortRange) contains(p uint16) bool {
	return r == PortRange{} || (p >= r.Min && p <= r.Max)
}

func (r PortRange) String() string {
	switch {
	case r == PortRange{}:
		return "any"
	case r.Min == r.Max:
		return fmt.Sprint(r.Min)
	}
	return fmt.Sprintf("%d-%d", r.Min, r.Max)
}

// Rule matches packets crossing a firewall and says what to do with them.
// Zero-valued fields match everything. "Local" is the LAN side of the
// packet, "remote" the internet side, whichever way the packet goes; local
// addresses are the hosts' own, before NAT.
type Rule struct {
	// Name appears in capture events and failure reasons.
	Name        string
	Direction   Flow
	Proto       Proto // zero: any protocol
	Local       netip.Prefix
	Remote      netip.Prefix
	LocalPorts  PortRange
	RemotePorts PortRange
	// Classes restricts the rule to UDP payloads of these RFC 7983
	// classes.
	Classes []Class
	State   ConnState
	// After makes the rule apply to a flow only once this long has passed
	// since the flow's first packet: "UDP whack after ten seconds".
	After time.Duration
	// AfterPackets makes the rule apply to a flow only after it has carried
	// this many packets.
	AfterPackets int
	// Fragments restricts the rule to IP fragments (fragment.go).
	Fragments FragmentMatch
	// Limit, when set, makes the rule match only the packets above a rate,
	// as iptables' hashlimit --hashlimit-above or a traffic policer do: the
	// packets its other conditions match share one token bucket, those the
	// bucket holds tokens for pass on to the next rule, and the rest meet
	// this rule's action. With Action Drop it is the UDP throttling of an
	// ISP or a guest network.
	Limit  *RateLimit
	Action Action
}

// RateLimit is a token bucket: BitsPerSecond of sustained rate and a bucket
// of Burst bytes (zero: a tenth of a second at the rate, at least 1500).
type RateLimit struct {
	BitsPerSecond int64
	Burst         int
}

func (l RateLimit) String() string {
	switch bps := l.BitsPerSecond; {
	case bps >= 1e6 && bps%1e6 == 0:
		return fmt.Sprintf("%d Mbit/s", bps/1e6)
	case bps >= 1e3 && bps%1e3 == 0:
		return fmt.Sprintf("%d kbit/s", bps/1e3)
	default:
		return fmt.Sprintf("%d bit/s", bps)
	}
}

func (l RateLimit) burst() float64 {
	if l.Burst > 0 {
		return float64(l.Burst)
	}
	return max(float64(l.BitsPerSecond)/8/10, 1500)
}

// bucket is a rule's token bucket, in bytes.
type bucket struct {
	limit  RateLimit
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// take reports whether the bucket holds size bytes of tokens at now, and
// takes them if so.
func (b *bucket) take(size int, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last.IsZero() {
		b.tokens = b.limit.burst()
	} else if dt := now.Sub(b.last); dt > 0 {
		b.tokens = min(b.tokens+dt.Seconds()*float64(b.limit.BitsPerSecond)/8, b.limit.burst())
	}
	b.last = now
	if b.tokens < float64(size) {
		return false
	}
	b.tokens -= float64(size)
	return true
}

func (r Rule) validate() error {
	if r.Action < Accept || r.Action > Reject {
		return fmt.Errorf("rule %q: action is required (accept, drop or reject)", r.Name)
	}
	if r.Proto > TCP {
		return fmt.Errorf("rule %q: unknown protocol %d", r.Name, r.Proto)
	}
	if r.LocalPorts.Min > r.LocalPorts.Max || r.RemotePorts.Min > r.RemotePorts.Max {
		return fmt.Errorf("rule %q: reversed port range", r.Name)
	}
	if r.Fragments > AllFragments {
		return fmt.Errorf("rule %q: unknown fragment match %d", r.Name, r.Fragments)
	}
	if r.After < 0 || r.AfterPackets < 0 {
		return fmt.Errorf("rule %q: negative after", r.Name)
	}
	if r.Limit != nil && (r.Limit.BitsPerSecond <= 0 || r.Limit.Burst < 0) {
		return fmt.Errorf("rule %q: a rate limit needs a positive rate and a burst of zero or more bytes", r.Name)
	}
	return nil
}

// RuleID identifies a rule added to a firewall, for removing it.
type RuleID uint64

type installedRule struct {
	id     RuleID
	pos    int // 1-based position when installed, for messages
	rule   Rule
	bucket *bucket // the rule's rate limit, if any
}

// Firewall is a router's ordered rule list, applied to packets crossing the
// router between its LAN and the internet. The first matching rule decides;
// packets no rule matches are accepted. Rules can be added and removed while
// traffic flows.
type Firewall struct {
	owner string
	next  atomic.Uint64
	rules atomic.Pointer[[]installedRule]
	mu    sync.Mutex // serialises rule changes
	track flowTable
}

func newFirewall(owner string) *Firewall {
	f := &Firewall{owner: owner}
	f.rules.Store(&[]installedRule{})
	f.track.flows = make(map[flowKey]*flowState)
	return f
}

// Add appends rules to the end of the list and returns their IDs.
func (f *Firewall) Add(rules ...Rule) ([]RuleID, error) {
	for _, r := range rules {
		if err := r.validate(); err != nil {
			return nil, fmt.Errorf("firewall %s: %w", f.owner, err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	list := slices.Clone(*f.rules.Load())
	ids := make([]RuleID, len(rules))
	for i, r := range rules {
		r.Classes = slices.Clone(r.Classes)
		ids[i] = RuleID(f.next.Add(1))
		ir := installedRule{id: ids[i], pos: len(list) + 1, rule: r}
		if r.Limit != nil {
			limit := *r.Limit
			ir.rule.Limit, ir.bucket = &limit, &bucket{limit: limit}
		}
		list = append(list, ir)
	}
	f.rules.Store(&list)
	return ids, nil
}

// Remove removes rules by ID; unknown IDs are ignored.
func (f *Firewall) Remove(ids ...RuleID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	list := slices.DeleteFunc(slices.Clone(*f.rules.Load()), func(r installedRule) bool {
		return slices.Contains(ids, r.id)
	})
	f.rules.Store(&list)
}

// Reset removes every rule.
func (f *Firewall) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules.Store(&[]installedRule{})
}

// Rules returns the installed rules in order.
func (f *Firewall) Rules() []Rule {
	list := *f.rules.Load()
	out := make([]Rule, len(list))
	for i, r := range list {
		out[i] = r.rule
	}
	return out
}

// verdict decides pkt's fate; local and remote are its LAN-side and
// internet-side endpoints. It returns the action and, unless accepted by
// default, a description of the deciding rule.
func (f *Firewall) verdict(dir Flow, pkt *packet, local, remote netip.AddrPort, now time.Time) (Action, string) {
	list := *f.rules.Load()
	if len(list) == 0 {
		return Accept, ""
	}
	key := flowKey{pkt.proto, local, remote}
	flow := f.track.observe(key, dir, now)
	action, why := Accept, ""
	class := pkt.class()
	for _, ir := range list {
		r := &ir.rule
		if !r.Fragments.matches(pkt) || !r.matches(dir, pkt.proto, local, remote, class, flow, now) {
			continue
		}
		if ir.bucket != nil && ir.bucket.take(pkt.size(), now) {
			continue // within the rate
		}
		if r.Action != Accept {
			name := ""
			if r.Name != "" {
				name = " (" + r.Name + ")"
			}
			action, why = r.Action, fmt.Sprintf("firewall %s rule %d%s", f.owner, ir.pos, name)
			if r.Limit != nil {
				why += ": over " + r.Limit.String()
			}
		}
		break
	}
	if flow.untracked && action == Accept {
		f.track.confirm(key, dir, now)
	}
	return action, why
}

func (r *Rule) matches(dir Flow, proto Proto, local, remote netip.AddrPort, class Class, flow flowSnapshot, now time.Time) bool {
	if r.Direction != AnyDirection && r.Direction != dir {
		return false
	}
	if r.Proto != 0 && r.Proto != proto {
		return false
	}
	if r.Local.IsValid() && !r.Local.Contains(local.Addr()) {
		return false
	}
	if r.Remote.IsValid() && !r.Remote.Contains(remote.Addr()) {
		return false
	}
	if !r.LocalPorts.contains(local.Port()) || !r.RemotePorts.contains(remote.Port()) {
		return false
	}
	if len(r.Classes) > 0 && !slices.Contains(r.Classes, class) {
		return false
	}
	switch r.State {
	case StateNew:
		if flow.established(dir) {
			return false
		}
	case StateEstablished:
		if !flow.established(dir) {
			return false
		}
	}
	if r.After > 0 && now.Sub(flow.first) < r.After {
		return false
	}
	if r.AfterPackets > 0 && flow.packets <= r.AfterPackets {
		return false
	}
	return true
}

// Presets: the firewalls that the field reports describe.

// BlockUDP drops all UDP in both directions (VPNs, some corporate networks).
func BlockUDP() []Rule {
	return []Rule{{Name: "block-udp", Proto: UDP, Action: Drop}}
}

// OnlyTCPOut allows outgoing TCP to the given ports and the replies to it,
// and drops everything else: the corporate firewall that lets only HTTPS
// out (OnlyTCPOut(80, 443)).
func OnlyTCPOut(ports ...uint16) []Rule {
	rules := make([]Rule, 0, len(ports)+2)
	for _, p := range ports {
		rules = append(rules, Rule{Name: fmt.Sprintf("allow-tcp-%d-out", p), Direction: Outbound, Proto: TCP, RemotePorts: Port(p), Action: Accept})
	}
	return append(rules,
		Rule{Name: "allow-replies", Direction: Inbound, Proto: TCP, State: StateEstablished, Action: Accept},
		Rule{Name: "drop-all", Action: Drop},
	)
}

// BlockInboundTCP drops TCP connections opened from the internet, letting
// replies to outgoing ones through.
func BlockInboundTCP() []Rule {
	return []Rule{{Name: "block-inbound-tcp", Direction: Inbound, Proto: TCP, State: StateNew, Action: Drop}}
}

// DTLSFiltered drops UDP datagrams that carry DTLS, so ICE succeeds and the
// DTLS handshake never completes.
func DTLSFiltered() []Rule {
	return []Rule{{Name: "dtls-filtered", Proto: UDP, Classes: []Class{ClassDTLS}, Action: Drop}}
}

// ThrottleUDP drops the UDP above bitsPerSecond, counted over every UDP
// packet crossing the firewall either way: the rate limit some ISPs and
// guest networks put on UDP. Calls connect, and media degrades as the
// policer drops what exceeds the rate.
func ThrottleUDP(bitsPerSecond int64) []Rule {
	return []Rule{{Name: "throttle-udp", Proto: UDP, Limit: &RateLimit{BitsPerSecond: bitsPerSecond}, Action: Drop}}
}

// UDPWhack drops every UDP flow's packets once the flow is older than
// after: it connects, then goes quiet. To whack from a moment of your
// choosing, such as "ICE connected", add BlockUDP's rules at that moment.
func UDPWhack(after time.Duration) []Rule {
	return []Rule{{Name: "udp-whack", Proto: UDP, After: after, Action: Drop}}
}

// flowTable is connection tracking: first sight, direction and packet
// count of each flow crossing the firewall.
type flowTable struct {
	mu        sync.Mutex
	flows     map[flowKey]*flowState
	lastSweep time.Time
}

type flowKey struct {
	proto  Proto
	local  netip.AddrPort
	remote netip.AddrPort
}

type flowState struct {
	first   time.Time
	last    time.Time
	packets int
	opener  Flow
}

type flowSnapshot struct {
	first   time.Time
	packets int
	opener  Flow
	// untracked is set for a flow's first packet: as in netfilter, the
	// flow is tracked only once the firewall accepts that packet, so a
	// dropped packet leaves no state behind and a later packet the other
	// way opens the flow.
	untracked bool
}

func (s flowSnapshot) established(dir Flow) bool { return s.opener != dir }

// flowIdle is how long a flow is remembered after its last packet.
const flowIdle = 5 * time.Minute

func (t *flowTable) observe(k flowKey, dir Flow, now time.Time) flowSnapshot {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Sub(t.lastSweep) >= flowIdle {
		t.lastSweep = now
		for k, s := range t.flows {
			if now.Sub(s.last) >= flowIdle {
				delete(t.flows, k)
			}
		}
	}
	s := t.flows[k]
	if s == nil || now.Sub(s.last) >= flowIdle {
		return flowSnapshot{first: now, packets: 1, opener: dir, untracked: true}
	}
	s.last = now
	s.packets++
	return flowSnapshot{first: s.first, packets: s.packets, opener: s.opener}
}

// confirm starts tracking the flow whose first packet, going dir, the
// firewall accepted. A packet the other way may have confirmed it
// meanwhile; that one opened the flow.
func (t *flowTable) confirm(k flowKey, dir Flow, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.flows[k]; s != nil && now.Sub(s.last) < flowIdle {
		s.last = now
		s.packets++
		return
	}
	t.flows[k] = &flowState{first: now, last: now, packets: 1, opener: dir}
}
