// Package netlab builds small networks out of Linux network namespaces,
// veth pairs and nftables rules, so that real programs (headless Chromium,
// pion peers, icelab's relay on real sockets) can be run behind the real
// kernel's NAT and firewalls and compared with icelab's virtual network.
//
// A Lab has one "internet" namespace holding a bridge (203.0.113.0/24, the
// bridge itself at .1); public hosts and routers' WAN sides are namespaces
// attached to it. A router namespace forwards between its WAN and one LAN,
// with the nftables ruleset its RouterConfig gives (masquerade, input and
// forward filtering); hosts on that LAN, or routers of LANs behind it (double
// NAT), are namespaces of their own. A public host may be far away
// (PublicFar): its link is a pair of TAP devices joined by the lab's own
// process, which holds each frame for the link's delay. Everything the lab
// makes is named with a prefix of its own and removed by Close.
//
// It needs root, iproute2 and nftables; Available says what is missing. It
// knows nothing of WebRTC.
package netlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Available reports why a lab cannot be built here, or nil.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("netlab: needs root (network namespaces and nftables); run as root or skip")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("netlab: %s not found (install iproute2 and nftables): %w", tool, err)
		}
	}
	return nil
}

// Internet is the lab's public address space.
var Internet = netip.MustParsePrefix("203.0.113.0/24")

// Lab is a set of namespaces wired together.
type Lab struct {
	prefix string

	mu      sync.Mutex
	spaces  []string // every namespace made, in order
	nextPub int      // last octet of the next address on the internet
	nextLAN int      // second octet of the next 10.N.0.0/24 LAN
	inet    *NS
	wires   []*wire // far links (PublicFar)
}

// NS is a network namespace and its address.
type NS struct {
	Name string     // the namespace's name (ip netns)
	Addr netip.Addr // its address on the network it is attached to
	lab  *Lab
}

// Router is a router namespace and the LAN behind it.
type Router struct {
	*NS
	LAN    netip.Prefix
	next   int // last octet of the next host on the LAN
	nlinks int
}

// New makes a lab whose namespaces are named after name and the process.
func New(name string) (*Lab, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	l := &Lab{prefix: fmt.Sprintf("%s%d", name, os.Getpid()), nextPub: 10, nextLAN: 1}
	inet, err := l.add("inet")
	if err != nil {
		return nil, err
	}
	inet.Addr = netip.MustParseAddr("203.0.113.1")
	if err := inet.run("ip", "link", "add", "br0", "type", "bridge"); err != nil {
		return nil, l.closeWith(err)
	}
	for _, args := range [][]string{
		{"ip", "addr", "add", "203.0.113.1/24", "dev", "br0"},
		{"ip", "link", "set", "br0", "up"},
	} {
		if err := inet.run(args...); err != nil {
			return nil, l.closeWith(err)
		}
	}
	l.inet = inet
	return l, nil
}

func (l *Lab) closeWith(err error) error {
	return errors.Join(err, l.Close())
}

// add makes a namespace with its loopback up.
func (l *Lab) add(name string) (*NS, error) {
	full := l.prefix + "-" + name
	if out, err := exec.Command("ip", "netns", "add", full).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("netlab: namespace %s: ip netns add: %w: %s", full, err, bytes.TrimSpace(out))
	}
	l.mu.Lock()
	l.spaces = append(l.spaces, full)
	l.mu.Unlock()
	ns := &NS{Name: full, lab: l}
	if err := ns.run("ip", "link", "set", "lo", "up"); err != nil {
		return nil, err
	}
	return ns, nil
}

// Close removes every namespace the lab made, and with them their links
// and rules; processes still inside keep them alive until they end.
func (l *Lab) Close() error {
	l.mu.Lock()
	spaces, wires := l.spaces, l.wires
	l.spaces, l.wires = nil, nil
	l.mu.Unlock()
	var errs []error
	for _, w := range wires {
		errs = append(errs, w.close())
	}
	for i := len(spaces) - 1; i >= 0; i-- {
		if out, err := exec.Command("ip", "netns", "del", spaces[i]).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("netlab: namespace %s: ip netns del: %w: %s", spaces[i], err, bytes.TrimSpace(out)))
		}
	}
	return errors.Join(errs...)
}

