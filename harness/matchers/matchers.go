// Package matchers holds Gomega matchers over harness results that read
// like the field report they check:
//
//	Expect(res).To(UseTransport(harness.TURNTLS))
//	Expect(res).To(RecoverWithin(10 * time.Second).For("alice"))
//	Expect(res).To(FailWithReason("port 5349"))
//
// Each applies to every client of the result, to one with For, or to a
// peer's ends of its peer-to-peer connections with ForPeer. Failure
// messages show the expectation, what was observed and the client's
// timeline.
package matchers

import (
	"fmt"
	"strings"
	"time"

	"github.com/icelab/icelab/harness"
	"github.com/onsi/gomega/types"
)

// ClientMatcher is a matcher over a harness.Result's clients.
type ClientMatcher struct {
	expect string
	check  func(c *harness.ClientResult) (ok bool, observed string)
	client string
	peer   string
	failed string
}

var _ types.GomegaMatcher = (*ClientMatcher)(nil)

// For restricts the matcher to one client.
func (m *ClientMatcher) For(client string) *ClientMatcher {
	c := *m
	c.client = client
	return &c
}

// ForPeer restricts the matcher to a peer's ends of its peer-to-peer
// connections ("alice→bob", "alice→carol").
func (m *ClientMatcher) ForPeer(peer string) *ClientMatcher {
	c := *m
	c.peer = peer
	return &c
}

