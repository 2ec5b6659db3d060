// Package fidelity compares icelab with the real thing: each Case is a
// topology built twice, once as Linux network namespaces with nftables
// (internal/netlab: headless Chromium or a pion peer behind the kernel's
// NAT and firewall, calling a pion peer, with icelab's relay on real
// sockets) and once as an icelab scenario file run by the icelab command,
// and the table says, per case, which transport and candidate types each
// chose and how long each took to connect.
//
// It knows the cases and how to read both outcomes; it does not know how
// namespaces are made (netlab) or how a call's ends run (netlab/call).
package fidelity

import (
	"embed"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/icelab/icelab/internal/netlab"
	"github.com/icelab/icelab/internal/netlab/call"
)

// Kind says what the calling end (A) is.
type Kind int

// Kinds of case.
const (
	// Chromium is headless Chromium calling a pion media peer on a public
	// address; icelab runs a client with the browser profile.
	Chromium Kind = iota
	// Pion is a pion peer calling another pion peer.
	Pion
)

func (k Kind) String() string {
	if k == Chromium {
		return "chromium"
	}
	return "pion"
}

// Network is one end's access network, the router nearest the internet
// first; none is a public address.
type Network []netlab.RouterConfig

// Case is one topology.
type Case struct {
	Name string
	Kind Kind
	// A is the caller's network; B the far end's (pion cases), empty for
	// the public media peer of a Chromium case.
	A, B Network
	// Servers are the ICE servers both ends are given: "stun", "turn-udp",
	// "turn-tcp", "turns" (TURN/TLS on the relay's 443).
	Servers []string
	// Media makes the far end a media server on a public address: it
	// gathers no relays of its own (B is then empty). Chromium cases
	// always have one.
	Media bool
	// ICETCP gathers TCP candidates: the media peer listens for ICE-TCP
	// (7881), and a pion caller dials it. Chromium always gathers them.
	ICETCP bool
	// Far is how far the relay and the far end are, one way: each is
	// attached to the internet through a far link (netlab.PublicFar);
	// zero is a veth, next to no latency. The case's scenario file gives
	// the far end (the media node, whose embedded TURN is the relay) a
	// link of this latency.
	Far time.Duration
	// Deadline bounds the wait for connected.
	Deadline time.Duration
	// Scenario is the icelab scenario file (in scenarios/ of this
	// package) that models the case.
	Scenario string
	// Note says what the case shows.
	Note string
	// Contrast, when set, says why icelab's file is expected to differ
	// from the real run: the case shows what a preset that does not model
	// the real network gets wrong. Its runs are not counted as agreeing
	// or not.
	Contrast string
}

//go:embed scenarios/*.yaml
var scenarioFiles embed.FS

// Rule sets of the cases' firewalls ("lan" is the inside interface).
var (
	homeRouter  = netlab.RouterConfig{NAT: netlab.Masquerade, DropWANInput: true}
	bareMasq    = netlab.RouterConfig{NAT: netlab.Masquerade}
	symmetric   = netlab.RouterConfig{NAT: netlab.MasqueradeRandom, DropWANInput: true}
	udpBlocked  = []string{`iifname "lan" meta l4proto udp udp dport != 53 drop`}
	blockAll    = []string{`iifname "lan" udp dport 53 accept`, `iifname "lan" drop`}
	only443     = []string{`iifname "lan" tcp dport != 443 drop`, `iifname "lan" meta l4proto != tcp drop`}
	carrier     = netlab.RouterConfig{NAT: netlab.Masquerade, DropWANInput: true, LAN: mustPrefix("100.64.0.0/24")}
	allServers  = []string{"stun", "turn-udp", "turns"}
	pionServers = []string{"stun", "turn-udp", "turn-tcp"}
)

func with(c netlab.RouterConfig, forward []string) netlab.RouterConfig {
	c.Forward = forward
	return c
}

