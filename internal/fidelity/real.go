package fidelity

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/icelab/icelab/internal/netlab"
	"github.com/icelab/icelab/internal/netlab/call"
	"github.com/icelab/icelab/relay/pki"
)

// RealResult is what both ends of a namespace-lab call reported.
type RealResult struct {
	// A is the caller (Chromium or pion), B the far pion peer.
	A, B call.Result
	// Internals is Chromium's webrtc-internals dump; not collected yet
	// (nil): the page's getStats() report is in A.Stats.
	Internals json.RawMessage
}

// The relay's credentials.
const (
	turnUser = "lab"
	turnPass = "lab-secret"
)

// end is one end of a call as the runner drives it.
type end interface {
	send(call.Message) error
	messages() <-chan call.Message
	stop() error
}

// procEnd is a pion child.
type procEnd struct{ p *call.Proc }

func (e procEnd) send(m call.Message) error     { return e.p.Send(m) }
func (e procEnd) messages() <-chan call.Message { return e.p.Msgs }
func (e procEnd) stop() error                   { return e.p.Stop() }

// RunReal runs case c in a fresh namespace lab; ca signs the relay's
// TURN/TLS certificate and is trusted by the pion ends (Chromium ignores
// certificate errors). If chromiumLog is not nil and the case is
// Chromium's, it receives Chromium's log with libwebrtc's ICE lines: port
// allocation phases, connections, pings and pair selection.
func RunReal(ctx context.Context, c Case, ca *pki.CA, chromiumLog io.Writer) (res *RealResult, err error) {
	lab, err := netlab.New("fid")
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, lab.Close()) }()
	ctx, cancel := context.WithTimeout(ctx, c.Deadline+30*time.Second)
	defer cancel()

	relayNS, err := public(lab, "relay", c.Far)
	if err != nil {
		return nil, err
	}
	leaf, err := ca.Issue(pki.LeafOptions{Names: []string{relayNS.Addr.String()}})
	if err != nil {
		return nil, fmt.Errorf("case %s: relay certificate: %w", c.Name, err)
	}
	rp, err := call.Start(ctx, relayNS, call.Config{Role: call.Relay, Name: "relay", Addr: relayNS.Addr.String(),
		UDPPort: 3478, TLSPort: 443, CertPEM: leaf.CertPEM, KeyPEM: leaf.KeyPEM,
		Users: map[string]string{turnUser: turnPass}, RelayPorts: [2]int{30000, 30999}})
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, rp.Stop()) }()
	if m, ok := <-rp.Msgs; !ok || m.Kind != "ready" {
		return nil, fmt.Errorf("case %s: relay did not start: %s %s", c.Name, m.Error, rp.Stderr())
	}
	servers := iceServers(c.Servers, relayNS.Addr.String())

	bNS, err := place(lab, "b", c.B, c.Far)
	if err != nil {
		return nil, err
	}
	aNS, err := place(lab, "a", c.A, 0)
	if err != nil {
		return nil, err
	}
	bCfg := call.Config{Role: call.Peer, Name: "b", ICEServers: servers, ICETCP: c.ICETCP, Deadline: c.Deadline, TrustPEM: ca.PEM}
	if c.Kind == Chromium || c.Media {
		// A media server gathers no relays of its own; it listens for
		// ICE-TCP when the case says so.
		bCfg.ICEServers = nil
		if c.ICETCP {
			bCfg.ICETCPPort = 7881
		}
	}
	bp, err := call.Start(ctx, bNS, bCfg)
	if err != nil {
		return nil, err
	}
	b := procEnd{bp}
	defer func() { err = errors.Join(err, b.stop()) }()

	var a end
	if c.Kind == Chromium {
		ce, err := startChromium(ctx, aNS, servers, c.Deadline, chromiumLog)
		if err != nil {
			return nil, err
		}
		a = ce
	} else {
		ap, err := call.Start(ctx, aNS, call.Config{Role: call.Peer, Name: "a", Offer: true, ICEServers: servers,
			ICETCP: c.ICETCP, Deadline: c.Deadline, TrustPEM: ca.PEM})
		if err != nil {
			return nil, err
		}
		a = procEnd{ap}
	}
	defer func() { err = errors.Join(err, a.stop()) }()
	return relayCall(ctx, c, a, b)
}

// relayCall passes signalling between the ends until both have reported.
func relayCall(ctx context.Context, c Case, a, b end) (*RealResult, error) {
	res := &RealResult{}
	var gotA, gotB bool
	am, bm := a.messages(), b.messages()
	for !gotA || !gotB {
		select {
		case m, ok := <-am:
			if !ok {
				return res, fmt.Errorf("case %s: caller ended before reporting", c.Name)
			}
			if err := handle(c, "a", m, b, &res.A, &gotA); err != nil {
				return res, err
			}
		case m, ok := <-bm:
			if !ok {
				return res, fmt.Errorf("case %s: far end ended before reporting", c.Name)
			}
			if err := handle(c, "b", m, a, &res.B, &gotB); err != nil {
				return res, err
			}
		case <-ctx.Done():
			return res, fmt.Errorf("case %s: waiting for both ends: %w", c.Name, ctx.Err())
		}
	}
	return res, nil
}