func (m *ClientMatcher) clients(actual any) ([]*harness.ClientResult, error) {
	var res *harness.Result
	switch a := actual.(type) {
	case harness.Result:
		res = &a
	case *harness.Result:
		res = a
	default:
		return nil, fmt.Errorf("expected a harness.Result, got %T", actual)
	}
	if res.Err != "" {
		return nil, fmt.Errorf("the run did not happen: %s", res.Err)
	}
	if m.client != "" {
		c := res.Client(m.client)
		if c == nil {
			return nil, fmt.Errorf("the result has no client %q", m.client)
		}
		return []*harness.ClientResult{c}, nil
	}
	if m.peer != "" {
		var out []*harness.ClientResult
		for i := range res.Clients {
			if res.Clients[i].Peer == m.peer {
				out = append(out, &res.Clients[i])
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("the result has no connection of peer %q", m.peer)
		}
		return out, nil
	}
	if len(res.Clients) == 0 {
		return nil, fmt.Errorf("the result has no clients")
	}
	out := make([]*harness.ClientResult, len(res.Clients))
	for i := range res.Clients {
		out[i] = &res.Clients[i]
	}
	return out, nil
}

// Match implements types.GomegaMatcher.
func (m *ClientMatcher) Match(actual any) (bool, error) {
	cs, err := m.clients(actual)
	if err != nil {
		return false, err
	}
	var fails []string
	for _, c := range cs {
		if ok, observed := m.check(c); !ok {
			fails = append(fails, fmt.Sprintf("client %s: observed %s\n%s", c.Name, observed, indent(describe(c))))
		}
	}
	m.failed = strings.Join(fails, "\n")
	return len(fails) == 0, nil
}

// FailureMessage implements types.GomegaMatcher.
func (m *ClientMatcher) FailureMessage(any) string {
	return fmt.Sprintf("expected %s\n%s", m.expect, m.failed)
}

// NegatedFailureMessage implements types.GomegaMatcher.
func (m *ClientMatcher) NegatedFailureMessage(actual any) string {
	cs, _ := m.clients(actual)
	var b strings.Builder
	for _, c := range cs {
		_, observed := m.check(c)
		fmt.Fprintf(&b, "client %s: observed %s\n%s", c.Name, observed, indent(describe(c)))
	}
	return fmt.Sprintf("expected not %s\n%s", m.expect, b.String())
}

func describe(c *harness.ClientResult) string {
	s := fmt.Sprintf("transport %s, final state %s", c.TransportSummary(), c.FinalState())
	if c.Selected != nil {
		s += ", selected " + c.Selected.String()
	}
	if len(c.Outages) > 0 {
		s += "\nmedia outages: " + outages(c.Outages)
	}
	if c.Failure != "" {
		s += "\nfailure: " + c.Failure
	}
	return s + "\ntimeline:\n" + c.Timeline()
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

// UseTransport succeeds when t carried the clients' calls: the transport
// of the last pair selected while connected, even if the connection was
// lost later (combine with EndIn or FlowMediaToTheEnd to say it lasted).
func UseTransport(t harness.Transport) *ClientMatcher {
	return &ClientMatcher{expect: "to use " + string(t), check: func(c *harness.ClientResult) (bool, string) {
		return c.Transport == t, string(c.Transport)
	}}
}

// Connect succeeds when the clients' peer connections connected.
func Connect() *ClientMatcher {
	return &ClientMatcher{expect: "to connect", check: func(c *harness.ClientResult) (bool, string) {
		if c.Connected {
			return true, fmt.Sprintf("connected after %v", c.ConnectedAt)
		}
		return false, "never connected"
	}}
}

// FlowMediaBothWays succeeds when, over the whole call, every publication
// reached the node and every subscription arrived, at some time (outages
// on the way, and media that stopped for good, are allowed; see
// harness.ClientResult.MediaBothWays and FlowMediaToTheEnd).
func FlowMediaBothWays() *ClientMatcher {
	return &ClientMatcher{expect: "media to flow both ways", check: func(c *harness.ClientResult) (bool, string) {
		return c.MediaBothWays, mediaSeen(c)
	}}
}

// FlowMediaToTheEnd succeeds when media flowed both ways and all of it was
// still flowing when the call ended (harness.ClientResult.MediaFlowingAtEnd).
func FlowMediaToTheEnd() *ClientMatcher {
	return &ClientMatcher{expect: "media to flow both ways to the end of the call", check: func(c *harness.ClientResult) (bool, string) {
		return c.MediaBothWays && c.MediaFlowingAtEnd, mediaSeen(c)
	}}
}

// mediaSeen describes a client's flows for a failure message: what
// arrived of what was sent, and the outages.
func mediaSeen(c *harness.ClientResult) string {
	var parts []string
	for _, m := range c.Media {
		parts = append(parts, fmt.Sprintf("%s %s %d of %d", m.Track, m.Direction, m.Packets, m.Sent))
	}
	observed := "media " + strings.Join(parts, ", ")
	if c.NoMediaExpected {
		observed = "a client that neither publishes nor subscribes"
	}
	if len(c.Outages) > 0 {
		observed += "; outages " + outages(c.Outages)
	}
	return observed
}

// RecoverMediaWithin succeeds when the clients' media, stopped around a
// detected failure, flowed again within d of stopping: the outage a user
// heard, which RecoverWithin's ICE-state figure understates.
func RecoverMediaWithin(d time.Duration) *ClientMatcher {
	return &ClientMatcher{expect: fmt.Sprintf("media to flow again within %v of stopping", d), check: func(c *harness.ClientResult) (bool, string) {
		o := c.MediaOutage()
		switch {
		case o == nil:
			return false, "no media outage around a detected failure"
		case o.Ongoing:
			return false, "media stopped at " + o.String()
		}
		return o.Duration() <= d, fmt.Sprintf("media out %v (%s)", o.Duration(), o)
	}}
}

func outages(os []harness.Outage) string {
	parts := make([]string, len(os))
	for i, o := range os {
		parts[i] = o.String()
	}
	return strings.Join(parts, ", ")
}

// RecoverWithin succeeds when the clients failed and recovered, with
// media both ways, within d of the failure being detected.
func RecoverWithin(d time.Duration) *ClientMatcher {
	return &ClientMatcher{expect: fmt.Sprintf("to recover within %v", d), check: func(c *harness.ClientResult) (bool, string) {
		switch {
		case c.FailedAt == 0 && !c.Recovered:
			return false, "no failure to recover from"
		case !c.Recovered:
			return false, fmt.Sprintf("failure detected at %v and no recovery", c.FailedAt)
		case !c.MediaBothWays:
			return false, fmt.Sprintf("recovered after %v without media both ways", c.RecoveryTime())
		}
		return c.RecoveryTime() <= d, fmt.Sprintf("recovered after %v over %s", c.RecoveryTime(), c.Transport)
	}}
}

// NotRecover succeeds when the clients failed and did not recover.
func NotRecover() *ClientMatcher {
	return &ClientMatcher{expect: "to fail without recovering", check: func(c *harness.ClientResult) (bool, string) {
		if c.Recovered {
			return false, fmt.Sprintf("recovered after %v", c.RecoveryTime())
		}
		return c.FailedAt > 0 || !c.Connected, "final state " + c.FinalState()
	}}
}

// FailWithReason succeeds when the clients did not end connected with media
// both ways, for a reason that contains substr.
func FailWithReason(substr string) *ClientMatcher {
	return &ClientMatcher{expect: fmt.Sprintf("to fail with a reason containing %q", substr), check: func(c *harness.ClientResult) (bool, string) {
		if c.Failure == "" {
			return false, "no failure"
		}
		return strings.Contains(c.Failure, substr), "failure " + c.Failure
	}}
}

// EndIn succeeds when the clients' last peer connection state is state,
// such as "connecting" for a DTLS handshake that never completes.
func EndIn(state string) *ClientMatcher {
	return &ClientMatcher{expect: "to end in state " + state, check: func(c *harness.ClientResult) (bool, string) {
		return c.FinalState() == state, "final state " + c.FinalState()
	}}
}

// SelectCandidates succeeds when the clients' selected pair has these
// local and remote candidate types.
func SelectCandidates(local, remote string) *ClientMatcher {
	return &ClientMatcher{expect: fmt.Sprintf("to select a %s -> %s pair", local, remote), check: func(c *harness.ClientResult) (bool, string) {
		if c.Selected == nil {
			return false, "no selected pair"
		}
		return c.Selected.Local.Type == local && c.Selected.Remote.Type == remote, "selected " + c.Selected.String()
	}}
}
