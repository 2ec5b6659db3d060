package harness_test

import (
	"time"

	"github.com/icelab/icelab/harness"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("outcomes of repeated runs", func() {
	connected := func(name string, t harness.Transport, local, remote string) harness.ClientResult {
		return harness.ClientResult{Name: name, Signalling: true, Connected: true, Transport: t,
			Selected:             &harness.Pair{Local: harness.Candidate{Type: local}, Remote: harness.Candidate{Type: remote}},
			ICEStates:            []harness.StateChange{{State: "checking"}, {State: "connected"}},
			DTLSStates:           []harness.StateChange{{State: "connecting"}, {State: "connected"}},
			PeerConnectionStates: []harness.StateChange{{State: "connecting"}, {State: "connected"}},
			MediaBothWays:        true, MediaFlowingAtEnd: true}
	}

	It("says where each call failed", func() {
		ok := connected("alice", harness.ICEUDP, "host", "host")
		noSignal := harness.ClientResult{Name: "alice"}
		noICE := harness.ClientResult{Name: "alice", Signalling: true, ICEStates: []harness.StateChange{{State: "checking"}, {State: "failed"}}}
		noDTLS := noICE
		noDTLS.ICEStates = ok.ICEStates
		noPC := noDTLS
		noPC.DTLSStates = ok.DTLSStates
		lost := ok
		lost.LostAt = 12 * time.Second
		lost.PeerConnectionStates = append(lost.PeerConnectionStates, harness.StateChange{State: "failed"})
		quiet := ok
		quiet.MediaFlowingAtEnd = false
		recovered := ok
		recovered.Recovered, recovered.FailedAt = true, 8*time.Second
		for c, want := range map[*harness.ClientResult]harness.FailureStage{
			&ok: harness.NoFailure, &noSignal: harness.FailedSignalling, &noICE: harness.FailedICE,
			&noDTLS: harness.FailedDTLS, &noPC: harness.FailedConnect, &lost: harness.FailedLost,
			&quiet: harness.FailedMedia, &recovered: harness.NoFailure,
		} {
			Expect(harness.OutcomeOf(c).FailureStage).To(Equal(want), c.Timeline())
		}
		Expect(harness.OutcomeOf(&lost)).To(Equal(harness.Outcome{Transport: harness.ICEUDP, Candidates: "host → host",
			Connected: true, FailureStage: harness.FailedLost, FinalState: "failed"}))
		Expect(harness.OutcomeOf(&noSignal)).To(Equal(harness.Outcome{Transport: harness.NoTransport, Candidates: "none",
			FailureStage: harness.FailedSignalling, FinalState: "new"}))
	})

	It("names each outcome that differed, the runs that saw each value, and leaves interrupted runs out", func() {
		run := func(alice, bob harness.ClientResult) harness.Result {
			return harness.Result{Clients: []harness.ClientResult{alice, bob}}
		}
		bob := connected("bob", harness.ICEUDP, "host", "host")
		tcp := connected("alice", harness.TURNTCP, "relay", "host")
		tls := connected("alice", harness.TURNTLS, "relay", "host")
		lost := tls
		lost.LostAt, lost.PeerConnectionStates = 20*time.Second, append(lost.PeerConnectionStates, harness.StateChange{State: "failed"})
		cut := run(lost, bob)
		cut.Interrupted = true
		results := []harness.Result{run(tcp, bob), run(tls, bob), cut, run(tcp, bob), run(lost, bob),
			{Clients: []harness.ClientResult{tcp}}} // bob missing: he never connected
		varied := harness.Vary(results)
		Expect(varied).To(Equal([]harness.Variation{
			{Client: "alice", Field: "transport", Values: []harness.Seen{{Value: "TURN/TCP", Runs: []int{1, 4, 6}}, {Value: "TURN/TLS", Runs: []int{2, 5}}}},
			{Client: "alice", Field: "failure stage", Values: []harness.Seen{{Value: "none", Runs: []int{1, 2, 4, 6}}, {Value: "lost", Runs: []int{5}}}},
			{Client: "alice", Field: "final state", Values: []harness.Seen{{Value: "connected", Runs: []int{1, 2, 4, 6}}, {Value: "failed", Runs: []int{5}}}},
			{Client: "bob", Field: "transport", Values: []harness.Seen{{Value: "ICE/UDP", Runs: []int{1, 2, 4, 5}}, {Value: "none", Runs: []int{6}}}},
			{Client: "bob", Field: "candidates", Values: []harness.Seen{{Value: "host → host", Runs: []int{1, 2, 4, 5}}, {Value: "none", Runs: []int{6}}}},
			{Client: "bob", Field: "connected", Values: []harness.Seen{{Value: "yes", Runs: []int{1, 2, 4, 5}}, {Value: "no", Runs: []int{6}}}},
			{Client: "bob", Field: "failure stage", Values: []harness.Seen{{Value: "none", Runs: []int{1, 2, 4, 5}}, {Value: "signalling", Runs: []int{6}}}},
			{Client: "bob", Field: "final state", Values: []harness.Seen{{Value: "connected", Runs: []int{1, 2, 4, 5}}, {Value: "new", Runs: []int{6}}}},
		}))
		Expect(varied[0].String()).To(Equal("alice transport: TURN/TCP in runs 1, 4, 6, TURN/TLS in runs 2, 5"))
		Expect(harness.Vary(results[:2:2])[0].String()).To(Equal("alice transport: TURN/TCP in run 1, TURN/TLS in run 2"))
		Expect(harness.Vary([]harness.Result{run(tcp, bob), run(tcp, bob)})).To(BeEmpty())
	})

	It("runs a spec again and again and finds the same outcome every time", func() {
		spec := call("repeat", harness.ClientSpec{Name: "alice"}, harness.ClientSpec{Name: "bob"})
		spec.Duration = 5 * time.Second
		rep := harness.RepeatT(suiteT, spec, 3, harness.WithCA(ca))
		Expect(rep.Results).To(HaveLen(3))
		for _, res := range rep.Results {
			Expect(res.Err).To(BeEmpty())
			honest(res)
			Expect(res.Client("alice").Transport).To(Equal(harness.ICEUDP))
		}
		Expect(rep.Stable()).To(BeTrue(), rep.String())
		Expect(rep.String()).To(Equal("3 runs, the same outcome every time"))
	})
})
