package harness_test

import (
	"net/netip"
	"time"

	"github.com/icelab/icelab/harness"
	. "github.com/icelab/icelab/harness/matchers"
	"github.com/icelab/icelab/middlebox"
	"github.com/icelab/icelab/vnet"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// proxyAddr is the corporate proxy's address on the corp LAN.
var proxyAddr = netip.MustParseAddr("10.8.0.100")

// behindProxy is a call from alice on a corporate LAN whose firewall lets
// only the proxy out, to a node with TURN/TLS on tlsPort. alice is
// configured with the proxy when configured is true.
func behindProxy(proxy harness.ProxySpec, tlsPort int, configured bool) harness.Spec {
	alice := harness.ClientSpec{Name: "alice", LAN: "corp"}
	if configured {
		alice.Proxy = proxy.Name
	}
	spec := call("behind a proxy", alice, harness.ClientSpec{Name: "bob"})
	spec.Node.Config = nodeConfig(tlsPort)
	proxy.LAN, proxy.Addr = "corp", proxyAddr
	spec.Proxies = []harness.ProxySpec{proxy}
	spec.LANs = []harness.LANSpec{{
		Name: "corp", NAT: vnet.PortRestricted(), LANPrefix: netip.MustParsePrefix("10.8.0.0/24"),
		Firewall: []vnet.Rule{
			{Name: "allow-proxy-out", Direction: vnet.Outbound, Local: netip.PrefixFrom(proxyAddr, 32), Action: vnet.Accept},
			{Name: "drop-other-out", Direction: vnet.Outbound, Action: vnet.Drop},
		},
	}}
	return spec
}

var _ = Describe("an explicit proxy on a corporate LAN that lets only the proxy out", func() {
	squid := harness.ProxySpec{Name: "squid", Kind: middlebox.HTTPConnect, AllowPorts: []int{443}}

	It("carries signalling and TURN/TLS on 443 through HTTP CONNECT", func() {
		res := run(behindProxy(squid, 443, true))
		Expect(res).To(UseTransport(harness.TURNTLS).For("alice"))
		Expect(res).To(FlowMediaToTheEnd())
		Expect(res.Client("alice").Signalling).To(BeTrue())
		Expect(res.Client("alice").Selected.Local.RelayProtocol).To(Equal("tls"))
	})

	It("connects nothing for a client without the proxy setting", func() {
		spec := behindProxy(squid, 443, false)
		spec.Duration = 35 * time.Second // past the signalling request's 30 s timeout
		res := run(spec)
		Expect(res).NotTo(Connect().For("alice"))
		Expect(res.Client("alice").Signalling).To(BeFalse())
		Expect(res).To(FailWithReason("signalling never reached the node").For("alice"))
		Expect(res).To(FailWithReason("TCP to port 443 dropped by firewall corp rule 2 (drop-other-out)").For("alice"))
		Expect(res).To(Connect().For("bob"))
	})

	It("fails an app's TURN/TLS on 5349 with the proxy's 403 when it allows CONNECT only to 443", func() {
		spec := behindProxy(squid, 443, true)
		spec.Clients[0].ICEServers = turnServers("alice", "turns:turn.example.com:5349?transport=tcp")
		res := run(spec)
		Expect(res.Client("alice").Signalling).To(BeTrue(), "signalling on 443 is allowed")
		Expect(res).NotTo(Connect().For("alice"))
		Expect(res).To(FailWithReason("403 Forbidden").For("alice"))
		Expect(res).To(FailWithReason("proxy squid: CONNECT turn.example.com:5349 denied (403)").For("alice"))
	})

	// A proxy host is a fault target like any host: cutting its link for
	// 10 s stalls the TURN/TLS tunnel through it (TCP retransmits, nothing
	// is reset), ICE goes disconnected, and when the link is back the same
	// tunnel carries the call again, with the outage in the result.
	It("rides out the proxy's link going down for 10 s on the same TURN/TLS tunnel", func() {
		spec := behindProxy(squid, 443, true)
		spec.Duration = 40 * time.Second
		at := func(d time.Duration) harness.Trigger {
			return harness.Trigger{Event: "connected", Client: "alice", After: d}
		}
		spec.Faults = []harness.Fault{
			{Name: "proxy down", When: at(5 * time.Second), Kind: harness.CutLink, Target: "squid"},
			{Name: "proxy up", When: at(15 * time.Second), Kind: harness.Restore, Target: "squid"},
		}
		res := run(spec)
		alice := res.Client("alice")
		Expect(res).To(UseTransport(harness.TURNTLS).For("alice"))
		Expect(alice.FinalState()).To(Equal("connected"))
		Expect(alice.Outages).To(ContainElement(WithTransform(harness.Outage.Duration, BeNumerically(">=", 9*time.Second))))
		Expect(alice.Outages).NotTo(ContainElement(HaveField("Ongoing", true)))
		Expect(res).To(FlowMediaToTheEnd())
	})

	It("carries TURN/TLS through a SOCKS5 proxy", func() {
		res := run(behindProxy(harness.ProxySpec{Name: "socks", Kind: middlebox.SOCKS5}, 443, true))
		Expect(res).To(UseTransport(harness.TURNTLS).For("alice"))
		Expect(res).To(FlowMediaToTheEnd())
	})

	It("refuses a spec whose client names an unknown proxy, or trusts one that does not inspect", func() {
		spec := behindProxy(squid, 443, true)
		spec.Clients[0].Proxy = "ghost"
		Expect(harness.RunT(suiteT, spec, harness.WithCA(ca)).Err).To(Equal(`client alice: proxy "ghost" is not defined`))
		spec = behindProxy(squid, 443, true)
		spec.Clients[0].Trust = []string{"squid"}
		Expect(harness.RunT(suiteT, spec, harness.WithCA(ca)).Err).To(Equal(`client alice: trust "squid": no TLS-inspecting proxy of that name`))
		spec = behindProxy(squid, 443, false)
		spec.Clients[0].ProxyAuth = &middlebox.Credentials{Username: "alice"}
		Expect(harness.RunT(suiteT, spec, harness.WithCA(ca)).Err).To(Equal(`client alice: proxy credentials without a proxy`))
		spec = behindProxy(harness.ProxySpec{Name: "bob", Kind: middlebox.SOCKS5}, 443, true)
		Expect(harness.RunT(suiteT, spec, harness.WithCA(ca)).Err).To(Equal(`proxies[0]: "bob" already names a host or a LAN`))
		spec = behindProxy(harness.ProxySpec{Name: "s", Kind: middlebox.SOCKS5, Inspect: middlebox.HTTPOnly}, 443, true)
		Expect(harness.RunT(suiteT, spec, harness.WithCA(ca)).Err).To(Equal(`proxy s: TLS inspection needs an http proxy, not socks5`))
	})

	It("refuses a client without the proxy's credentials with 407, and carries one with them over TURN/TLS", func() {
		authenticating := squid
		authenticating.Users = map[string]string{"bob": "s3cret"}
		spec := behindProxy(authenticating, 443, true)
		spec.Clients[1] = harness.ClientSpec{Name: "bob", LAN: "corp", Proxy: "squid", ProxyAuth: &middlebox.Credentials{Username: "bob", Password: "s3cret"},
			Publish: harness.Publish{Audio: true, Data: true}}
		res := run(spec)
		Expect(res.Client("alice").Signalling).To(BeFalse())
		Expect(res).To(FailWithReason("407 Proxy Authentication Required").For("alice"))
		Expect(res).To(FailWithReason("proxy squid: CONNECT rtc.icelab.test:443 refused (407): no credentials").For("alice"))
		Expect(res).To(UseTransport(harness.TURNTLS).For("bob"))
		Expect(res.Client("bob").Signalling).To(BeTrue())
	})

	It("carries TURN/TCP through a SOCKS5 proxy that allows the TURN port", func() {
		spec := behindProxy(harness.ProxySpec{Name: "socks", Kind: middlebox.SOCKS5, AllowPorts: []int{443, 3478}}, 443, true)
		spec.Clients[0].ICEServers = turnServers("alice", "turn:turn.example.com:3478?transport=tcp")
		res := run(spec)
		Expect(res).To(UseTransport(harness.TURNTCP).For("alice"))
		Expect(res).To(FlowMediaToTheEnd())
	})
})

var _ = Describe("a TLS-inspecting proxy", func() {
	inspector := func(mode middlebox.Inspect) harness.ProxySpec {
		return harness.ProxySpec{Name: "inspector", Kind: middlebox.HTTPConnect, AllowPorts: []int{443}, Inspect: mode, Issuer: "Corp TLS Inspection CA"}
	}
	trusting := func(spec harness.Spec) harness.Spec {
		spec.Clients[0].Trust = []string{"inspector"}
		return spec
	}

	It("fails signalling for a client that does not trust its CA, naming the issuer", func() {
		res := run(behindProxy(inspector(middlebox.PassThrough), 443, true))
		Expect(res.Client("alice").Signalling).To(BeFalse())
		Expect(res).To(FailWithReason(`x509: certificate signed by unknown authority`).For("alice"))
		Expect(res).To(FailWithReason(`(issuer "Corp TLS Inspection CA")`).For("alice"))
		Expect(res).To(FailWithReason(`proxy inspector: TLS inspection of rtc.icelab.test: handshake with the client failed`).For("alice"))
	})

	It("passes HTTP signalling but drops TURN/TLS when it forwards only HTTP", func() {
		spec := trusting(behindProxy(inspector(middlebox.HTTPOnly), 443, true))
		// Request-per-message HTTP signalling (the harness's policies
		// other than LiveKit's): every request is HTTP.
		spec.Clients[0].Fallback.Policy = harness.NoFallback
		res := run(spec)
		Expect(res.Client("alice").Signalling).To(BeTrue())
		Expect(res).NotTo(Connect().For("alice"))
		Expect(res).To(FailWithReason("proxy inspector: TLS inspection of turn.example.com: closed a stream that is not HTTP (http-only)").For("alice"))
	})

	It("breaks LiveKit's WebSocket signalling when it forwards only HTTP", func() {
		res := run(trusting(behindProxy(inspector(middlebox.HTTPOnly), 443, true)))
		alice := res.Client("alice")
		GinkgoWriter.Printf("alice: %s\n", alice.Failure)
		Expect(alice.Signalling).To(BeFalse())
		Expect(res).NotTo(Connect().For("alice"))
		Expect(res).To(FailWithReason("TLS inspection of rtc.icelab.test: closed a stream that is not HTTP (http-only)").For("alice"))
	})

	It("carries signalling and TURN/TLS when it passes non-HTTP bytes through", func() {
		res := run(trusting(behindProxy(inspector(middlebox.PassThrough), 443, true)))
		Expect(res).To(UseTransport(harness.TURNTLS).For("alice"))
		Expect(res).To(FlowMediaToTheEnd())
	})
})