// run runs a command inside the namespace and wraps its failure with the
// namespace, the command and its output.
func (n *NS) run(args ...string) error {
	out, err := exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("netlab: namespace %s: %s: %w: %s", n.Name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// Command returns a command that runs name inside the namespace.
func (n *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Public adds a host on the internet with the next free public address.
func (l *Lab) Public(name string) (*NS, error) { return l.public(name, l.veth) }

// public adds a host on the internet, linked to it by link.
func (l *Lab) public(name string, link linkMaker) (*NS, error) {
	ns, err := l.add(name)
	if err != nil {
		return nil, err
	}
	if ns.Addr, err = l.attach(ns, "eth0", link); err != nil {
		return nil, l.closeWith(err)
	}
	if err := ns.run("ip", "route", "add", "default", "via", "203.0.113.1"); err != nil {
		return nil, err
	}
	return ns, nil
}

// linkMaker makes the two ends of a host's link to the internet: dev
// inside ns, peer in the internet's namespace.
type linkMaker func(ns *NS, dev, peer string) error

// veth links ns to the internet through a veth pair: next to no latency.
func (l *Lab) veth(ns *NS, dev, peer string) error {
	if out, err := exec.Command("ip", "link", "add", dev, "netns", ns.Name, "type", "veth", "peer", "name", peer, "netns", l.inet.Name).CombinedOutput(); err != nil {
		return fmt.Errorf("netlab: link %s to the internet: %w: %s", ns.Name, err, bytes.TrimSpace(out))
	}
	return nil
}

// attach links ns to the internet bridge through a link made by link,
// named dev inside ns, and gives it the next public address.
func (l *Lab) attach(ns *NS, dev string, link linkMaker) (netip.Addr, error) {
	l.mu.Lock()
	octet := l.nextPub
	l.nextPub++
	l.mu.Unlock()
	addr := netip.AddrFrom4([4]byte{203, 0, 113, byte(octet)})
	peer := fmt.Sprintf("p%d", octet)
	if err := link(ns, dev, peer); err != nil {
		return addr, err
	}
	for _, step := range []struct {
		ns   *NS
		args []string
	}{
		{l.inet, []string{"ip", "link", "set", peer, "master", "br0"}},
		{l.inet, []string{"ip", "link", "set", peer, "up"}},
		{ns, []string{"ip", "addr", "add", addr.String() + "/24", "dev", dev}},
		{ns, []string{"ip", "link", "set", dev, "up"}},
	} {
		if err := step.ns.run(step.args...); err != nil {
			return addr, err
		}
	}
	return addr, nil
}

// NAT is how a router translates what leaves its WAN.
type NAT int

// NAT kinds, as nftables spells them in a postrouting chain.
const (
	// NoNAT routes the LAN unchanged (its addresses must then be public).
	NoNAT NAT = iota
	// Masquerade is `masquerade`: conntrack keeps the source port when
	// the tuple is free.
	Masquerade
	// MasqueradeRandom is `masquerade random`: a port per connection,
	// which makes the mapping address-and-port-dependent (symmetric).
	MasqueradeRandom
)

// RouterConfig says what a router does besides forwarding.
type RouterConfig struct {
	// LAN is the router's LAN; zero means the next free 10.N.0.0/24.
	LAN netip.Prefix
	NAT NAT
	// DropWANInput drops unsolicited packets from the WAN to the router
	// itself before conntrack confirms an entry for them (OpenWrt's wan
	// zone).
	DropWANInput bool
	// Forward holds nftables rules for the forward chain (policy accept),
	// in order; "lan" and "wan" name the two interfaces.
	Forward []string
}

// Router adds a router whose WAN is on the internet (parent nil) or on the
// LAN of parent, for double NAT.
func (l *Lab) Router(name string, parent *Router, cfg RouterConfig) (*Router, error) {
	ns, err := l.add(name)
	if err != nil {
		return nil, err
	}
	r := &Router{NS: ns, LAN: cfg.LAN, next: 2}
	if parent == nil {
		if ns.Addr, err = l.attach(ns, "wan", l.veth); err != nil {
			return nil, l.closeWith(err)
		}
		err = ns.run("ip", "route", "add", "default", "via", "203.0.113.1")
	} else {
		ns.Addr, err = parent.link(ns, "wan")
		if err == nil {
			err = ns.run("ip", "route", "add", "default", "via", parent.LAN.Addr().Next().String())
		}
	}
	if err != nil {
		return nil, l.closeWith(err)
	}
	if !r.LAN.IsValid() {
		l.mu.Lock()
		r.LAN = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(l.nextLAN), 0, 0}), 24)
		l.nextLAN++
		l.mu.Unlock()
	}
	if err := ns.run("sysctl", "-qw", "net.ipv4.ip_forward=1"); err != nil {
		return nil, err
	}
	if err := r.rules(cfg); err != nil {
		return nil, err
	}
	return r, nil
}