// Cases returns every case, Chromium's first.
func Cases() []Case {
	cases := []Case{
		{Name: "chromium-public", Kind: Chromium, Servers: allServers, Deadline: 20 * time.Second,
			Scenario: "chromium-public.yaml", Note: "Chromium on a public address"},
		{Name: "chromium-home-router", Kind: Chromium, A: Network{homeRouter}, Servers: allServers, Deadline: 20 * time.Second,
			Scenario: "chromium-home-router.yaml", Note: "masquerade, WAN input dropped (port-restricted)"},
		{Name: "chromium-symmetric", Kind: Chromium, A: Network{symmetric}, Servers: allServers, Deadline: 20 * time.Second,
			Scenario: "chromium-symmetric.yaml", Note: "masquerade random (a port per flow)"},
		{Name: "chromium-udp-blocked-dns", Kind: Chromium, A: Network{with(homeRouter, udpBlocked)}, Servers: allServers, Deadline: 30 * time.Second,
			Scenario: "chromium-udp-blocked-dns.yaml", Note: "UDP dropped except DNS; no ICE-TCP at the media peer"},
		{Name: "chromium-udp-blocked-ice-tcp", Kind: Chromium, A: Network{with(homeRouter, udpBlocked)}, Servers: allServers, ICETCP: true, Deadline: 30 * time.Second,
			Scenario: "chromium-udp-blocked-ice-tcp.yaml", Note: "UDP dropped; media peer listens for ICE-TCP"},
		{Name: "chromium-tcp-443-only", Kind: Chromium, A: Network{with(homeRouter, only443)}, Servers: allServers, Deadline: 40 * time.Second,
			Scenario: "chromium-tcp-443-only.yaml", Note: "only TCP 443 out; TURN/TLS on 443"},
		{Name: "chromium-tcp-443-only-turn-tcp", Kind: Chromium, A: Network{with(homeRouter, only443)}, Servers: []string{"stun", "turn-udp", "turn-tcp", "turns"}, Deadline: 40 * time.Second,
			Scenario: "chromium-tcp-443-only.yaml", Note: "only TCP 443 out; TURN/UDP, TURN/TCP 3478 and TURN/TLS 443 offered: does the dropped TURN/TCP delay TURN/TLS?"},
		{Name: "chromium-double-nat", Kind: Chromium, A: Network{homeRouter, homeRouter}, Servers: allServers, Deadline: 20 * time.Second,
			Scenario: "chromium-double-nat.yaml", Note: "two port-restricted routers"},
		{Name: "chromium-all-blocked", Kind: Chromium, A: Network{with(homeRouter, blockAll)}, Servers: allServers, Deadline: 40 * time.Second,
			Scenario: "chromium-all-blocked.yaml", Note: "everything but DNS dropped: how long checking lasts"},
		{Name: "pion-ice-tcp", Kind: Pion, Media: true, A: Network{with(homeRouter, udpBlocked)}, ICETCP: true, Deadline: 30 * time.Second,
			Scenario: "pion-ice-tcp.yaml", Note: "UDP dropped; pion dials the media peer's ICE-TCP (7881)"},
		{Name: "pion-public", Kind: Pion, Servers: pionServers, Deadline: 20 * time.Second,
			Scenario: "pion-public.yaml", Note: "both public"},
		{Name: "pion-home-to-home", Kind: Pion, A: Network{homeRouter}, B: Network{homeRouter}, Servers: pionServers, Deadline: 20 * time.Second,
			Scenario: "pion-home-to-home.yaml", Note: "port-restricted both sides"},
		{Name: "pion-symmetric-both", Kind: Pion, A: Network{symmetric}, B: Network{symmetric}, Servers: pionServers, Deadline: 20 * time.Second,
			Scenario: "pion-symmetric-both.yaml", Note: "symmetric both sides"},
		{Name: "pion-cgnat", Kind: Pion, A: Network{carrier, homeRouter}, B: Network{homeRouter}, Servers: pionServers, Deadline: 20 * time.Second,
			Scenario: "pion-cgnat.yaml", Note: "home router behind a carrier NAT (100.64.0.0/24)"},
		{Name: "pion-udp-blocked-turn-tcp", Kind: Pion, A: Network{with(homeRouter, udpBlocked)}, Servers: pionServers, Deadline: 30 * time.Second,
			Scenario: "pion-udp-blocked-turn-tcp.yaml", Note: "UDP dropped, far end public"},
		{Name: "pion-home-to-symmetric", Kind: Pion, A: Network{homeRouter}, B: Network{symmetric}, Servers: pionServers, Deadline: 20 * time.Second,
			Scenario: "pion-home-to-symmetric.yaml", Note: "port-restricted to symmetric"},
		{Name: "pion-double-nat", Kind: Pion, A: Network{homeRouter, homeRouter}, B: Network{homeRouter}, Servers: pionServers, Deadline: 20 * time.Second,
			Scenario: "pion-double-nat.yaml", Note: "two port-restricted routers to one"},
		{Name: "pion-tcp-443-only-turn-tls", Kind: Pion, A: Network{with(homeRouter, only443)}, B: Network{homeRouter}, Servers: []string{"stun", "turn-udp", "turns"}, Deadline: 30 * time.Second,
			Scenario: "pion-tcp-443-only-turn-tls.yaml", Note: "only TCP 443 out; TURN/TLS on 443"},
		{Name: "pion-bare-masquerade-to-home", Kind: Pion, A: Network{bareMasq}, B: Network{homeRouter}, Servers: pionServers, Deadline: 20 * time.Second,
			Scenario: "pion-bare-masquerade-to-home.yaml", Note: "bare masquerade to an input-dropping router"},
		{Name: "pion-bare-masquerade", Kind: Pion, A: Network{bareMasq}, B: Network{bareMasq}, Servers: pionServers, Deadline: 20 * time.Second,
			Scenario: "pion-bare-masquerade.yaml", Note: "bare masquerade both sides vs linux-masquerade"},
		{Name: "pion-bare-masquerade-as-port-restricted", Kind: Pion, A: Network{bareMasq}, B: Network{bareMasq}, Servers: pionServers, Deadline: 20 * time.Second,
			Scenario: "pion-home-to-home.yaml", Note: "the same kernel run vs icelab's port-restricted",
			Contrast: "port-restricted is not Linux's bare masquerade: linux-masquerade is (pion-bare-masquerade)"},
	}
	for i := range cases {
		if cases[i].Kind == Chromium {
			cases[i].Far = chromiumServersFar
		}
	}
	return cases
}

