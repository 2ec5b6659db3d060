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

// Chromium hides a page's host candidates behind an mDNS name unless the
// page holds camera or microphone permission; a LiveKit node does not
// resolve mDNS (use_mdns defaults to false), so it learns the browser's
// address from the checks, as peer-reflexive. libwebrtc labels its own
// end of the pair by the address the node saw (make fidelity measured
// host, srflx and prflx where pion says host). Both ends as each reports
// it, on pion (ice v4.4.9) with the browser's ClientSpec.MDNS and
// ClientSpec.LibwebrtcStats, and without them as pion's defaults do.
var _ = Describe("a browser client's host candidates behind mDNS", func() {
	browser := func(lan string, hide bool) harness.Spec {
		spec := call("mdns", harness.ClientSpec{Name: "alice", LAN: lan, MDNS: hide, LibwebrtcStats: hide,
			Publish: harness.Publish{Data: true}})
		spec.Duration = 10 * time.Second
		switch lan {
		case "home":
			spec.LANs = []harness.LANSpec{{Name: "home", NAT: vnet.PortRestricted()}}
		case "symmetric":
			spec.LANs = []harness.LANSpec{{Name: "symmetric", NAT: vnet.Symmetric()}}
		}
		return spec
	}
	types := func(p *harness.Pair) string {
		Expect(p).NotTo(BeNil())
		return p.Local.Type + "/" + p.Remote.Type
	}
	DescribeTable("the browser's end and the node's end of the selected pair",
		func(lan string, hide bool, wantClient, wantNode string) {
			res := run(browser(lan, hide))
			Expect(res).To(SatisfyAll(Connect(), UseTransport(harness.ICEUDP)))
			alice := res.Client("alice")
			Expect(types(alice.Selected)).To(Equal(wantClient), "alice's end (local/remote)")
			Expect(types(alice.NodeSelected)).To(Equal(wantNode), "the node's end (local/remote)")
			for _, c := range alice.LocalCandidates {
				if c.Type == "host" {
					Expect(strings.Contains(c.Address, ".local:")).To(Equal(hide), "host candidate %s", c.Address)
				}
			}
		},
		Entry("public: the address the node saw is the host's own", "", true, "host/host", "host/prflx"),
		Entry("behind a home router: the node saw the NAT's mapping, which Chromium's srflx candidate has", "home", true, "srflx/host", "host/prflx"),
		Entry("behind a symmetric NAT: a mapping of its own towards the node", "symmetric", true, "prflx/host", "host/prflx"),
		Entry("public, pion's defaults: the node pairs with the signalled host address", "", false, "host/host", "host/host"),
		Entry("behind a home router, pion's defaults: pion says host", "home", false, "host/host", "host/prflx"),
	)

	// The name, not the port: the port is the one the host socket got,
	// and pion binds its host, srflx and relay sockets from concurrent
	// gathering goroutines.
	It("names the hidden host the same in every run", func() {
		names := map[string]bool{}
		for range 2 {
			res := run(browser("home", true))
			for _, c := range res.Client("alice").LocalCandidates {
				if c.Type == "host" {
					name, _, ok := strings.Cut(c.Address, ".local:")
					Expect(ok).To(BeTrue(), "host candidate %s", c.Address)
					names[name] = true
				}
			}
		}
		Expect(names).To(HaveLen(1))
	})
})
