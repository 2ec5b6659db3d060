package harness_test

import (
	"strings"
	"time"

	"github.com/icelab/icelab/harness"
	. "github.com/icelab/icelab/harness/matchers"
	"github.com/icelab/icelab/vnet"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// flow returns a client's media flow by track and direction.
func flow(c *harness.ClientResult, track, direction string) *harness.Media {
	for i := range c.Media {
		if c.Media[i].Track == track && c.Media[i].Direction == direction {
			return &c.Media[i]
		}
	}
	return nil
}

var _ = Describe("media quality", func() {
	It("measures loss, jitter, round-trip time and bitrate per second on a lossy mobile link", func() {
		spec := call("lossy", harness.ClientSpec{Name: "alice", LAN: "mobile", Publish: harness.Publish{Audio: true}},
			harness.ClientSpec{Name: "bob", Publish: harness.Publish{Audio: true}})
		spec.LANs = []harness.LANSpec{{Name: "mobile", NAT: vnet.PortRestricted()}}
		spec.Clients[0].Link = vnet.Impairment{Latency: 75 * time.Millisecond, Jitter: 20 * time.Millisecond, Loss: 0.05}
		spec.Duration = 30 * time.Second
		res := run(spec)
		alice := res.Client("alice")
		Expect(alice.Connected).To(BeTrue(), alice.Failure)

		up := flow(alice, "alice/audio", "at-node")
		Expect(up).NotTo(BeNil())
		Expect(up.Quality).NotTo(BeNil())
		q := up.Quality
		GinkgoWriter.Printf("alice → node: loss %.1f%%, jitter %v (mean %v), rtt %v (mean %v), %.0f bit/s, %d seconds\n",
			q.LossRate*100, q.Jitter, q.JitterMean, q.RTT, q.RTTMean, q.Bitrate, len(q.Seconds))
		// 5% of datagrams are lost on the link, each way; Opus has no NACK.
		Expect(q.LossRate).To(BeNumerically("~", 0.05, 0.03))
		Expect(q.Lost).To(BeNumerically(">", 0))
		Expect(q.Seconds).To(HaveLen(30))
		lostPerSecond := uint64(0)
		for _, s := range q.Seconds {
			lostPerSecond += s.Lost
		}
		Expect(lostPerSecond).To(BeNumerically("~", q.Lost, 2), "the seconds add up to the total")
		// 75 ms each way on alice's link, and the node's 15 ms default
		// is not on this path: about 150 ms plus jitter.
		Expect(q.RTTMean).To(BeNumerically(">=", 150*time.Millisecond))
		Expect(q.RTTMean).To(BeNumerically("<", 250*time.Millisecond))
		Expect(q.Jitter).To(BeNumerically(">", 0))
		// 32 kbit/s of Opus payload plus RTP headers, less the loss.
		Expect(q.Bitrate).To(BeNumerically("~", 35000, 6000))

		down := flow(alice, "bob/audio", "received")
		Expect(down).NotTo(BeNil())
		Expect(down.Quality.LossRate).To(BeNumerically("~", 0.05, 0.03))
		Expect(down.Quality.RTTMean).To(BeNumerically(">=", 150*time.Millisecond), "measured by the node's sender from alice's receiver reports")

		Expect(res).To(LoseAtMost(0.10).For("alice"))
		Expect(res).NotTo(LoseAtMost(0.001).For("alice"), "the matcher sees the loss")
		Expect(res).To(KeepRTTUnder(250 * time.Millisecond).For("alice"))
		Expect(res).To(DeliverAtLeast(30_000).For("alice"))

		clean := flow(res.Client("bob"), "bob/audio", "at-node").Quality
		Expect(clean.Lost).To(BeZero(), "bob's own link loses nothing")
		Expect(clean.Freezes).To(BeEmpty())
	})

	// A cut loses what the link held, at once, and the network reports
	// each loss from inside the cut: the runner, which applies faults under
	// its own lock, must not need that lock to count them (it did, and a
	// cut of a link with a queue deadlocked the call).
	It("counts what a cut link held as drops, and goes on", func() {
		spec := call("cut-queue", harness.ClientSpec{Name: "alice", Publish: harness.Publish{Audio: true, Video: true},
			Link: vnet.Impairment{Latency: 15 * time.Millisecond, Bandwidth: 1_000_000}},
			harness.ClientSpec{Name: "bob", Publish: harness.Publish{Audio: true}})
		spec.Faults = []harness.Fault{
			{Name: "cut", When: harness.Trigger{Event: "connected", Client: "alice", After: 2 * time.Second}, Kind: harness.CutLink, Target: "alice"},
			{Name: "restore", When: harness.Trigger{Event: "connected", Client: "alice", After: 3 * time.Second}, Kind: harness.Restore, Target: "alice"},
		}
		spec.Duration = 8 * time.Second
		res := run(spec)
		cut := 0
		for reason, n := range res.Drops {
			if strings.HasSuffix(reason, "by link cut") {
				cut += n
			}
		}
		Expect(cut).To(BeNumerically(">", 0), "the 1.5 Mbit/s video queued on a 1 Mbit/s link is lost by the cut: %v", res.Drops)
		Expect(res.Client("alice").Outages).NotTo(BeEmpty())
	})

	It("counts freezes: a 3 s cut is one freeze of about 3 s", func() {
		spec := call("cut", harness.ClientSpec{Name: "alice", LAN: "home", Publish: harness.Publish{Audio: true}},
			harness.ClientSpec{Name: "bob", Publish: harness.Publish{Audio: true}})
		spec.LANs = []harness.LANSpec{{Name: "home", NAT: vnet.PortRestricted()}}
		spec.Faults = []harness.Fault{
			{Name: "cut", When: harness.Trigger{Event: "connected", Client: "alice", After: 5 * time.Second}, Kind: harness.CutLink, Target: "home"},
			{Name: "restore", When: harness.Trigger{Event: "connected", Client: "alice", After: 8 * time.Second}, Kind: harness.Restore, Target: "home"},
		}
		spec.Duration = 20 * time.Second
		res := run(spec)
		q := flow(res.Client("alice"), "alice/audio", "at-node").Quality
		Expect(q.Freezes).To(HaveLen(1))
		Expect(q.LongestFreeze).To(BeNumerically("~", 3*time.Second, 100*time.Millisecond))
		Expect(res).NotTo(FreezeAtMost(time.Second).For("alice"))
		Expect(res).To(FreezeAtMost(4 * time.Second).For("alice"))
	})
})