// chromiumServersFar is how far the relay and the media peer are from
// Chromium's network in the Chromium cases, one way. A STUN server at no
// distance answers before Chromium has registered its host candidate's
// mDNS name (some milliseconds: a call to the network service), so
// Chromium's candidate list has its srflx candidate first and it labels
// its end of a direct pair srflx in one session and host in the next
// (libwebrtc's Connection::MaybeUpdateLocalCandidate takes the first
// candidate at the mapped address); 10 ms away, as a server in the same
// region is, the name always comes first.
const chromiumServersFar = 10 * time.Millisecond

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// candidate is a local candidate as both stats and results.json give it.
type candidate struct {
	Type          string `json:"type"`
	CandidateType string `json:"candidateType"` // getStats() and pion's stats
	Protocol      string `json:"protocol"`
	RelayProtocol string `json:"relayProtocol"`
	RelayProto    string `json:"relay_protocol"` // results.json
	Address       string `json:"address"`
	IP            string `json:"ip"` // pion's stats
}

// gathered summarises local candidates: each kind with its count, a host
// candidate whose address is an mDNS name (or hidden) marked mdns.
func gathered(cands []candidate) string {
	counts := map[string]int{}
	var order []string
	for _, c := range cands {
		kind := c.CandidateType
		if kind == "" {
			kind = c.Type
		}
		kind += "/" + c.Protocol
		if rp := c.RelayProtocol + c.RelayProto; rp != "" {
			kind += "(" + rp + ")"
		}
		addr := c.Address
		if addr == "" {
			addr = c.IP
		}
		if (c.CandidateType == "host" || c.Type == "host") && (addr == "" || strings.HasSuffix(strings.Split(addr, ":")[0], ".local")) {
			kind += "[mdns]"
		}
		if counts[kind] == 0 {
			order = append(order, kind)
		}
		counts[kind]++
	}
	sort.Strings(order)
	parts := make([]string, 0, len(order))
	for _, k := range order {
		if counts[k] > 1 {
			parts = append(parts, fmt.Sprintf("%s×%d", k, counts[k]))
		} else {
			parts = append(parts, k)
		}
	}
	return strings.Join(parts, " ")
}

// End is one side of an outcome, as the table shows it.
type End struct {
	Connected bool
	Transport string
	// Local and Remote are the candidate types of the calling end's
	// selected pair: the one it settled on, which carried the call.
	Local, Remote string
	// First is the pair the calling end connected on, when it later
	// switched to another; nil if it never switched.
	First *call.Pair
	// After is the calling end's time to connect.
	After time.Duration
	// State and Ended say, for an end that did not connect, its final
	// state and when it reached it (failed, or the deadline).
	State string
	Ended time.Duration
	// Gathered summarises the calling end's local candidates when it
	// reported (connected, failed or reached its deadline): Chromium may
	// gather more later.
	Gathered string
	Err      error
}

