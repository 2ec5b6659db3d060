package harness

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/icelab/icelab/vnet"
)

// start connects the clients and arms the faults.
func (r *runner) start(ctx context.Context) {
	for _, c := range r.clients {
		second := ""
		if len(r.nodes) > 1 {
			second = r.nodes[1].Name()
		}
		cctx, cancel := context.WithCancel(ctx)
		c.mu.Lock()
		c.hangUp = cancel
		c.mu.Unlock()
		c.spawn(func() { c.connect(cctx, r.nodes[0].Name(), second) })
	}
	for _, p := range r.peers {
		p.start(ctx)
	}
	r.startTraffic(ctx)
	for _, f := range r.spec.Faults {
		apply := func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			what, err := r.apply(f)
			if err != nil {
				what = "failed: " + err.Error()
			}
			r.rs.fault(f.Name, what)
			if r.captured != nil {
				r.captured.fault(r.rs.since())
			}
		}
		arm := func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.timers = append(r.timers, time.AfterFunc(f.When.After, apply))
		}
		if f.When.Event == "" {
			arm()
		} else {
			r.rs.on(f.When.Client+" "+f.When.Event, arm)
		}
	}
}

// apply changes the network as the fault says.
func (r *runner) apply(f Fault) (string, error) {
	switch f.Kind {
	case AddRules, ClearRules:
		lan, ok := r.topo.lans[f.Target]
		if !ok {
			return "", fmt.Errorf("no lan named %q has a firewall", f.Target)
		}
		if f.Kind == ClearRules {
			lan.Firewall().Reset()
			return "cleared the firewall of " + f.Target, nil
		}
		if _, err := lan.Firewall().Add(f.Rules...); err != nil {
			return "", err
		}
		var names []string
		for _, rule := range f.Rules {
			names = append(names, rule.Name)
		}
		return fmt.Sprintf("added %s to the firewall of %s", strings.Join(names, ", "), f.Target), nil
	case CutLink, Restore, Impair:
		link, err := r.topo.link(f.Target)
		if err != nil {
			return "", err
		}
		switch f.Kind {
		case CutLink:
			link.Cut()
			return "cut " + link.Name(), nil
		case Restore:
			link.Restore()
			return "restored " + link.Name(), nil
		}
		if err := link.Impair(f.Impairment); err != nil {
			return "", err
		}
		return fmt.Sprintf("impaired %s: %+v", link.Name(), f.Impairment), nil
	}
	switch f.Kind {
	case Move:
		return r.move(f)
	case Leave:
		for _, c := range r.clients {
			if c.spec.Name == f.Target {
				c.spawn(c.leave)
				return "left: " + f.Target + " hung up", nil
			}
		}
		if p := r.peerNamed(f.Target); p != nil {
			for _, e := range p.ends {
				e.spawn(e.leave)
			}
			return "left: " + f.Target + " hung up", nil
		}
		return "", fmt.Errorf("no client or peer named %q to leave", f.Target)
	case Mute, Unmute:
		for _, c := range r.clients {
			if c.spec.Name == f.Target {
				c.muted.Store(f.Kind == Mute)
				return string(f.Kind) + "d " + f.Target, nil
			}
		}
		if p := r.peerNamed(f.Target); p != nil {
			p.muted.Store(f.Kind == Mute)
			return string(f.Kind) + "d " + f.Target, nil
		}
		return "", fmt.Errorf("no client named %q to %s", f.Target, f.Kind)
	}
	return "", fmt.Errorf("unknown fault kind %q", f.Kind)
}

// move moves a client's host to another LAN. The caller holds r.mu.
func (r *runner) move(f Fault) (string, error) {
	h, ok := r.topo.hosts[f.Target]
	if !ok || !slices.ContainsFunc(r.spec.Clients, func(c ClientSpec) bool { return c.Name == f.Target }) && r.peerNamed(f.Target) == nil {
		return "", fmt.Errorf("no client named %q to move", f.Target)
	}
	to := r.topo.net.Internet()
	if f.To != "" && f.To != "internet" {
		if to, ok = r.topo.lans[f.To]; !ok {
			return "", fmt.Errorf("no lan named %q to move %s to", f.To, f.Target)
		}
	}
	old := h.Addr()
	addr, err := h.Move(to, netip.Addr{})
	if err != nil {
		return "", err
	}
	// Drops from the new addresses are the client's too.
	r.drops.own(f.Target, append(knownAddrs(h), addr)...)
	return fmt.Sprintf("moved %s from %s to %s on %s", f.Target, old, addr, to.Name()), nil
}

// observePacket captures packets and attributes dropped ones to the
// clients they belong to.
func (r *runner) observePacket(e vnet.Event) {
	if r.captured != nil {
		r.captured.event(e)
	}
	if e.Verdict != vnet.Dropped && e.Verdict != vnet.Rejected {
		return
	}
	var reason string
	if e.Proto == vnet.UDP {
		reason = strings.ToUpper(e.Class.String()) + " datagrams " + e.Verdict.String() + " by " + e.Reason
	} else {
		if e.Flags&vnet.FlagSYN == 0 && (e.Reason == "port closed" || e.Reason == "no connection for reset") {
			return // a segment after a connection ended: teardown, not connectivity
		}
		reason = fmt.Sprintf("TCP to port %d %s by %s", e.Dst.Port(), e.Verdict, e.Reason)
	}
	r.rs.drop(reason)
	r.drops.count(reason, e.Src.Addr(), e.Dst.Addr())
}
