package audit_test

import (
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/icelab/icelab/archetypes"
	"github.com/icelab/icelab/audit"
	"github.com/icelab/icelab/harness"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The suite audits the shipped set-ups, but only the cells each
// acceptance criterion is about, so that it costs `make test` about as
// much as one real-clock call (the real-clock cells run side by side):
//
//   - corporate-443-only × pion on single-domain-443 and on dedicated-5349
//     (the diff; re-running changed cells to confirm them is
//     TestConfirmation's, and cmd/icelab's TestAuditBaseline does it for
//     real: a confirmation round here would double the suite's time);
//   - corporate-turn-allowed × pion on single-domain-443 and on the same
//     with turn.udp_port: 0 (no TURN/UDP);
//   - vpn-udp-blocked × browser on tls-5349 behind the minimum and the
//     maximum-compatibility firewall rules;
//   - corporate-443-only × pion with no certificate and with an expired one;
//   - home-router × pion on a node behind 1:1 NAT with use_external_ip false,
//     and true as the control.
//
// The whole matrix is `icelab audit`'s, tested in cmd/icelab.

var _ = Describe("auditing the shipped deployments", Ordered, func() {
	const dir = "../deployments"
	var (
		single, dedicated, minimum, maxCompat, noCert, expired, internalIP, externalIP audit.Matrix
		turnUDP, noTURNUDP                                                             audit.Matrix
	)
	BeforeAll(func() {
		tmp := GinkgoT().TempDir()
		corp := []archetypes.Network{archetypes.Corporate443Only()}
		vpn := []archetypes.Network{archetypes.CorporateUDPBlocked()}
		home := []archetypes.Network{archetypes.HomeRouter()}
		browser := []archetypes.Profile{archetypes.Browser()}
		pion := []archetypes.Profile{archetypes.Pion()}

		// An expired certificate from an authority the clients would
		// trust, with its chain.
		leaf, err := testCA.Expired("meet.example.com", time.Now())
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(filepath.Join(tmp, "meet.crt"), leaf.CertPEM, 0o600)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(tmp, "meet.key"), leaf.KeyPEM, 0o600)).To(Succeed())
		write := func(name, body string) string {
			p := filepath.Join(tmp, name)
			Expect(os.WriteFile(p, []byte(body), 0o600)).To(Succeed())
			return p
		}
		expiredCfg := write("expired.yaml", "turn:\n  domain: meet.example.com\n  tls_port: 443\n  cert_file: meet.crt\n  key_file: meet.key\n")
		noCertCfg := write("no-cert.yaml", "turn:\n  domain: meet.example.com\n  tls_port: 443\n")
		internalCfg := write("internal.yaml", "turn:\n  domain: turn.example.com\nrtc:\n  use_external_ip: false\n")
		externalCfg := write("external.yaml", "turn:\n  domain: turn.example.com\nrtc:\n  use_external_ip: true\n")
		cloud := write("cloud-sg.yaml", "nat: one-to-one\ninbound:\n  - tcp 443\n  - udp 3478\n  - udp 50000-60000\n")

		jobs := []struct {
			out      *audit.Matrix
			cfg, fw  string
			nets     []archetypes.Network
			profiles []archetypes.Profile
		}{
			{&single, dir + "/single-domain-443.yaml", "", corp, pion},
			{&dedicated, dir + "/dedicated-5349.yaml", "", corp, pion},
			{&turnUDP, dir + "/single-domain-443.yaml", "", []archetypes.Network{archetypes.CorporateTURNAllowed()}, pion},
			{&noTURNUDP, dir + "/single-domain-443-no-turn-udp.yaml", "", []archetypes.Network{archetypes.CorporateTURNAllowed()}, pion},
			{&maxCompat, dir + "/tls-5349.yaml", dir + "/firewall-max-compat.yaml", vpn, browser},
			{&noCert, noCertCfg, "", corp, pion},
			{&expired, expiredCfg, "", corp, pion},
			{&internalIP, internalCfg, cloud, home, pion},
			{&externalIP, externalCfg, cloud, home, pion},
			{&minimum, dir + "/tls-5349.yaml", dir + "/firewall-minimum.yaml", vpn, browser},
		}
		var wg sync.WaitGroup
		for _, j := range jobs {
			d, err := audit.LoadDeployment(j.cfg, audit.Options{CA: testCA, Firewall: j.fw})
			Expect(err).NotTo(HaveOccurred(), j.cfg)
			wg.Add(1)
			go func() {
				defer wg.Done()
				*j.out = audit.Run(audit.TestRunner{T: suiteT}, d, audit.Config{
					Archetypes: j.nets, Profiles: j.profiles, Duration: 35 * time.Second, // the browser's fallback chain ends first: see audit.Config.Duration
					Options: []harness.Option{harness.WithCA(testCA)},
				})
			}()
		}
		wg.Wait()
	})

	It("reaches corporate-443-only over TURN/TLS on port 443 with a single domain", func() {
		Expect(single.Cells).NotTo(BeEmpty())
		for _, c := range single.Cells {
			p := c.Profile
			Expect(c.Archetype).To(Equal("corporate-443-only"))
			Expect(c.Transport).To(Equal(harness.TURNTLS), "%s: %s", p, c.Reason)
			Expect(c.MediaBothWays).To(BeTrue(), p)
		}
	})

	// LiveKit hands clients TURN/TLS on port 443 whatever tls_port is
	// (roommanager.go:1065): a load balancer that listens on 5349 is never
	// reached, and the reason says so.
	It("names corporate-443-only a regression (TURN/TLS → fails, LiveKit hands out 443) when TURN/TLS moves to a dedicated 5349", func() {
		Expect(dedicated).NotTo(audit.NotRegressFrom(single, audit.ConfirmRuns(0)))
		regressions := audit.Regressions(audit.Diff(single, dedicated))
		Expect(regressions).To(HaveLen(len(single.Cells)))
		for _, r := range regressions {
			Expect(r.Archetype).To(Equal("corporate-443-only"))
			Expect(r.Old.Transport).To(Equal(harness.TURNTLS))
			Expect(r.New.Works()).To(BeFalse())
			Expect(r.Why).To(Equal("TURN/TLS → fails (nothing serves TURN/TLS on turn.example.com:443, where LiveKit sends clients (tls_port 5349))"))
			Expect(r.New.Reason).To(ContainSubstring("LiveKit hands out turns:turn.example.com:443 whatever turn.tls_port is (5349 here, and the load balancer listens on 5349)"))
		}
		Expect(single).To(audit.NotRegressFrom(single))
	})

	It("shows the network that loses TURN/UDP when turn.udp_port is 0, and where it lands instead", func() {
		changes := audit.Diff(turnUDP, noTURNUDP)
		Expect(changes).To(HaveLen(1))
		Expect(changes[0].String()).To(Equal("corporate-turn-allowed/pion regressed (not confirmed): TURN/UDP → TURN/TLS"))
	})

	It("fails the VPN-like network for browsers behind the minimum firewall rules", func() {
		c := minimum.Cell("vpn-udp-blocked", "browser")
		Expect(c.Clock).To(Equal(harness.RealClock))
		Expect(c.Works()).To(BeFalse(), "connected over %s", c.Transport)
		Expect(c.Reason).To(ContainSubstring("not allowed in ../deployments/firewall-minimum.yaml"))
	})

	It("connects the VPN-like network over ICE/TCP once 7881 is open (maximum compatibility)", func() {
		c := maxCompat.Cell("vpn-udp-blocked", "browser")
		Expect(c.Transport).To(Equal(harness.ICETCP), c.Reason)
		Expect(c.MediaBothWays).To(BeTrue())
	})

	It("fails the TLS-dependent cell with a reason naming the missing certificate", func() {
		c := noCert.Cell("corporate-443-only", "pion")
		Expect(c.Works()).To(BeFalse())
		Expect(c.TLSDependent).To(BeTrue())
		Expect(c.Reason).To(ContainSubstring("turn.tls_port 443 is set but turn.cert_file is not"))
	})

	It("fails the TLS-dependent cell with a reason naming the expired certificate", func() {
		c := expired.Cell("corporate-443-only", "pion")
		Expect(c.Works()).To(BeFalse())
		Expect(c.TLSDependent).To(BeTrue())
		Expect(c.Reason).To(ContainSubstring("the certificate expired on"))
		Expect(c.Reason).To(ContainSubstring("certificate has expired"), "pion's own verdict")
	})

	It("shows 'relay candidates but srflx expected' with use_external_ip: false behind 1:1 NAT", func() {
		c := internalIP.Cell("home-router", "pion")
		Expect(c.Transport).To(Equal(harness.TURNUDP), c.Reason)
		Expect(c.Symptom).To(HavePrefix("relay candidates but srflx expected"))
		Expect(c.Symptom).To(ContainSubstring("rtc.use_external_ip is false"))
		control := externalIP.Cell("home-router", "pion")
		Expect(control.Transport).To(Equal(harness.ICEUDP), control.Reason)
		Expect(control.Symptom).To(BeEmpty())
		Expect(audit.Regressions(audit.Diff(externalIP, internalIP))).To(HaveLen(1))
	})
})
