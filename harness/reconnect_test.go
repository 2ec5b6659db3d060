package harness_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/icelab/icelab/harness"
	. "github.com/icelab/icelab/harness/matchers"
	"github.com/icelab/icelab/vnet"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// only443After is a call in which alice's office firewall starts dropping
// everything but TCP to port 443 five seconds after her ICE connects, under
// her fallback policy, while the others call from the open internet and a
// home router: the media node's TURN/TLS on 443 is her way back.
func only443After(policy harness.FallbackPolicy, clients int) harness.Spec {
	cs := []harness.ClientSpec{
		{Name: "alice", LAN: "office", Fallback: harness.Fallback{Policy: policy}},
		{Name: "bob"},
		{Name: "carol", LAN: "home"},
	}[:clients]
	spec := call(fmt.Sprintf("only 443 after ICE, %s, %d clients", policy, clients), cs...)
	spec.LANs = []harness.LANSpec{{Name: "office", NAT: vnet.PortRestricted()}, {Name: "home", NAT: vnet.PortRestricted()}}
	spec.Faults = []harness.Fault{{Name: "only-443", Kind: harness.AddRules, Target: "office", Rules: vnet.OnlyTCPOut(443),
		When: harness.Trigger{Event: "ice-connected", Client: "alice", After: 5 * time.Second}}}
	spec.Duration = 70 * time.Second
	return spec
}

var _ = DescribeTable("a publisher who reconnects, heard by every other client",
	func(policy harness.FallbackPolicy, clients int, recovers bool) {
		res := run(only443After(policy, clients))
		alice := res.Client("alice")
		others := []string{"bob", "carol"}[:clients-1]
		// The others hear each other throughout, whatever alice does.
		for _, o := range others {
			Expect(res.Client(o).Transport).NotTo(Equal(harness.NoTransport))
		}
		if clients == 3 {
			for _, pair := range [][2]string{{"bob", "carol/audio"}, {"carol", "bob/audio"}} {
				m := flowOf(res, pair[0], pair[1])
				Expect(m.FlowingAtEnd()).To(BeTrue(), "%s hears %s to the end", pair[0], pair[1])
				Expect(m.Quality.LossRate).To(BeNumerically("<", 0.01), "%s: %s", pair[0], pair[1])
			}
		}
		if !recovers {
			Expect(res).To(NotRecover().For("alice"))
			return
		}
		Expect(res).To(RecoverWithin(60 * time.Second).For("alice"))
		Expect(alice.Transport).To(Equal(harness.TURNTLS))
		// Every other client hears alice again after she recovers, on
		// one stream that continues the one before, with under 1% loss on
		// a lossless link: the node rewrites her new stream for each.
		for _, o := range others {
			m := flowOf(res, o, "alice/audio")
			GinkgoWriter.Printf("%s: alice/audio sent %d, received %d, lost %d, %d streams; alice recovered at %v\n",
				o, m.Sent, m.Packets, m.Quality.Lost, len(m.Streams), alice.RecoveredAt)
			Expect(m.Last).To(BeNumerically(">", alice.RecoveredAt), "%s hears alice after her recovery", o)
			Expect(m.FlowingAtEnd()).To(BeTrue(), o)
			Expect(m.Streams).To(HaveLen(1), "%s: one stream, continued across alice's reconnect", o)
			Expect(m.Quality.LossRate).To(BeNumerically("<", 0.01), o)
			Expect(m.Quality.Duplicates).To(BeZero(), o)
			Expect(res).To(FlowMediaToTheEnd().For(o))
		}
		Expect(res).To(FlowMediaToTheEnd().For("alice"))
	},
	Entry("transport fallback, two clients", harness.TransportFallback, 2, true),
	Entry("transport fallback, three clients", harness.TransportFallback, 3, true),
	Entry("ICE restart, two clients", harness.ICERestart, 2, true),
	Entry("ICE restart, three clients", harness.ICERestart, 3, true),
	// pion renominates only among pairs that already succeeded (see
	// "renomination when a direct path opens mid-call"): alice's dead
	// host pair stays selected until ICE fails, and nothing follows.
	Entry("renomination, three clients", harness.Renominate, 3, false),
	Entry("force relay, three clients", harness.ForceRelay, 3, false),
	Entry("no fallback, three clients", harness.NoFallback, 3, false),
)

// flowOf returns a client's flow of a track, where the client receives it.
func flowOf(res harness.Result, client, track string) harness.Media {
	GinkgoHelper()
	for _, m := range res.Client(client).Media {
		if m.Track == track && m.Direction == "received" {
			return m
		}
	}
	Fail(fmt.Sprintf("%s has no flow of %s", client, track))
	return harness.Media{}
}

// TestTwoClientTURNTLSFallback is issue 19's acceptance as a plain test, so
// that `go test -count=50 -run TestTwoClientTURNTLSFallback ./harness`
// repeats it (Ginkgo allows no -count): alice falls back to TURN/TLS on 443
// after her firewall starts dropping everything else, and bob hears her
// again on his one stream, with under 1% loss on a lossless link.
func TestTwoClientTURNTLSFallback(t *testing.T) {
	RegisterTestingT(t) // the suite's helpers (call, nodeConfig) use the global Expect
	g := NewWithT(t)
	spec := only443After(harness.TransportFallback, 2)
	spec.Duration = 40 * time.Second
	res := harness.RunT(t, spec, harness.WithCA(ca))
	g.Expect(res.Err).To(BeEmpty())
	alice := res.Client("alice")
	g.Expect(alice.Recovered).To(BeTrue(), alice.Timeline())
	g.Expect(alice.Transport).To(Equal(harness.TURNTLS))
	var heard *harness.Media
	for i, m := range res.Client("bob").Media {
		if m.Track == "alice/audio" && m.Direction == "received" {
			heard = &res.Client("bob").Media[i]
		}
	}
	g.Expect(heard).NotTo(BeNil())
	g.Expect(heard.Last).To(BeNumerically(">", alice.RecoveredAt), "bob hears alice after her recovery")
	g.Expect(heard.FlowingAtEnd()).To(BeTrue())
	g.Expect(heard.Streams).To(HaveLen(1))
	g.Expect(heard.Quality.LossRate).To(BeNumerically("<", 0.01))
	g.Expect(heard.Quality.Duplicates).To(BeZero())
}