func handle(c Case, from string, m call.Message, to end, dst *call.Result, got *bool) error {
	switch m.Kind {
	case "sdp", "candidate":
		if err := to.send(m); err != nil {
			return fmt.Errorf("case %s: relaying %s from %s: %w", c.Name, m.Kind, from, err)
		}
	case "result":
		*dst, *got = *m.Result, true
	case "error":
		return fmt.Errorf("case %s: end %s: %s", c.Name, from, m.Error)
	}
	return nil
}

// public adds a public host, far away if far is not zero.
func public(lab *netlab.Lab, name string, far time.Duration) (*netlab.NS, error) {
	if far > 0 {
		return lab.PublicFar(name, far)
	}
	return lab.Public(name)
}

// place builds an end's network and returns the namespace of its host;
// a public host is far away if far is not zero.
func place(lab *netlab.Lab, name string, n Network, far time.Duration) (*netlab.NS, error) {
	if len(n) == 0 {
		return public(lab, name, far)
	}
	var r *netlab.Router
	for i, cfg := range n {
		var err error
		if r, err = lab.Router(fmt.Sprintf("%s-r%d", name, i), r, cfg); err != nil {
			return nil, err
		}
	}
	return r.Host(name)
}

// iceServers spells the case's servers for the relay at addr.
func iceServers(names []string, addr string) []call.ICEServer {
	var out []call.ICEServer
	for _, n := range names {
		switch n {
		case "stun":
			out = append(out, call.ICEServer{URLs: []string{"stun:" + addr + ":3478"}})
		case "turn-udp":
			out = append(out, call.ICEServer{URLs: []string{"turn:" + addr + ":3478?transport=udp"}, Username: turnUser, Credential: turnPass})
		case "turn-tcp":
			out = append(out, call.ICEServer{URLs: []string{"turn:" + addr + ":3478?transport=tcp"}, Username: turnUser, Credential: turnPass})
		case "turns":
			out = append(out, call.ICEServer{URLs: []string{"turns:" + addr + ":443?transport=tcp"}, Username: turnUser, Credential: turnPass})
		}
	}
	return out
}

//go:embed page.js
var pageJS string

// settle is how long the page waits after Chromium connects before it
// reports the selected pair. libwebrtc selects the first pair that becomes
// writable and switches when a better one does (basic_ice_controller.cc):
// with UDP blocked, Chromium 156 connected over TURN/TLS at 0.15 s and
// switched to ICE/TCP at 0.33 s, when its TCP allocation phase had
// started and the pair had been checked. What carries the call is the
// settled pair, as icelab's Transport is the last pair selected; the
// report keeps the first one too.
const settle = 3 * time.Second

// iceLogging turns on libwebrtc's lines about ICE in Chromium's log: the
// port allocator's phases, each port and connection, pings, responses
// and the selected pair (RTC_LOG verbosity maps to Chromium's VLOG).
const iceLogging = "--vmodule=*/p2p/*=4"

// chromiumEnd is headless Chromium running page.js.
type chromiumEnd struct {
	ctx   context.Context
	b     *netlab.Browser
	msgs  chan call.Message
	timer *time.Timer
	quit  chan struct{}
}

func startChromium(ctx context.Context, ns *netlab.NS, servers []call.ICEServer, deadline time.Duration, log io.Writer) (*chromiumEnd, error) {
	flags := []string{"--ignore-certificate-errors"}
	if log != nil {
		flags = append(flags, "--enable-logging=stderr", "--v=0", iceLogging)
	}
	b, err := ns.StartChromium(ctx, log, flags...)
	if err != nil {
		return nil, err
	}
	e := &chromiumEnd{ctx: ctx, b: b, msgs: make(chan call.Message, 64), quit: make(chan struct{})}
	fail := func(err error) (*chromiumEnd, error) { return nil, errors.Join(err, b.Close()) }
	if err := b.Bind(ctx, "icelabSend"); err != nil {
		return fail(err)
	}
	if err := b.Eval(ctx, pageJS, nil); err != nil {
		return fail(fmt.Errorf("chromium: page script: %w", err))
	}
	go func() {
		defer close(e.msgs)
		for p := range b.Bindings {
			var m call.Message
			if json.Unmarshal([]byte(p), &m) == nil {
				e.msgs <- m
			}
		}
	}()
	cfg, _ := json.Marshal(map[string]any{"iceServers": servers, "settle": settle.Milliseconds()})
	if err := b.Eval(ctx, "icelab.start("+string(cfg)+")", nil); err != nil {
		return fail(fmt.Errorf("chromium: start: %w", err))
	}
	// At the deadline the page reports whatever state it is in.
	e.timer = time.AfterFunc(deadline, func() {
		_ = b.Eval(ctx, "icelab.report(false)", nil)
	})
	return e, nil
}

func (e *chromiumEnd) send(m call.Message) error {
	raw, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("chromium: %w", err)
	}
	if err := e.b.Eval(e.ctx, "icelab.remote("+string(raw)+")", nil); err != nil {
		return fmt.Errorf("chromium: remote %s: %w", m.Kind, err)
	}
	return nil
}

func (e *chromiumEnd) messages() <-chan call.Message { return e.msgs }

func (e *chromiumEnd) stop() error {
	e.timer.Stop()
	return e.b.Close()
}