// rules loads the router's nftables ruleset.
func (r *Router) rules(cfg RouterConfig) error {
	var b strings.Builder
	b.WriteString("table ip nat {\n chain postrouting {\n  type nat hook postrouting priority srcnat; policy accept;\n")
	switch cfg.NAT {
	case Masquerade:
		b.WriteString("  oifname \"wan\" masquerade\n")
	case MasqueradeRandom:
		b.WriteString("  oifname \"wan\" masquerade random\n")
	}
	b.WriteString(" }\n}\ntable inet filter {\n chain input {\n  type filter hook input priority filter; policy accept;\n")
	if cfg.DropWANInput {
		b.WriteString("  iifname \"wan\" ct state established,related accept\n  iifname \"wan\" drop\n")
	}
	b.WriteString(" }\n chain forward {\n  type filter hook forward priority filter; policy accept;\n")
	for _, rule := range cfg.Forward {
		b.WriteString("  " + rule + "\n")
	}
	b.WriteString(" }\n}\n")
	cmd := exec.Command("ip", "netns", "exec", r.Name, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("netlab: router %s: nft -f: %w: %s\n%s", r.Name, err, bytes.TrimSpace(out), b.String())
	}
	return nil
}

// link wires ns into the router's LAN through a veth named dev inside ns
// and returns the address it gave ns. The router's end is "lan", made on
// the first link and bridged for later ones.
func (r *Router) link(ns *NS, dev string) (netip.Addr, error) {
	r.lab.mu.Lock()
	host := r.next
	r.next++
	first := r.nlinks == 0
	r.nlinks++
	r.lab.mu.Unlock()
	if !r.LAN.IsValid() {
		return netip.Addr{}, fmt.Errorf("netlab: router %s has no LAN yet", r.Name)
	}
	base := r.LAN.Masked().Addr().As4()
	addr := netip.AddrFrom4([4]byte{base[0], base[1], base[2], byte(host)})
	gw := r.LAN.Masked().Addr().Next()
	if first {
		if err := r.run("ip", "link", "add", "lan", "type", "bridge"); err != nil {
			return addr, err
		}
		for _, args := range [][]string{
			{"ip", "addr", "add", fmt.Sprintf("%s/%d", gw, r.LAN.Bits()), "dev", "lan"},
			{"ip", "link", "set", "lan", "up"},
		} {
			if err := r.run(args...); err != nil {
				return addr, err
			}
		}
	}
	port := fmt.Sprintf("h%d", host)
	if out, err := exec.Command("ip", "link", "add", dev, "netns", ns.Name, "type", "veth", "peer", "name", port, "netns", r.Name).CombinedOutput(); err != nil {
		return addr, fmt.Errorf("netlab: link %s to router %s: %w: %s", ns.Name, r.Name, err, bytes.TrimSpace(out))
	}
	for _, step := range []struct {
		ns   *NS
		args []string
	}{
		{r.NS, []string{"ip", "link", "set", port, "master", "lan"}},
		{r.NS, []string{"ip", "link", "set", port, "up"}},
		{ns, []string{"ip", "addr", "add", fmt.Sprintf("%s/%d", addr, r.LAN.Bits()), "dev", dev}},
		{ns, []string{"ip", "link", "set", dev, "up"}},
	} {
		if err := step.ns.run(step.args...); err != nil {
			return addr, err
		}
	}
	return addr, nil
}

// Host adds a host on the router's LAN, its default route through the
// router.
func (r *Router) Host(name string) (*NS, error) {
	ns, err := r.lab.add(name)
	if err != nil {
		return nil, err
	}
	if ns.Addr, err = r.link(ns, "eth0"); err != nil {
		return nil, r.lab.closeWith(err)
	}
	if err := ns.run("ip", "route", "add", "default", "via", r.LAN.Masked().Addr().Next().String()); err != nil {
		return nil, err
	}
	return ns, nil
}

// InternetNS returns the namespace that holds the internet's bridge
// (203.0.113.1).
func (l *Lab) InternetNS() *NS { return l.inet }

// Do runs f on an OS thread switched into the namespace; sockets f opens
// stay in it after f returns. The thread is switched back afterwards, or
// discarded when that fails.
func (n *NS) Do(f func() error) error {
	target, err := os.Open("/run/netns/" + n.Name)
	if err != nil {
		return fmt.Errorf("netlab: namespace %s: %w", n.Name, err)
	}
	defer target.Close()
	own, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		return fmt.Errorf("netlab: namespace %s: own namespace: %w", n.Name, err)
	}
	defer own.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netlab: namespace %s: setns: %w", n.Name, err)
			return
		}
		ferr := f()
		if err := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it dies with this goroutine.
			errc <- errors.Join(ferr, fmt.Errorf("netlab: namespace %s: switching back: %w", n.Name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