func (e End) cells() []string {
	if e.Err != nil {
		msg := e.Err.Error()
		if len(msg) > 60 {
			msg = msg[:60] + "…"
		}
		return []string{"error: " + msg, "", ""}
	}
	if !e.Connected {
		return []string{"none", "-", fmt.Sprintf("%s at %.1fs", e.State, e.Ended.Seconds())}
	}
	transport, types := e.Transport, e.Local+"/"+e.Remote
	if f := e.First; f != nil {
		if ft := f.Transport(); ft != transport {
			transport = ft + ", then " + transport
		}
		if ft := f.Local.Type + "/" + f.Remote.Type; ft != types {
			types = ft + ", then " + types
		}
	}
	return []string{transport, types, fmt.Sprintf("%.2fs", e.After.Seconds())}
}

// Outcome is a case run both ways, each once or more.
type Outcome struct {
	Case   Case
	Real   []End
	Icelab []End
}

// agrees reports whether one real run agrees with icelab on transport and
// on candidate types.
func agrees(r, i End) (transport, candidates bool) {
	if r.Err != nil || i.Err != nil {
		return false, false
	}
	if !r.Connected || !i.Connected {
		return r.Connected == i.Connected, r.Connected == i.Connected
	}
	return r.Transport == i.Transport, r.Local == i.Local && r.Remote == i.Remote
}

// Agrees counts the pairs of a real and an icelab run that agree on
// transport and on candidate types, out of all such pairs.
func (o Outcome) Agrees() (transport, candidates, pairs int) {
	for _, r := range o.Real {
		for _, i := range o.Icelab {
			t, c := agrees(r, i)
			if t {
				transport++
			}
			if c {
				candidates++
			}
			pairs++
		}
	}
	return transport, candidates, pairs
}

// mergedCells merges runs: each distinct value with how many runs
// saw it, and the median time.
func mergedCells(runs []End) []string {
	if len(runs) == 1 {
		return runs[0].cells()
	}
	out := make([]string, 3)
	for col := 0; col < 2; col++ {
		counts := map[string]int{}
		var order []string
		for _, r := range runs {
			v := r.cells()[col]
			if counts[v] == 0 {
				order = append(order, v)
			}
			counts[v]++
		}
		parts := make([]string, 0, len(order))
		for _, v := range order {
			if len(order) == 1 {
				parts = append(parts, v)
			} else {
				parts = append(parts, fmt.Sprintf("%s (%d/%d)", v, counts[v], len(runs)))
			}
		}
		out[col] = strings.Join(parts, ", ")
	}
	var times []time.Duration
	for _, r := range runs {
		if r.Err == nil && r.Connected {
			times = append(times, r.After)
		}
	}
	if len(times) == 0 {
		out[2] = runs[0].cells()[2]
	} else {
		sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
		out[2] = fmt.Sprintf("%.2fs (median of %d)", times[len(times)/2].Seconds(), len(times))
	}
	return out
}

// WriteTable writes the outcomes as Markdown: the comparison, then the
// candidates the calling end had gathered when it reported.
func WriteTable(w io.Writer, outs []Outcome) error {
	var b strings.Builder
	b.WriteString("| case | real transport | real local/remote | real connect | icelab transport | icelab local/remote | icelab connect | agree (real × icelab run pairs): transport, candidates |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, o := range outs {
		if len(o.Real) == 0 || len(o.Icelab) == 0 {
			continue
		}
		t, c, n := o.Agrees()
		cells := append([]string{o.Case.Name}, mergedCells(o.Real)...)
		cells = append(cells, mergedCells(o.Icelab)...)
		agree := fmt.Sprintf("%d/%d, %d/%d", t, n, c, n)
		if o.Case.Contrast != "" {
			agree = "contrast, not counted (" + agree + "): " + o.Case.Contrast
		}
		cells = append(cells, agree)
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	b.WriteString("\nCandidates the calling end had gathered when it reported (first runs):\n\n| case | real | icelab |\n|---|---|---|\n")
	for _, o := range outs {
		if len(o.Real) == 0 || len(o.Icelab) == 0 {
			continue
		}
		b.WriteString("| " + o.Case.Name + " | " + o.Real[0].Gathered + " | " + o.Icelab[0].Gathered + " |\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
