package audit_test

import (
	"time"

	"github.com/icelab/icelab/archetypes"
	"github.com/icelab/icelab/audit"
	"github.com/icelab/icelab/harness"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("auditing an office behind a web proxy", func() {
	It("reaches it over TURN/TLS through the proxy on 443, and names moving TURN/TLS to a load balancer on 5349 a regression: LiveKit hands out 443", func() {
		audited := func(cfg string) audit.Matrix {
			d, err := audit.LoadDeployment("../deployments/"+cfg, audit.Options{CA: testCA})
			Expect(err).NotTo(HaveOccurred())
			return audit.Run(audit.TestRunner{T: suiteT}, d, audit.Config{
				Archetypes: []archetypes.Network{archetypes.WebProxyOnly()}, Profiles: []archetypes.Profile{archetypes.Pion()},
				Duration: 35 * time.Second, Options: []harness.Option{harness.WithCA(testCA)},
			})
		}
		single, dedicated := audited("single-domain-443.yaml"), audited("dedicated-5349.yaml")
		c := single.Cell("web-proxy-only", "pion")
		Expect(c.Transport).To(Equal(harness.TURNTLS), c.Reason)
		Expect(c.MediaBothWays).To(BeTrue())
		regressions := audit.Regressions(audit.Diff(single, dedicated))
		Expect(regressions).To(HaveLen(1))
		Expect(regressions[0].New.Cause).To(Equal("nothing serves TURN/TLS on turn.example.com:443, where LiveKit sends clients (tls_port 5349)"))
		Expect(regressions[0].New.Reason).To(ContainSubstring("LiveKit hands out turns:turn.example.com:443 whatever turn.tls_port is (5349 here, and the load balancer listens on 5349)"))
	})
})
